package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// The customer panel (SPEC 10): server-rendered pages on the API's
// listener, in Polish and English, working without JavaScript. Its
// handlers call the same store methods and the same API handlers as the
// JSON API, with the same principal in the context, so a rule is checked
// once for both.

//go:embed panel/templates/*.html
var panelTemplateFS embed.FS

//go:embed panel/static
var panelStaticFS embed.FS

// panelCSP is the panel's Content-Security-Policy: its own styles,
// script, images and the recordings' audio; no inline script, no framing,
// forms posted only to itself.
const panelCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// langCookie remembers the language chosen on the panel.
const langCookie = "recgate_lang"

// maxFormBytes bounds a panel form's body.
const maxFormBytes = 64 << 10

// panel is the panel's parsed templates and catalogs.
type panel struct {
	pages    map[string]*template.Template
	catalogs catalogs
}

// pageRequest is what a panel handler gets: the request, who makes it,
// in which tenant and language.
type pageRequest struct {
	w      http.ResponseWriter
	r      *http.Request
	p      *auth.Principal // nil on public pages
	tenant string          // "" outside /t/{tenant}/
	lang   *catalog
	pn     *panel
	loc    *time.Location // the tenant's time zone
}

func (pr *pageRequest) ctx() context.Context { return pr.r.Context() }

type panelHandler func(s *Server, pr *pageRequest) error

// newPanel parses the embedded templates and catalogs.
func newPanel() (*panel, error) {
	cs, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"list": func(v ...string) []string { return v }}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(panelTemplateFS, "panel/templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("panel templates: %w", err)
	}
	names, err := fs.Glob(panelTemplateFS, "panel/templates/*.html")
	if err != nil {
		return nil, err
	}
	pn := &panel{pages: map[string]*template.Template{}, catalogs: cs}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(panelTemplateFS, n)
		if err != nil {
			return nil, fmt.Errorf("panel templates: %w", err)
		}
		pn.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pn, nil
}

// mountPanel adds the panel's routes to mux.
func (s *Server) mountPanel(mux *http.ServeMux) {
	pn, err := newPanel()
	if err != nil {
		// The templates and catalogs are embedded: a broken one is a
		// bug caught by every test, never a runtime condition.
		panic(err)
	}
	static, _ := fs.Sub(panelStaticFS, "panel/static")
	files := http.FileServerFS(static)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Security-Policy", panelCSP)
		files.ServeHTTP(w, r)
	})))
	for _, rt := range panelRoutes() {
		mux.Handle(rt.pattern, s.panelPage(pn, rt))
	}
}

// panelRoute is one page or form of the panel and who may use it (the
// access levels of the API's routes).
type panelRoute struct {
	pattern string
	access  Access
	handler panelHandler
}

// panelRoutes is the panel's route table.
func panelRoutes() []panelRoute {
	return []panelRoute{
		{"GET /{$}", Public, (*Server).panelHome},
		{"GET /login", Public, (*Server).panelLoginForm},
		{"POST /login", Public, (*Server).panelLogin},
		{"POST /logout", Public, (*Server).panelLogout},
		{"POST /lang", Public, (*Server).panelLanguage},
		{"GET /tenants", Anyone, (*Server).panelTenants},
		{"GET /t/{tenant}/{$}", Recordings, (*Server).panelTenantHome},
		{"GET /t/{tenant}/phones", Reader, (*Server).panelPhones},
		{"GET /t/{tenant}/phones/{id}", Reader, (*Server).panelPhone},
		{"POST /t/{tenant}/phones/{id}", RuleWriter, (*Server).panelPhoneSave},
		{"GET /t/{tenant}/groups", Reader, (*Server).panelGroups},
		{"POST /t/{tenant}/groups", RuleWriter, (*Server).panelGroupCreate},
		{"POST /t/{tenant}/groups/{name}", RuleWriter, (*Server).panelGroupSave},
		{"GET /t/{tenant}/recordings", Recordings, (*Server).panelRecordings},
		{"GET /t/{tenant}/recordings/{id}", Recordings, (*Server).panelRecording},
		{"POST /t/{tenant}/recordings/{id}/delete", Writer, (*Server).panelRecordingDelete},
		{"POST /t/{tenant}/recordings/{id}/hold", Writer, (*Server).panelRecordingHold},
		{"POST /t/{tenant}/recordings/{id}/release", Writer, (*Server).panelRecordingRelease},
		{"GET /t/{tenant}/subject", Reader, (*Server).panelSubject},
		{"GET /t/{tenant}/subject/export", Reader, (*Server).panelSubjectExport},
		{"POST /t/{tenant}/subject/erase", Writer, (*Server).panelSubjectErase},
		{"GET /t/{tenant}/audit", Reader, (*Server).panelAudit},
		{"GET /t/{tenant}/access", Reader, (*Server).panelAccess},
		{"GET /t/{tenant}/users", Reader, (*Server).panelUsers},
		{"POST /t/{tenant}/users", Writer, (*Server).panelUserCreate},
		{"POST /t/{tenant}/users/{login}", Writer, (*Server).panelUserChange},
		{"POST /t/{tenant}/tokens", Writer, (*Server).panelTokenCreate},
		{"POST /t/{tenant}/tokens/{id}/revoke", Writer, (*Server).panelTokenRevoke},
	}
}

// panelPage wraps a panel handler: the panel's headers, the language, the
// principal (a login session or token; none sends a browser to the login
// page), the tenant (another tenant's is 404, like one that does not
// exist) and the route's access level (403 when the role may not).
func (s *Server) panelPage(pn *panel, rt panelRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", panelCSP)
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Vary", "Cookie, Accept-Language")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		pr := &pageRequest{w: w, r: r, pn: pn, loc: time.UTC}
		langValue := ""
		if c, err := r.Cookie(langCookie); err == nil {
			langValue = c.Value
		}
		pr.lang = pn.catalogs.pick(langValue, r.Header.Get("Accept-Language"))
		// Public pages know who is logged in too (the start page sends
		// them on), but do not need anyone.
		p, status, _ := s.authenticate(r)
		switch {
		case p != nil:
			pr.p = p
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
			pr.r = r
		case rt.access == Public:
		case status == http.StatusUnauthorized && r.Method == http.MethodGet:
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		default:
			s.panelError(pr, &panelErr{status: status, key: "error.login_again"})
			return
		}
		if strings.Contains(rt.pattern, "{tenant}") {
			tenant := r.PathValue("tenant")
			var t *rules.Tenant
			var err error
			if pr.p.SeesTenant(tenant) {
				t, err = s.store.Tenant(r.Context(), tenant)
			}
			switch {
			case t == nil && (err == nil || rules.ErrorCode(err) == rules.ENOTFOUND):
				s.panelError(pr, &panelErr{status: http.StatusNotFound, key: "error.not_found"})
				return
			case err != nil:
				s.panelError(pr, err)
				return
			}
			pr.tenant, pr.loc = tenant, tenantLocation(t)
		}
		if rt.access != Public {
			if msg := denied(pr.p, rt.access); msg != "" {
				s.panelError(pr, &panelErr{status: http.StatusForbidden, key: "error.forbidden"})
				return
			}
			if rt.access == RuleWriter && s.cfg.RulesFile != "" {
				s.panelError(pr, &panelErr{status: http.StatusConflict, key: "error.rules_file", args: []any{s.cfg.RulesFile}})
				return
			}
		}
		if err := rt.handler(s, pr); err != nil {
			s.panelError(pr, err)
		}
	})
}

// panelErr is an error page: a status and a catalog message.
type panelErr struct {
	status int
	key    string
	args   []any
	detail string // from the domain or the API handler (English), shown under the message
}

// Error implements error.
func (e *panelErr) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.key, e.detail) }

// panelError renders err as an error page: a panelErr as is; a status
// error of the API handlers with its status and detail; a rules.Error by
// code; anything else as a logged 500.
func (s *Server) panelError(pr *pageRequest, err error) {
	var pe *panelErr
	if !errors.As(err, &pe) {
		pe = s.panelErrOf(pr.ctx(), err)
	}
	if pe.key == "" {
		pe.key = "error.status." + strconv.Itoa(pe.status)
		if !pr.lang.hasKey(pe.key) {
			pe.key = "error.failed"
		}
	}
	s.render(pr, pe.status, "error", map[string]any{"Status": pe.status, "Message": pr.lang.T(pe.key, pe.args...), "Detail": pe.detail})
}

func (s *Server) panelErrOf(ctx context.Context, err error) *panelErr {
	var se huma.StatusError
	if !errors.As(err, &se) {
		err = s.fail(ctx, err)
	}
	if errors.As(err, &se) {
		detail := se.Error()
		if m, ok := se.(*huma.ErrorModel); ok {
			detail = m.Detail
		}
		return &panelErr{status: se.GetStatus(), detail: detail}
	}
	return &panelErr{status: http.StatusInternalServerError, key: "error.failed"}
}

// view is what every template gets: its data and the request's
// language, principal and tenant, with the helpers templates call.
type view struct {
	pr   *pageRequest
	Data any
	Page string
}

// T is a catalog message.
func (v *view) T(key string, args ...any) string { return v.pr.lang.T(key, args...) }

// N is a catalog plural message for n.
func (v *view) N(key string, n int, args ...any) string { return v.pr.lang.N(key, n, args...) }

// Num is n as the language writes it.
func (v *view) Num(n int) string { return v.pr.lang.Number(n) }

// Lang is the page's language code.
func (v *view) Lang() string { return v.pr.lang.lang }

// When is a time in the tenant's time zone, "" for none.
func (v *view) When(t *time.Time) string {
	if t == nil {
		return ""
	}
	return v.pr.lang.Time(*t, v.pr.loc)
}

// At is When for a time value.
func (v *view) At(t time.Time) string { return v.pr.lang.Time(t, v.pr.loc) }

// Zone is the tenant's time zone's name.
func (v *view) Zone() string { return v.pr.loc.String() }

// Me is who is logged in (nil on public pages).
func (v *view) Me() *auth.Principal { return v.pr.p }

// Tenant is the tenant of the page ("" outside one).
func (v *view) Tenant() string { return v.pr.tenant }

// Base is the tenant's panel prefix: /t/ID.
func (v *view) Base() string { return "/t/" + url.PathEscape(v.pr.tenant) }

// Path is the request's path and query, for the language switch to come
// back to.
func (v *view) Path() string { return v.pr.r.URL.RequestURI() }

// Writes reports whether the principal may change rules, users and
// recordings (not a listener).
func (v *view) Writes() bool { return v.pr.p != nil && v.pr.p.Writes() }

// Inert returns s with every character that is not printable (control
// characters, bidirectional overrides) shown as its escape, so caller data
// cannot rearrange or hide the page's text; html/template escapes markup.
func (v *view) Inert(s string) string { return inert(s) }

func inert(s string) string {
	ok := true
	for _, r := range s {
		if !printable(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if printable(r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\u%04X`, r)
		}
	}
	return b.String()
}

func printable(r rune) bool {
	return unicode.IsPrint(r) && !unicode.Is(unicode.Bidi_Control, r)
}

// Mode is a mode's name in the language.
func (v *view) Mode(m string) string { return v.pr.lang.keyOr("mode."+m, m) }

// Direction is a direction's name in the language.
func (v *view) Direction(d string) string {
	if d == "" {
		return v.T("direction.unknown")
	}
	return v.pr.lang.keyOr("direction."+d, d)
}

// Source says, in the language, which rule decided ("station:1001",
// "group:sales", "tenant:acme", "default").
func (v *view) Source(rule string) string {
	kind, name, _ := strings.Cut(rule, ":")
	switch kind {
	case "station":
		return v.T("source.station")
	case "group":
		return v.T("source.group", inert(name))
	case "tenant":
		return v.T("source.tenant")
	case "default":
		return v.T("source.default")
	}
	return v.T("source.off")
}

// render executes page with data, status code status.
func (s *Server) render(pr *pageRequest, status int, page string, data any) {
	t := pr.pn.pages[page]
	if t == nil {
		http.Error(pr.w, "unknown page "+page, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", &view{pr: pr, Data: data, Page: page}); err != nil {
		s.log.ErrorContext(pr.ctx(), "panel: render", "page", page, "err", err)
		http.Error(pr.w, "internal error (logged on the server)", http.StatusInternalServerError)
		return
	}
	pr.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pr.w.Header().Set("Content-Language", pr.lang.lang)
	pr.w.WriteHeader(status)
	pr.w.Write(buf.Bytes())
}

// redirect answers a form with 303 See Other to target (post, redirect,
// get: reloading the result does not resend the form).
func (pr *pageRequest) redirect(target string) error {
	http.Redirect(pr.w, pr.r, target, http.StatusSeeOther)
	return nil
}

// base is the tenant's panel prefix.
func (pr *pageRequest) base() string { return "/t/" + url.PathEscape(pr.tenant) }

// form parses the posted form; a body over maxFormBytes is a 413.
func (pr *pageRequest) form() error {
	if err := pr.r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &panelErr{status: http.StatusRequestEntityTooLarge, key: "error.too_large"}
		}
		return &panelErr{status: http.StatusBadRequest, key: "error.bad_form"}
	}
	return nil
}

// choice returns the form value name when it is one of valid, else a 422.
func (pr *pageRequest) choice(name string, valid ...string) (string, error) {
	v := pr.r.PostForm.Get(name)
	for _, ok := range valid {
		if v == ok {
			return v, nil
		}
	}
	return "", &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_value", args: []any{name}}
}

// localPath returns next when it is a path on this site ("/..."), else
// fallback: a redirect never leads off the panel.
func localPath(next, fallback string) string {
	if strings.HasPrefix(next, "/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return fallback
}

// tenantLocation is the time zone people of t read times in (UTC when it
// cannot be loaded, which validation prevents).
func tenantLocation(t *rules.Tenant) *time.Location {
	if loc, err := t.Location(); err == nil {
		return loc
	}
	return time.UTC
}
