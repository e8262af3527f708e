package rules

import (
	"fmt"
	"sort"
	"strings"
)

// RuleSet is the whole set of rules: global defaults, groups and stations.
// A RuleSet handed to the call path is an immutable snapshot: nobody
// modifies it after it is published.
type RuleSet struct {
	Defaults Defaults
	Groups   map[string]*Group
	Stations map[string]*Station
}

// NewRuleSet returns an empty rule set: every call resolves to off.
func NewRuleSet() *RuleSet {
	return &RuleSet{Groups: map[string]*Group{}, Stations: map[string]*Station{}}
}

// Validate checks the whole rule set: every station, group, profile, mode
// and direction is valid and every station's group exists. It returns the
// first problem found, in a stable order.
func (rs *RuleSet) Validate() error {
	if err := rs.Defaults.Modes.Validate(); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	for _, name := range rs.GroupNames() {
		g := rs.Groups[name]
		if g.Name != name {
			return fmt.Errorf("group %q is filed under %q", g.Name, name)
		}
		if err := g.Validate(); err != nil {
			return err
		}
	}
	for _, id := range rs.StationIDs() {
		s := rs.Stations[id]
		if s.ID != id {
			return fmt.Errorf("station %q is filed under %q", s.ID, id)
		}
		if err := s.Validate(); err != nil {
			return err
		}
		if s.Group != "" {
			if _, ok := rs.Groups[s.Group]; !ok {
				return fmt.Errorf("station %s: unknown group %q", s.ID, s.Group)
			}
		}
	}
	return nil
}

// StationIDs returns the station ids in sorted order.
func (rs *RuleSet) StationIDs() []string { return sortedKeys(rs.Stations) }

// GroupNames returns the group names in sorted order.
func (rs *RuleSet) GroupNames() []string { return sortedKeys(rs.Groups) }

// IsStation reports whether id is a known station.
func (rs *RuleSet) IsStation(id string) bool {
	_, ok := rs.Stations[id]
	return ok
}

// Clone returns a deep copy that can be modified without touching rs.
func (rs *RuleSet) Clone() *RuleSet {
	c := &RuleSet{
		Defaults: Defaults{Modes: rs.Defaults.Modes.Clone(), Announce: rs.Defaults.Announce},
		Groups:   make(map[string]*Group, len(rs.Groups)),
		Stations: make(map[string]*Station, len(rs.Stations)),
	}
	for k, g := range rs.Groups {
		g2 := *g
		g2.Modes = g.Modes.Clone()
		g2.Announce = cloneBool(g.Announce)
		g2.RetentionDays = cloneInt(g.RetentionDays)
		c.Groups[k] = &g2
	}
	for k, s := range rs.Stations {
		s2 := *s
		s2.Modes = s.Modes.Clone()
		s2.Announce = cloneBool(s.Announce)
		s2.RetentionDays = cloneInt(s.RetentionDays)
		c.Stations[k] = &s2
	}
	return c
}

// Source says which level of the rules decided.
type Source string

// The rule sources, also the values of the rule_source metric label.
const (
	SourceStation  Source = "station"  // the station's own rule
	SourceGroup    Source = "group"    // the group's override or its profile
	SourceDefault  Source = "default"  // the global default (or off when unset)
	SourceFallback Source = "fallback" // no rules could be read
)

// Decision is what recgate decided for a station and direction.
type Decision struct {
	Station   string
	Direction Direction
	Mode      Mode
	Source    Source
	Rule      string // "station:1001", "group:sales", "default" or "fallback"
	Announce  bool   // play the recording notice (never when Mode is off)
}

// Step is one level of the resolution chain, as shown by explain.
type Step struct {
	Rule    string `json:"rule"`           // "station:1001", "group:sales", "profile:sales", "default", "built-in"
	Mode    Mode   `json:"mode,omitempty"` // empty when the level does not set the direction
	Decided bool   `json:"decided"`        // this level gave the answer
	Note    string `json:"note,omitempty"` // why the level was skipped, when it was
}

// Resolve decides the mode for a station and direction: the station's own
// rule, else its group's override, else its group's profile, else the
// global default, else off. Unknown stations get the global default.
// It allocates nothing but the rule name.
func (rs *RuleSet) Resolve(station string, d Direction) Decision {
	dec := Decision{Station: station, Direction: d}
	st := rs.Stations[station]
	var g *Group
	if st != nil {
		g = rs.Groups[st.Group]
	}
	switch {
	case st != nil && st.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = st.Modes[d], SourceStation, "station:"+station
	case g != nil && g.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = g.Modes[d], SourceGroup, "group:"+g.Name
	case g != nil && g.Profile != "" && hasProfileMode(g.Profile, d):
		m, _ := profileMode(g.Profile, d)
		dec.Mode, dec.Source, dec.Rule = m, SourceGroup, "group:"+g.Name
	case rs.Defaults.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = rs.Defaults.Modes[d], SourceDefault, "default"
	default:
		dec.Mode, dec.Source, dec.Rule = Off, SourceDefault, "default"
	}
	dec.Announce = dec.Mode != Off && rs.announce(st, g)
	return dec
}

func hasProfileMode(profile string, d Direction) bool {
	_, ok := profileMode(profile, d)
	return ok
}

func (rs *RuleSet) announce(st *Station, g *Group) bool {
	switch {
	case st != nil && st.Announce != nil:
		return *st.Announce
	case g != nil && g.Announce != nil:
		return *g.Announce
	}
	return rs.Defaults.Announce
}

// Explain resolves like Resolve and also returns every level that was
// consulted, in order, for people checking why a call was (not) recorded.
func (rs *RuleSet) Explain(station string, d Direction) (Decision, []Step) {
	dec := rs.Resolve(station, d)
	var chain []Step
	decided := false
	add := func(rule string, m Mode, note string) {
		s := Step{Rule: rule, Mode: m, Note: note}
		if !decided && m != "" && note == "" {
			s.Decided, decided = true, true
		}
		chain = append(chain, s)
	}
	st := rs.Stations[station]
	if st == nil {
		add("station:"+station, "", "unknown station")
	} else {
		add("station:"+station, st.Modes[d], "")
		if st.Group == "" {
			add("group", "", "station has no group")
		} else if g := rs.Groups[st.Group]; g != nil {
			add("group:"+g.Name, g.Modes[d], "")
			if g.Profile != "" {
				m, _ := profileMode(g.Profile, d)
				add("profile:"+g.Profile, m, "")
			}
		}
	}
	add("default", rs.Defaults.Modes[d], "")
	add("built-in", Off, "")
	return dec, chain
}

// Fallback is the decision made when no rules could be read at all.
func Fallback(station string, d Direction, mode Mode) Decision {
	return Decision{Station: station, Direction: d, Mode: mode, Source: SourceFallback, Rule: "fallback"}
}

// RetentionDays returns how long recordings of station are kept: the
// station's own setting, else its group's. ok is false when neither sets
// one (keep forever).
func (rs *RuleSet) RetentionDays(station string) (days int, ok bool) {
	st := rs.Stations[station]
	if st == nil {
		return 0, false
	}
	if st.RetentionDays != nil {
		return *st.RetentionDays, true
	}
	if g := rs.Groups[st.Group]; g != nil && g.RetentionDays != nil {
		return *g.RetentionDays, true
	}
	return 0, false
}

// String formats a decision for logs.
func (d Decision) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s -> %s (%s)", d.Station, d.Direction, d.Mode, d.Rule)
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func cloneInt(i *int) *int {
	if i == nil {
		return nil
	}
	v := *i
	return &v
}
