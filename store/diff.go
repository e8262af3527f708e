package store

import (
	"sort"
	"strconv"

	"github.com/recgate/recgate/rules"
)

// Change is one difference between two rule sets, and one audit row.
// Object is "default", "tenant:ID", "group:NAME" or "station:ID". Field is
// "created" or "deleted" for a whole object, else "name", "kind", "tenant",
// "group", "announce", "profile", "retention_days", "timezone",
// "announce_required" or a direction (whose values are modes). Before and
// After are display strings, "" for unset. Tenant is the tenant the object
// belongs to (a station's new tenant when it moved), "" for the global
// defaults and changes outside the rules.
type Change struct {
	Tenant string `json:"tenant"`
	Object string `json:"object"`
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Diff returns the changes that turn old into new (nil counts as an empty
// rule set), in a stable order: defaults, then tenants by id (each followed
// by its groups by name), then stations by id; within an object, "created"
// or "deleted" first, then its fields in a fixed order, then the
// directions. A created object lists the fields it sets, a deleted one the
// fields it had. Diff is pure.
func Diff(old, new *rules.RuleSet) []Change {
	if old == nil {
		old = rules.NewRuleSet()
	}
	if new == nil {
		new = rules.NewRuleSet()
	}
	var cs []Change
	cs = diffFields(cs, "", "default", true, true, defaultFields(&old.Defaults), defaultFields(&new.Defaults))
	for _, id := range unionKeys(old.Tenants, new.Tenants) {
		o, n := old.Tenants[id], new.Tenants[id]
		cs = diffFields(cs, id, "tenant:"+id, o != nil, n != nil, tenantFields(o), tenantFields(n))
		var og, ng map[string]*rules.Group
		if o != nil {
			og = o.Groups
		}
		if n != nil {
			ng = n.Groups
		}
		for _, name := range unionKeys(og, ng) {
			cs = diffFields(cs, id, "group:"+name, og[name] != nil, ng[name] != nil, groupFields(og[name]), groupFields(ng[name]))
		}
	}
	for _, id := range unionKeys(old.Stations, new.Stations) {
		o, n := old.Stations[id], new.Stations[id]
		tenant := ""
		if n != nil {
			tenant = n.TenantID()
		} else {
			tenant = o.TenantID()
		}
		cs = diffFields(cs, tenant, "station:"+id, o != nil, n != nil, stationFields(o), stationFields(n))
	}
	return cs
}

// field is one displayed attribute of an object.
type field struct{ name, value string }

func diffFields(cs []Change, tenant, object string, existed, exists bool, old, new []field) []Change {
	switch {
	case !existed && exists:
		cs = append(cs, Change{Tenant: tenant, Object: object, Field: "created"})
	case existed && !exists:
		cs = append(cs, Change{Tenant: tenant, Object: object, Field: "deleted"})
	}
	for i := range old {
		if old[i].value != new[i].value {
			cs = append(cs, Change{Tenant: tenant, Object: object, Field: old[i].name, Before: old[i].value, After: new[i].value})
		}
	}
	return cs
}

func defaultFields(d *rules.Defaults) []field {
	return appendModes([]field{{"announce", yesNo(d.Announce)}}, d.Modes)
}

func tenantFields(t *rules.Tenant) []field {
	required := ""
	if t == nil {
		t = &rules.Tenant{}
	} else {
		required = yesNo(t.AnnounceRequired)
	}
	return appendModes([]field{
		{"name", t.Name},
		{"timezone", t.TimeZone},
		{"retention_days", optInt(t.RetentionDays)},
		{"announce_required", required},
	}, t.Modes)
}

func groupFields(g *rules.Group) []field {
	if g == nil {
		g = &rules.Group{}
	}
	return appendModes([]field{
		{"profile", g.Profile},
		{"announce", optBool(g.Announce)},
		{"retention_days", optInt(g.RetentionDays)},
	}, g.Modes)
}

func stationFields(s *rules.Station) []field {
	if s == nil {
		s = &rules.Station{}
	}
	// The default tenant shows as "": a deployment that never names a
	// tenant audits exactly what it did before tenants.
	tenant := s.TenantID()
	if tenant == rules.DefaultTenant {
		tenant = ""
	}
	return appendModes([]field{
		{"tenant", tenant},
		{"name", s.Name},
		{"kind", string(s.Kind)},
		{"group", s.Group},
		{"announce", optBool(s.Announce)},
		{"retention_days", optInt(s.RetentionDays)},
	}, s.Modes)
}

func appendModes(fs []field, ms rules.ModeSet) []field {
	for _, d := range rules.AllDirections() {
		fs = append(fs, field{string(d), string(ms[d])})
	}
	return fs
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func optBool(b *bool) string {
	if b == nil {
		return ""
	}
	return yesNo(*b)
}

func optInt(i *int) string {
	if i == nil {
		return ""
	}
	return strconv.Itoa(*i)
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
