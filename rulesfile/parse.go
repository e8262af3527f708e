// Package rulesfile owns the operators' YAML rules file (SPEC 5.4): it parses
// a file strictly into a validated rules.RuleSet, with every problem named by
// file and line, and writes a RuleSet back in the same format, byte for byte
// reproducible. It applies nothing: importing is the store's job.
//
// The format:
//
//	defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
//	groups:
//	  sales: {profile: sales, retention_days: 90}
//	  board: {profile: management, outbound: ondemand}
//	stations:
//	  "1001": {name: "Anna (sales desk)", kind: sip_phone, group: sales}
//	  "1002": {kind: mobile_app, group: sales, inbound_direct: auto, announce: true}
//
// defaults takes direction: mode pairs and announce; a group takes profile,
// retention_days, announce and direction: mode overrides; a station takes
// name, kind, group, announce, retention_days and direction: mode overrides.
// A key with an empty (null) value is the same as leaving the key out.
// Station ids may be written unquoted (1001:); they are always read as the
// text written. An empty file is an error, so that a file caught half
// written never wipes the rules: write "defaults: {}" for no rules at all.
//
// A file may also hold one tenant ("tenant: ID" at the top) or all of them
// ("tenants: {ID: {...}}"): see Form, File and docs/tenants.md.
package rulesfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"

	"github.com/recgate/recgate/rules"
)

// MaxFileSize bounds the size of a rules file, about 100 bytes per station
// for a million stations.
const MaxFileSize = 100 << 20

// maxProblems bounds how many problems one Parse reports.
const maxProblems = 50

// The keys each level of the file accepts, besides the directions.
var (
	topKeys      = []string{"defaults", "groups", "stations"}
	defaultsKeys = []string{"announce"}
	groupKeys    = []string{"profile", "announce", "retention_days"}
	stationKeys  = []string{"name", "kind", "group", "announce", "retention_days"}
)

// Parse reads a rules file and returns the rule set it describes, validated
// (ParseFile says which part of the rules that is: see File).
func Parse(r io.Reader, name string) (*rules.RuleSet, error) {
	f, err := ParseFile(r, name)
	if err != nil {
		return nil, err
	}
	return f.Rules, nil
}

// ParseFile reads a rules file, of any form, and returns what it describes,
// validated. name is the file name used in error messages. Every problem
// found (up to a cap) is reported, one per line as "name:line: message", in
// a single *rules.Error with code rules.EINVALID, so an operator can fix
// them all in one pass. A read failure gives code rules.EUNAVAILABLE. In
// the returned rule set, every ModeSet is non-nil, so it can be edited in
// place.
func ParseFile(r io.Reader, name string) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, rules.Errorf(rules.EUNAVAILABLE, "read %s: %v", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, rules.Errorf(rules.EINVALID, "%s: larger than %d bytes", name, MaxFileSize)
	}
	p := &parser{file: name}
	rs := p.document(data)
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := rs.Validate(); err != nil {
		return nil, rules.Errorf(rules.EINVALID, "%s: %v", name, err)
	}
	return &File{Form: p.form, Tenant: p.tenant, Rules: rs}, nil
}

// problem is one thing wrong in the file.
type problem struct {
	line int // 0 when the line is not known
	col  int // 0 when the column is not known
	msg  string
}

// parser collects the problems of one file while it builds the rule set.
type parser struct {
	file     string
	problems []problem
	dropped  bool // more problems than maxProblems were found

	form   Form   // the file's form, known once the top level is read
	tenant string // the tenant a Classic or OneTenant file describes
}

// errorf records a problem at n's line.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.addLine(line, fmt.Sprintf(format, args...))
}

func (p *parser) addLine(line int, msg string) { p.addPos(line, 0, msg) }

func (p *parser) addPos(line, col int, msg string) {
	if len(p.problems) >= maxProblems {
		p.dropped = true
		return
	}
	p.problems = append(p.problems, problem{line, col, msg})
}

// err returns every problem, sorted by line, as one *rules.Error.
func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].line < p.problems[j].line })
	lines := make([]string, 0, len(p.problems)+1)
	for _, pr := range p.problems {
		switch {
		case pr.line > 0 && pr.col > 0:
			lines = append(lines, fmt.Sprintf("%s:%d:%d: %s", p.file, pr.line, pr.col, pr.msg))
		case pr.line > 0:
			lines = append(lines, fmt.Sprintf("%s:%d: %s", p.file, pr.line, pr.msg))
		default:
			lines = append(lines, fmt.Sprintf("%s: %s", p.file, pr.msg))
		}
	}
	if p.dropped {
		lines = append(lines, fmt.Sprintf("%s: more than %d problems, stopped here", p.file, maxProblems))
	}
	return &rules.Error{Code: rules.EINVALID, Message: strings.Join(lines, "\n")}
}

// syntax records a YAML syntax error at the line and column an editor
// shows for it.
func (p *parser) syntax(data []byte, err error) {
	line, col, msg := SyntaxError(data, err)
	p.addPos(line, col, "invalid YAML: "+msg)
}

// yamlLine matches the line number in go.yaml.in/yaml/v3 syntax errors.
var yamlLine = regexp.MustCompile(`^line (\d+): `)

// SyntaxError describes err, a syntax error go.yaml.in/yaml/v3 returned for
// data, as an editor would: the 1-based line and column of the character
// where the file stops being YAML (0 when not known) and the message
// without its position. yaml/v3 reports the line where the enclosing
// construct began, counted from 0 for parser errors (an unclosed "{" on
// line 2 noticed on line 3 is reported as "line 1"), so the position is
// taken from a second parser, github.com/goccy/go-yaml, which reports the
// token it stopped at. yaml/v3's line is never past the problem, so when
// the other parser names an earlier line (the start of a multi-line token)
// or accepts the file (the two disagree on a few corner cases), yaml/v3's
// line is kept, without a column. The configuration loader uses it too.
//
// A decoding error (yaml.TypeError: "unmarshal errors:" and one indented
// line per problem, e.g. a key given twice) is reduced to its first
// problem, so the message stays one line.
func SyntaxError(data []byte, err error) (line, col int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	_, perr := goccyparser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if errors.As(perr, &se) && se.Token != nil && se.Token.Position != nil && se.Token.Position.Line >= line {
		line, col = se.Token.Position.Line, se.Token.Position.Column
	}
	return line, col, msg
}

// document parses the whole file. The returned rule set is meaningful only
// when no problem was recorded.
func (p *parser) document(data []byte) *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults.Modes = rules.ModeSet{}
	rs.Tenants[rules.DefaultTenant].Modes = rules.ModeSet{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addLine(0, `the file has no rules (write "defaults: {}" for an empty rule set)`)
		} else {
			p.syntax(data, err)
		}
		return rs
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.errorf(&next, "more than one YAML document (only one is allowed)")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(data, err)
	}
	if len(doc.Content) != 1 {
		p.errorf(&doc, "expected one YAML document")
		return rs
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		p.errorf(root, `the file has no rules (write "defaults: {}" for an empty rule set)`)
		return rs
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "expected a mapping with the keys %s, got %s", strings.Join(topKeys, ", "), describe(root))
		return rs
	}

	var defaults, groups, stations *yaml.Node
	var tenantPairs []pair // tenant:, tenants: and a tenant's settings (tenants.go)
	p.tenant = rules.DefaultTenant
	p.eachPair(root, "", "key", func(key string, k, v *yaml.Node) {
		switch key {
		case "defaults":
			defaults = v
		case "groups":
			groups = v
		case "stations":
			stations = v
		default:
			if isAllowed(key, topTenantKeys) {
				tenantPairs = append(tenantPairs, pair{key, k, v})
				return
			}
			p.errorf(k, "unknown key %q (valid: %s)", key, strings.Join(topKeys, ", ")+", tenant, tenants")
		}
	})
	if len(tenantPairs) > 0 {
		p.tenantDocument(rs, defaults, groups, stations, tenantPairs)
		return rs
	}
	// Groups first: stations refer to them wherever they are in the file.
	if defaults != nil {
		p.defaults(defaults, &rs.Defaults)
	}
	declared := map[string]bool{}
	if groups != nil {
		p.groups(groups, rs, declared)
	}
	if stations != nil {
		p.stations(stations, rs, declared)
	}
	return rs
}

func (p *parser) defaults(n *yaml.Node, d *rules.Defaults) {
	e := p.entry(n, "defaults: ", defaultsKeys)
	d.Modes = e.modes
	if e.announce != nil {
		d.Announce = *e.announce
	}
}

func (p *parser) groups(n *yaml.Node, rs *rules.RuleSet, declared map[string]bool) {
	m := p.section(n, "groups", "group names")
	if m == nil {
		return
	}
	p.eachPair(m, "", "group", func(name string, k, v *yaml.Node) {
		declared[name] = true
		if err := rules.ValidateGroupName(name); err != nil {
			p.errorf(k, "%v", err)
			return
		}
		e := p.entry(v, fmt.Sprintf("group %q: ", name), groupKeys)
		if e.profile != "" {
			if _, ok := rules.LookupProfile(e.profile); !ok {
				p.errorf(e.profileNode, "group %q: unknown profile %q (valid: %s)",
					name, e.profile, strings.Join(rules.ProfileNames(), ", "))
			}
		}
		rs.Groups(rules.DefaultTenant)[name] = &rules.Group{
			Name:          name,
			Profile:       e.profile,
			Announce:      e.announce,
			RetentionDays: e.retention,
			Modes:         e.modes,
		}
	})
}

func (p *parser) stations(n *yaml.Node, rs *rules.RuleSet, declared map[string]bool) {
	m := p.section(n, "stations", "station ids")
	if m == nil {
		return
	}
	p.eachPair(m, "", "station", func(id string, k, v *yaml.Node) {
		if err := rules.ValidateStationID(id); err != nil {
			p.errorf(k, "%v", err)
			return
		}
		prefix := fmt.Sprintf("station %q: ", id)
		e := p.entry(v, prefix, stationKeys)
		if e.group != "" {
			if err := rules.ValidateGroupName(e.group); err != nil {
				p.errorf(e.groupNode, "%s%v", prefix, err)
			} else if !declared[e.group] {
				p.errorf(e.groupNode, "%sunknown group %q (%s)", prefix, e.group, definedGroups(declared))
			}
		}
		rs.Stations[id] = &rules.Station{
			ID:            id,
			Name:          e.name,
			Kind:          rules.Kind(e.kind),
			Group:         e.group,
			Announce:      e.announce,
			RetentionDays: e.retention,
			Modes:         e.modes,
		}
	})
}

func definedGroups(declared map[string]bool) string {
	if len(declared) == 0 {
		return "no groups are defined"
	}
	names := make([]string, 0, len(declared))
	for name := range declared {
		names = append(names, name)
	}
	sort.Strings(names)
	return "defined groups: " + strings.Join(names, ", ")
}

// section returns the mapping under a top-level key, nil when it is empty
// or not a mapping (which is recorded).
func (p *parser) section(n *yaml.Node, key, keysAre string) *yaml.Node {
	m := deref(n)
	switch {
	case isNull(m):
		return nil
	case m.Kind != yaml.MappingNode:
		p.errorf(n, "%s: expected a mapping of %s to settings, got %s", key, keysAre, describe(m))
		return nil
	}
	return m
}

// entry is what one defaults, group or station mapping sets.
type entry struct {
	name, kind, group, profile string
	groupNode, profileNode     *yaml.Node
	announce                   *bool
	retention                  *int
	modes                      rules.ModeSet
}

// entry reads one settings mapping: the keys in allowed plus the
// directions. prefix starts every message, e.g. `station "1001": `.
func (p *parser) entry(n *yaml.Node, prefix string, allowed []string) entry {
	e := entry{modes: rules.ModeSet{}}
	m := deref(n)
	if isNull(m) {
		return e
	}
	if m.Kind != yaml.MappingNode {
		p.errorf(n, "%sexpected a mapping of settings, got %s", prefix, describe(m))
		return e
	}
	p.eachPair(m, prefix, "key", func(key string, k, v *yaml.Node) {
		val := deref(v)
		if isNull(val) {
			if !isAllowed(key, allowed) && !isDirection(key) {
				p.unknownKey(prefix, key, k, val, allowed)
			}
			return
		}
		if isDirection(key) {
			p.mode(prefix, key, v, val, e.modes)
			return
		}
		if !isAllowed(key, allowed) {
			p.unknownKey(prefix, key, k, val, allowed)
			return
		}
		switch key {
		case "name":
			if s, ok := p.text(prefix, key, v, val); ok {
				if err := rules.ValidateText(key, s); err != nil {
					p.errorf(v, "%s%v", prefix, err)
				} else {
					e.name = s
				}
			}
		case "kind":
			if s, ok := p.text(prefix, key, v, val); ok {
				if _, err := rules.ParseKind(s); err != nil {
					p.errorf(v, "%sinvalid kind %q (valid: %s)", prefix, s, join(rules.AllKinds()))
				} else {
					e.kind = s
				}
			}
		case "group":
			if s, ok := p.text(prefix, key, v, val); ok {
				e.group, e.groupNode = s, v
			}
		case "profile":
			if s, ok := p.text(prefix, key, v, val); ok {
				e.profile, e.profileNode = s, v
			}
		case "announce":
			e.announce = p.announce(prefix, v, val)
		case "retention_days":
			e.retention = p.retention(prefix, v, val)
		}
	})
	return e
}

// unknownKey records a key the entry does not take. A key whose value is a
// valid mode was most likely meant as a direction, and is reported as such.
func (p *parser) unknownKey(prefix, key string, k, val *yaml.Node, allowed []string) {
	if val.Kind == yaml.ScalarNode {
		if _, err := rules.ParseMode(val.Value); err == nil {
			p.errorf(k, "%sinvalid direction %q (valid: %s)", prefix, key, join(rules.AllDirections()))
			return
		}
	}
	valid := append(append([]string(nil), allowed...), rules.Names(rules.AllDirections())...)
	p.errorf(k, "%sunknown key %q (valid: %s)", prefix, key, strings.Join(valid, ", "))
}

func (p *parser) mode(prefix, dir string, v, val *yaml.Node, modes rules.ModeSet) {
	if val.Kind != yaml.ScalarNode {
		p.errorf(v, "%sinvalid mode for %s: expected one of %s, got %s", prefix, dir, join(rules.AllModes()), describe(val))
		return
	}
	m, err := rules.ParseMode(val.Value)
	if err != nil {
		p.errorf(v, "%sinvalid mode %q for %s (valid: %s)", prefix, val.Value, dir, join(rules.AllModes()))
		return
	}
	modes[rules.Direction(dir)] = m
}

func (p *parser) text(prefix, key string, v, val *yaml.Node) (string, bool) {
	if val.Kind != yaml.ScalarNode {
		p.errorf(v, "%s%s: expected text, got %s", prefix, key, describe(val))
		return "", false
	}
	return val.Value, true
}

func (p *parser) announce(prefix string, v, val *yaml.Node) *bool {
	if val.Kind == yaml.ScalarNode {
		var b bool
		switch strings.ToLower(val.Value) {
		case "true", "yes":
			b = true
			return &b
		case "false", "no":
			return &b
		}
	}
	if val.Kind != yaml.ScalarNode {
		p.errorf(v, "%sannounce: expected true, false, yes or no, got %s", prefix, describe(val))
		return nil
	}
	p.errorf(v, "%sinvalid announce value %q (valid: true, false, yes, no)", prefix, val.Value)
	return nil
}

func (p *parser) retention(prefix string, v, val *yaml.Node) *int {
	if val.Kind == yaml.ScalarNode {
		if days, err := strconv.Atoi(val.Value); err == nil && days >= 0 {
			return &days
		}
	}
	if val.Kind != yaml.ScalarNode {
		p.errorf(v, "%sretention_days: expected a whole number of days, got %s", prefix, describe(val))
		return nil
	}
	p.errorf(v, "%sinvalid retention_days %q (valid: a whole number of days, 0 or more)", prefix, val.Value)
	return nil
}

// eachPair calls fn for every key of mapping m in file order. Keys must be
// plain scalars and unique; noun names what a key is in messages
// ("station", "group", "key").
func (p *parser) eachPair(m *yaml.Node, prefix, noun string, fn func(key string, k, v *yaml.Node)) {
	seen := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		dk := deref(k)
		if dk.Kind != yaml.ScalarNode {
			p.errorf(k, "%s%s must be plain text, got %s", prefix, noun, describe(dk))
			continue
		}
		key := dk.Value
		if first, dup := seen[key]; dup {
			p.errorf(k, "%sduplicate %s %q (first at line %d)", prefix, noun, key, first)
			continue
		}
		seen[key] = k.Line
		fn(key, k, v)
	}
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the shape of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func isAllowed(key string, allowed []string) bool {
	for _, a := range allowed {
		if a == key {
			return true
		}
	}
	return false
}

func isDirection(key string) bool {
	_, err := rules.ParseDirection(key)
	return err == nil
}

func join[T ~string](vs []T) string { return strings.Join(rules.Names(vs), ", ") }
