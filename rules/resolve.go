package rules

import (
	"fmt"
	"sort"
	"strings"
)

// RuleSet is the whole set of rules: global defaults, tenants (with their
// groups) and stations. A RuleSet handed to the call path is an immutable
// snapshot: nobody modifies it after it is published.
type RuleSet struct {
	Defaults Defaults
	Tenants  map[string]*Tenant  // by id; DefaultTenant always present
	Stations map[string]*Station // by id, across every tenant
}

// NewRuleSet returns a rule set with only the empty default tenant: every
// call resolves to off.
func NewRuleSet() *RuleSet {
	return &RuleSet{
		Tenants:  map[string]*Tenant{DefaultTenant: NewTenant(DefaultTenant)},
		Stations: map[string]*Station{},
	}
}

// Validate checks the whole rule set: every tenant, station, group,
// profile, mode and direction is valid, the default tenant exists, and
// every station's tenant exists and holds its group. It returns the first
// problem found, in a stable order.
func (rs *RuleSet) Validate() error {
	if err := rs.Defaults.Modes.Validate(); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	if rs.Tenants[DefaultTenant] == nil {
		return fmt.Errorf("tenant %s is missing: it always exists", DefaultTenant)
	}
	for _, id := range rs.TenantIDs() {
		t := rs.Tenants[id]
		if t.ID != id {
			return fmt.Errorf("tenant %q is filed under %q", t.ID, id)
		}
		if err := t.Validate(); err != nil {
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
		t := rs.Tenants[s.TenantID()]
		if t == nil {
			return fmt.Errorf("station %s: unknown tenant %q", s.ID, s.TenantID())
		}
		if s.Group != "" {
			if _, ok := t.Groups[s.Group]; !ok {
				if t.ID != DefaultTenant {
					return fmt.Errorf("station %s: unknown group %q in tenant %s", s.ID, s.Group, t.ID)
				}
				return fmt.Errorf("station %s: unknown group %q", s.ID, s.Group)
			}
		}
	}
	return nil
}

// StationIDs returns every station id, of every tenant, in sorted order.
func (rs *RuleSet) StationIDs() []string { return sortedKeys(rs.Stations) }

// TenantStationIDs returns the ids of tenant's stations in sorted order.
func (rs *RuleSet) TenantStationIDs(tenant string) []string {
	var ids []string
	for id, st := range rs.Stations {
		if st.TenantID() == tenant {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// TenantIDs returns the tenant ids in sorted order.
func (rs *RuleSet) TenantIDs() []string { return sortedKeys(rs.Tenants) }

// Groups returns tenant's groups by name, nil for an unknown tenant. The
// map is the tenant's own: adding to it adds a group.
func (rs *RuleSet) Groups(tenant string) map[string]*Group {
	if t := rs.Tenants[tenant]; t != nil {
		return t.Groups
	}
	return nil
}

// Group returns tenant's group called name, or nil.
func (rs *RuleSet) Group(tenant, name string) *Group { return rs.Groups(tenant)[name] }

// GroupNames returns tenant's group names in sorted order.
func (rs *RuleSet) GroupNames(tenant string) []string { return sortedKeys(rs.Groups(tenant)) }

// IsStation reports whether id is a known station.
func (rs *RuleSet) IsStation(id string) bool {
	_, ok := rs.Stations[id]
	return ok
}

// Clone returns a deep copy that can be modified without touching rs.
func (rs *RuleSet) Clone() *RuleSet {
	c := &RuleSet{
		Defaults: Defaults{Modes: rs.Defaults.Modes.Clone(), Announce: rs.Defaults.Announce},
		Tenants:  make(map[string]*Tenant, len(rs.Tenants)),
		Stations: make(map[string]*Station, len(rs.Stations)),
	}
	for k, t := range rs.Tenants {
		c.Tenants[k] = t.Clone()
	}
	for k, s := range rs.Stations {
		c.Stations[k] = s.Clone()
	}
	return c
}

// Source says which level of the rules decided.
type Source string

// The rule sources, also the values of the rule_source metric label.
const (
	SourceStation  Source = "station"  // the station's own rule
	SourceGroup    Source = "group"    // the group's override or its profile
	SourceTenant   Source = "tenant"   // the tenant's default
	SourceDefault  Source = "default"  // the global default (or off when unset)
	SourceFallback Source = "fallback" // no rules could be read
)

// Decision is what recgate decided for a station and direction.
type Decision struct {
	Station   string
	Tenant    string // the station's tenant; empty for an unknown station
	Direction Direction
	Mode      Mode
	Source    Source
	Rule      string // "station:1001", "group:sales", "tenant:acme", "default" or "fallback"
	Announce  bool   // play the recording notice (never when Mode is off)
}

// Step is one level of the resolution chain, as shown by explain.
type Step struct {
	Rule    string `json:"rule"`           // "station:1001", "group:sales", "profile:sales", "tenant:acme", "default", "built-in"
	Mode    Mode   `json:"mode,omitempty"` // empty when the level does not set the direction
	Decided bool   `json:"decided"`        // this level gave the answer
	Note    string `json:"note,omitempty"` // why the level was skipped, when it was
}

// Resolve decides the mode for a station and direction: the station's own
// rule, else its group's override, else its group's profile, else its
// tenant's default, else the global default, else off. Unknown stations get
// the global default. A recorded call of a tenant that requires it is
// always announced. It is three map lookups and allocates nothing but the
// rule name.
func (rs *RuleSet) Resolve(station string, d Direction) Decision {
	dec := Decision{Station: station, Direction: d}
	st := rs.Stations[station]
	var (
		t *Tenant
		g *Group
	)
	if st != nil {
		dec.Tenant = st.TenantID()
		t = rs.Tenants[dec.Tenant]
		if t != nil && st.Group != "" {
			g = t.Groups[st.Group]
		}
	}
	switch {
	case st != nil && st.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = st.Modes[d], SourceStation, "station:"+station
	case g != nil && g.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = g.Modes[d], SourceGroup, "group:"+g.Name
	case g != nil && g.Profile != "" && hasProfileMode(g.Profile, d):
		m, _ := profileMode(g.Profile, d)
		dec.Mode, dec.Source, dec.Rule = m, SourceGroup, "group:"+g.Name
	case t != nil && t.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = t.Modes[d], SourceTenant, "tenant:"+t.ID
	case rs.Defaults.Modes[d] != "":
		dec.Mode, dec.Source, dec.Rule = rs.Defaults.Modes[d], SourceDefault, "default"
	default:
		dec.Mode, dec.Source, dec.Rule = Off, SourceDefault, "default"
	}
	dec.Announce = dec.Mode != Off && (t != nil && t.AnnounceRequired || rs.announce(st, g))
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
// consulted, in order, for people checking why a call was (not) recorded:
// station, group, profile, tenant, default, built-in.
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
		t := rs.Tenants[st.TenantID()]
		switch {
		case st.Group == "":
			add("group", "", "station has no group")
		case t != nil && t.Groups[st.Group] != nil:
			g := t.Groups[st.Group]
			add("group:"+g.Name, g.Modes[d], "")
			if g.Profile != "" {
				m, _ := profileMode(g.Profile, d)
				add("profile:"+g.Profile, m, "")
			}
		}
		if t != nil {
			add("tenant:"+t.ID, t.Modes[d], "")
			if t.AnnounceRequired && dec.Mode != Off {
				// Not a skip: the tenant setting that made the call announced.
				chain[len(chain)-1].Note = "announce required"
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
// station's own setting, else its group's, else its tenant's. ok is false
// when none sets one (keep forever).
func (rs *RuleSet) RetentionDays(station string) (days int, ok bool) {
	st := rs.Stations[station]
	if st == nil {
		return 0, false
	}
	if st.RetentionDays != nil {
		return *st.RetentionDays, true
	}
	t := rs.Tenants[st.TenantID()]
	if t == nil {
		return 0, false
	}
	if g := t.Groups[st.Group]; g != nil && g.RetentionDays != nil {
		return *g.RetentionDays, true
	}
	if t.RetentionDays != nil {
		return *t.RetentionDays, true
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
