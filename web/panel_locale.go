package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The panel's languages: one message catalog per language
// (panel/locale/LANG.json), every string the panel shows. A message is a
// string (a fmt format) or, for one that counts, an object of CLDR plural
// forms ("one", "few", "many", "other") chosen by the language's plural
// rule below.

//go:embed panel/locale/*.json
var localeFS embed.FS

// panelLanguages are the panel's languages; the first is the fallback.
var panelLanguages = []language.Tag{language.English, language.Polish}

// catalog is one language's messages.
type catalog struct {
	lang    string
	tag     language.Tag
	plural  func(n int) string
	strings map[string]string
	plurals map[string]map[string]string
	numbers *message.Printer
}

// catalogs are the parsed catalogs by language code ("en", "pl").
type catalogs map[string]*catalog

// pluralRules are the CLDR cardinal rules for integers of each language.
var pluralRules = map[string]func(n int) string{
	"en": func(n int) string {
		if n == 1 {
			return "one"
		}
		return "other"
	},
	"pl": func(n int) string {
		switch {
		case n == 1:
			return "one"
		case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
			return "few"
		}
		return "many"
	},
}

// pluralForms are the forms a plural message must have in each language.
var pluralForms = map[string][]string{"en": {"one", "other"}, "pl": {"one", "few", "many"}}

// loadCatalogs parses the embedded catalogs and checks that every language
// has exactly the keys of the first one, and every plural message the
// forms its language needs.
func loadCatalogs() (catalogs, error) {
	out := catalogs{}
	var first *catalog
	for _, tag := range panelLanguages {
		base, _ := tag.Base()
		lang := base.String()
		data, err := fs.ReadFile(localeFS, path.Join("panel/locale", lang+".json"))
		if err != nil {
			return nil, fmt.Errorf("panel locale %s: %w", lang, err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("panel locale %s: %w", lang, err)
		}
		c := &catalog{lang: lang, tag: tag, plural: pluralRules[lang], strings: map[string]string{},
			plurals: map[string]map[string]string{}, numbers: message.NewPrinter(tag)}
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				c.strings[k] = s
				continue
			}
			var forms map[string]string
			if err := json.Unmarshal(v, &forms); err != nil {
				return nil, fmt.Errorf("panel locale %s: %s: a string or an object of plural forms", lang, k)
			}
			for _, f := range pluralForms[lang] {
				if forms[f] == "" {
					return nil, fmt.Errorf("panel locale %s: %s: plural form %q missing", lang, k, f)
				}
			}
			c.plurals[k] = forms
		}
		if first != nil {
			if err := sameKeys(first, c); err != nil {
				return nil, err
			}
		} else {
			first = c
		}
		out[lang] = c
	}
	return out, nil
}

func sameKeys(a, b *catalog) error {
	for _, pair := range [][2]*catalog{{a, b}, {b, a}} {
		for k := range pair[0].strings {
			if _, ok := pair[1].strings[k]; !ok {
				return fmt.Errorf("panel locale %s: message %q missing (it is in %s)", pair[1].lang, k, pair[0].lang)
			}
		}
		for k := range pair[0].plurals {
			if _, ok := pair[1].plurals[k]; !ok {
				return fmt.Errorf("panel locale %s: plural message %q missing (it is in %s)", pair[1].lang, k, pair[0].lang)
			}
		}
	}
	return nil
}

var languageMatcher = language.NewMatcher(panelLanguages)

// pick returns the catalog for a language cookie's value and an
// Accept-Language header: the cookie when it names a language of the
// panel, else the best match of the header, else English.
func (cs catalogs) pick(cookie, acceptLanguage string) *catalog {
	if c := cs[cookie]; c != nil {
		return c
	}
	tag, _ := language.MatchStrings(languageMatcher, acceptLanguage)
	base, _ := tag.Base()
	if c := cs[base.String()]; c != nil {
		return c
	}
	return cs["en"]
}

// T returns the message key formatted with args; a missing key shows as
// [[key]] (tests look for it).
func (c *catalog) T(key string, args ...any) string {
	s, ok := c.strings[key]
	if !ok {
		return "[[" + key + "]]"
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// N returns the plural message key for n, formatted with n (as the
// language writes numbers) and args.
func (c *catalog) N(key string, n int, args ...any) string {
	forms, ok := c.plurals[key]
	if !ok {
		return "[[" + key + "]]"
	}
	s := forms[c.plural(n)]
	if s == "" {
		s = forms["other"]
	}
	return fmt.Sprintf(s, append([]any{c.Number(n)}, args...)...)
}

// Number is n as the language writes it: 12,345 in English, 12 345 in
// Polish.
func (c *catalog) Number(n int) string { return c.numbers.Sprintf("%d", n) }

// Time is t in loc, written as the language writes dates and times (the
// layout is the catalog's format.datetime).
func (c *catalog) Time(t time.Time, loc *time.Location) string {
	return t.In(loc).Format(c.T("format.datetime"))
}

// Duration is d as m:ss (h:mm:ss from an hour).
func (c *catalog) Duration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// hasKey reports whether the catalog has a message key (plain or plural).
func (c *catalog) hasKey(key string) bool {
	_, ok := c.strings[key]
	_, okp := c.plurals[key]
	return ok || okp
}

// keyOr is T(key) when the catalog has key, else fallback (a value from
// outside the catalog, e.g. an unknown mode name).
func (c *catalog) keyOr(key, fallback string) string {
	if c.hasKey(key) {
		return c.T(key)
	}
	return strings.TrimSpace(fallback)
}
