package rulesfile

import (
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/recgate/recgate/rules"
	"go.yaml.in/yaml/v3"
)

// flowWidth is the longest entry line written in flow style ({a: b, …});
// longer entries are written one key per line.
const flowWidth = 100

// Write writes rs in the rules file format, deterministically: defaults,
// then groups and stations sorted by name; within an entry name, kind,
// group, profile, announce, retention_days and then the directions in
// rules.AllDirections order. Station ids are always quoted so that they
// stay text for any YAML reader. Parse(Write(rs)) equals rs, and writing
// what was parsed gives the same bytes. An invalid rs is not written.
//
// A rule set that only the classic form can hold (the default tenant
// alone, with no settings of its own) is written in the classic form,
// exactly as before tenants; any other in the AllTenants form (see
// WriteTenant for one tenant's file).
func Write(w io.Writer, rs *rules.RuleSet) error {
	if err := rs.Validate(); err != nil {
		return fmt.Errorf("write rules: %w", rules.Errorf(rules.EINVALID, "%v", err))
	}
	root := mapping(yaml.Style(0))
	addPair(root, str("defaults"), defaultsNode(rs.Defaults))
	if isClassic(rs) {
		addPair(root, str("groups"), emptyAsFlow(groupsNode(rs.Groups(rules.DefaultTenant))))
		addPair(root, str("stations"), emptyAsFlow(stationsNode(rs, rs.StationIDs())))
	} else {
		tenants := mapping(yaml.Style(0))
		for _, id := range rs.TenantIDs() {
			addPair(tenants, str(id), tenantNode(rs, id))
		}
		addPair(root, str("tenants"), tenants)
	}
	return writeRoot(w, root)
}

// writeRoot encodes root and writes it in one Write.
func writeRoot(w io.Writer, root *yaml.Node) error {
	var buf bytes.Buffer
	if err := encode(&buf, root); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	return nil
}

// defaultsNode is the global defaults entry.
func defaultsNode(d rules.Defaults) *yaml.Node {
	var announce *bool
	if d.Announce {
		announce = &d.Announce
	}
	return entryNode(nil, []field{{"announce", boolPtr(announce)}}, d.Modes)
}

// groupsNode is the mapping of groups, sorted by name.
func groupsNode(groups map[string]*rules.Group) *yaml.Node {
	m := mapping(yaml.Style(0))
	for _, name := range sortedNames(groups) {
		g := groups[name]
		e := entryNode(nil, []field{
			{"profile", str(g.Profile)},
			{"announce", boolPtr(g.Announce)},
			{"retention_days", intPtr(g.RetentionDays)},
		}, g.Modes)
		addPair(m, str(name), e)
	}
	return m
}

// stationsNode is the mapping of the stations ids, in that order.
func stationsNode(rs *rules.RuleSet, ids []string) *yaml.Node {
	m := mapping(yaml.Style(0))
	for _, id := range ids {
		s := rs.Stations[id]
		key := str(id)
		key.Style = yaml.DoubleQuotedStyle
		e := entryNode(key, []field{
			{"name", quotedStr(s.Name)},
			{"kind", str(string(s.Kind))},
			{"group", str(s.Group)},
			{"announce", boolPtr(s.Announce)},
			{"retention_days", intPtr(s.RetentionDays)},
		}, s.Modes)
		addPair(m, key, e)
	}
	return m
}

// field is one optional key of an entry; a nil value is left out.
type field struct {
	key   string
	value *yaml.Node
}

// entryNode builds the mapping of one defaults, group or station entry, in
// flow style when it fits on a line of flowWidth.
func entryNode(key *yaml.Node, fields []field, modes rules.ModeSet) *yaml.Node {
	m := mapping(yaml.FlowStyle)
	for _, f := range fields {
		if f.value != nil {
			addPair(m, str(f.key), f.value)
		}
	}
	for _, d := range rules.AllDirections() {
		if mode, ok := modes[d]; ok {
			addPair(m, str(string(d)), str(string(mode)))
		}
	}
	if len(m.Content) == 0 {
		return m
	}
	keyWidth := len("defaults")
	if key != nil {
		keyWidth = len(key.Value) + 2 + 2 // quotes and indentation, at most
	}
	var buf bytes.Buffer
	if err := encode(&buf, m); err != nil || keyWidth+2+buf.Len() > flowWidth {
		m.Style = 0
	}
	return m
}

func encode(buf *bytes.Buffer, n *yaml.Node) error {
	enc := yaml.NewEncoder(buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

func mapping(style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: style}
}

func emptyAsFlow(m *yaml.Node) *yaml.Node {
	if len(m.Content) == 0 {
		m.Style = yaml.FlowStyle
	}
	return m
}

func addPair(m, k, v *yaml.Node) { m.Content = append(m.Content, k, v) }

// str is a text scalar, nil when s is empty. The encoder quotes it when it
// would otherwise read as something else (true, 12, null).
func str(s string) *yaml.Node {
	if s == "" {
		return nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// quotedStr is a text scalar always written in double quotes: free text
// such as a station's name.
func quotedStr(s string) *yaml.Node {
	n := str(s)
	if n != nil {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func boolPtr(b *bool) *yaml.Node {
	if b == nil {
		return nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(*b)}
}

func intPtr(i *int) *yaml.Node {
	if i == nil {
		return nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*i)}
}
