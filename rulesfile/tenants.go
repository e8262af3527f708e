package rulesfile

import (
	"fmt"
	"strings"

	"github.com/recgate/recgate/rules"
	"go.yaml.in/yaml/v3"
)

// Form is the shape of a rules file (SPEC 9: one tenant, or several).
type Form int

const (
	// Classic is the file of SPEC 5.4 with no tenant key: the global
	// defaults and the default tenant's groups and stations.
	Classic Form = iota
	// OneTenant is a file with a top-level "tenant: ID": that tenant's
	// settings (name, timezone, retention_days, announce_required), its
	// own defaults, groups and stations.
	OneTenant
	// AllTenants is a file with "tenants: {ID: {...}}" and the global
	// defaults: the whole rule set.
	AllTenants
)

// String names the form for messages.
func (f Form) String() string {
	switch f {
	case Classic:
		return "classic"
	case OneTenant:
		return "one tenant"
	case AllTenants:
		return "all tenants"
	}
	return fmt.Sprintf("Form(%d)", int(f))
}

// File is a parsed rules file: its form and the rules it holds.
type File struct {
	Form Form
	// Tenant is the tenant a Classic (rules.DefaultTenant) or OneTenant
	// file describes; "" for AllTenants.
	Tenant string
	// Rules holds what the file says, validated. For Classic: the global
	// defaults and the default tenant's groups and stations. For
	// OneTenant: the tenant and its stations (plus an empty default
	// tenant, which every rule set has). For AllTenants: everything.
	Rules *rules.RuleSet
}

// pair is one key of a mapping and its value.
type pair struct {
	key  string
	k, v *yaml.Node
}

var (
	// topTenantKeys are the top-level keys of the tenant forms.
	topTenantKeys = []string{"tenant", "tenants", "name", "timezone", "retention_days", "announce_required"}
	// tenantKeys are what a tenant's entry (or a OneTenant file) takes.
	tenantKeys = []string{"name", "timezone", "retention_days", "announce_required", "defaults", "groups", "stations"}
)

// tenantDocument reads a file whose top level has a tenant key: tenant: ID
// (OneTenant) or tenants: (AllTenants). defaults, groups and stations are
// the classic top-level keys, nil when absent.
func (p *parser) tenantDocument(rs *rules.RuleSet, defaults, groups, stations *yaml.Node, extra []pair) {
	var tenant, tenants *pair
	var settings []pair
	for i := range extra {
		switch extra[i].key {
		case "tenant":
			tenant = &extra[i]
		case "tenants":
			tenants = &extra[i]
		default:
			settings = append(settings, extra[i])
		}
	}
	if tenants != nil {
		p.form, p.tenant = AllTenants, ""
		if tenant != nil {
			p.errorf(tenant.k, "tenant and tenants cannot be used together: a file holds one tenant (tenant: ID) or several (tenants: {ID: {...}})")
		}
		for _, s := range settings {
			p.errorf(s.k, "%s is a tenant's setting: with tenants:, write it under tenants.ID", s.key)
		}
		for _, n := range []struct {
			key  string
			node *yaml.Node
		}{{"groups", groups}, {"stations", stations}} {
			if n.node != nil {
				p.errorf(n.node, "%s: with tenants:, a tenant's %s go under tenants.ID.%s", n.key, n.key, n.key)
			}
		}
		if defaults != nil {
			p.defaults(defaults, &rs.Defaults)
		}
		p.tenants(tenants.v, rs)
		return
	}
	p.form = OneTenant
	if tenant == nil {
		p.errorf(settings[0].k, "%s is a tenant's setting: name the tenant first (tenant: ID)", settings[0].key)
		return
	}
	val := deref(tenant.v)
	if val.Kind != yaml.ScalarNode || isNull(val) {
		p.errorf(tenant.v, "tenant: expected a tenant id, got %s", describe(val))
		return
	}
	if err := rules.ValidateTenantID(val.Value); err != nil {
		p.errorf(tenant.v, "tenant: %v", err)
		return
	}
	p.tenant = val.Value
	body := settings
	for _, n := range []pair{{"defaults", nil, defaults}, {"groups", nil, groups}, {"stations", nil, stations}} {
		if n.v != nil {
			n.k = n.v
			body = append(body, n)
		}
	}
	p.tenantBody(val.Value, "", body, rs)
}

// tenants reads the tenants: mapping of an AllTenants file.
func (p *parser) tenants(n *yaml.Node, rs *rules.RuleSet) {
	m := p.section(n, "tenants", "tenant ids")
	if m == nil {
		return
	}
	p.eachPair(m, "", "tenant", func(id string, k, v *yaml.Node) {
		if err := rules.ValidateTenantID(id); err != nil {
			p.errorf(k, "%v", err)
			return
		}
		prefix := fmt.Sprintf("tenant %q: ", id)
		body := deref(v)
		var pairs []pair
		switch {
		case isNull(body):
		case body.Kind != yaml.MappingNode:
			p.errorf(v, "%sexpected a mapping of settings, got %s", prefix, describe(body))
			return
		default:
			p.eachPair(body, prefix, "key", func(key string, k, v *yaml.Node) { pairs = append(pairs, pair{key, k, v}) })
		}
		p.tenantBody(id, prefix, pairs, rs)
	})
}

// tenantBody reads one tenant's settings, defaults, groups and stations
// into rs. prefix starts every message.
func (p *parser) tenantBody(id, prefix string, body []pair, rs *rules.RuleSet) {
	t := rules.NewTenant(id)
	t.Modes = rules.ModeSet{}
	var groups, stations *yaml.Node
	for _, e := range body {
		val := deref(e.v)
		if isNull(val) && isAllowed(e.key, tenantKeys) {
			continue
		}
		switch e.key {
		case "name":
			if s, ok := p.text(prefix, e.key, e.v, val); ok {
				if err := rules.ValidateText(e.key, s); err != nil {
					p.errorf(e.v, "%s%v", prefix, err)
				} else {
					t.Name = s
				}
			}
		case "timezone":
			if s, ok := p.text(prefix, e.key, e.v, val); ok {
				if err := rules.ValidateTimeZone(s); err != nil {
					p.errorf(e.v, "%stimezone: %v", prefix, err)
				} else {
					t.TimeZone = s
				}
			}
		case "retention_days":
			t.RetentionDays = p.retention(prefix, e.v, val)
		case "announce_required":
			t.AnnounceRequired = p.yesNo(prefix, e.key, e.v, val)
		case "defaults":
			t.Modes = p.entry(e.v, prefix+"defaults: ", nil).modes
		case "groups":
			groups = e.v
		case "stations":
			stations = e.v
		default:
			p.errorf(e.k, "%sunknown key %q (valid: %s)", prefix, e.key, strings.Join(tenantKeys, ", "))
		}
	}
	// The classic readers fill the default tenant of a scratch rule set;
	// their groups and stations are then moved to this tenant.
	scratch := rules.NewRuleSet()
	declared := map[string]bool{}
	if groups != nil {
		p.groups(groups, scratch, declared)
	}
	if stations != nil {
		p.stations(stations, scratch, declared)
	}
	t.Groups = scratch.Groups(rules.DefaultTenant)
	for _, sid := range scratch.StationIDs() {
		st := scratch.Stations[sid]
		if other := rs.Stations[sid]; other != nil {
			p.errorf(keyNode(stations, sid), "%sstation %q is also in tenant %s (station ids are unique across tenants)",
				prefix, sid, other.TenantID())
			continue
		}
		if id != rules.DefaultTenant {
			st.Tenant = id
		}
		rs.Stations[sid] = st
	}
	rs.Tenants[id] = t
}

// yesNo reads a yes/no setting; a bad value is recorded and reads as no.
func (p *parser) yesNo(prefix, key string, v, val *yaml.Node) bool {
	if val.Kind == yaml.ScalarNode {
		switch strings.ToLower(val.Value) {
		case "true", "yes":
			return true
		case "false", "no":
			return false
		}
		p.errorf(v, "%sinvalid %s value %q (valid: true, false, yes, no)", prefix, key, val.Value)
		return false
	}
	p.errorf(v, "%s%s: expected true, false, yes or no, got %s", prefix, key, describe(val))
	return false
}

// keyNode returns the key node of key in mapping n, for its line; n itself
// when not found.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	m := deref(n)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if deref(m.Content[i]).Value == key {
			return m.Content[i]
		}
	}
	return n
}

// ForTenant returns f as the file of tenant id, for rules import --tenant:
// a OneTenant file must name id; an AllTenants file gives its tenant id
// (which it must hold) and nothing else; a Classic file is read as id's
// file, its defaults becoming the tenant's own (a global announce in them is
// refused) — except for the default tenant, whose classic file keeps its
// classic meaning.
func (f *File) ForTenant(id string) (*File, error) {
	if err := rules.ValidateTenantID(id); err != nil {
		return nil, rules.Errorf(rules.EINVALID, "--tenant: %v", err)
	}
	rs := rules.NewRuleSet() // as Parse makes it: every ModeSet non-nil
	rs.Defaults.Modes = rules.ModeSet{}
	rs.Tenants[rules.DefaultTenant].Modes = rules.ModeSet{}
	switch f.Form {
	case OneTenant:
		if f.Tenant != id {
			return nil, rules.Errorf(rules.EINVALID, "the file is tenant %s's (tenant: %s), not %s's", f.Tenant, f.Tenant, id)
		}
		return f, nil
	case Classic:
		if id == rules.DefaultTenant {
			return f, nil
		}
		if f.Rules.Defaults.Announce {
			return nil, rules.Errorf(rules.EINVALID, "defaults: announce is a global setting: a tenant's file cannot set it (use announce_required)")
		}
		t := f.Rules.Tenants[rules.DefaultTenant].Clone()
		t.ID, t.Modes = id, f.Rules.Defaults.Modes.Clone()
		rs.Tenants[id] = t
	case AllTenants:
		t := f.Rules.Tenants[id]
		if t == nil {
			return nil, rules.Errorf(rules.ENOTFOUND, "the file has no tenant %s (it has: %s)", id, strings.Join(f.Rules.TenantIDs(), ", "))
		}
		rs.Tenants[id] = t.Clone()
	}
	from := id
	if f.Form == Classic {
		from = rules.DefaultTenant
	}
	for sid, st := range f.Rules.Stations {
		if st.TenantID() == from {
			c := st.Clone()
			c.Tenant = id
			if id == rules.DefaultTenant {
				c.Tenant = ""
			}
			rs.Stations[sid] = c
		}
	}
	if err := rs.Validate(); err != nil {
		return nil, rules.Errorf(rules.EINVALID, "%v", err)
	}
	return &File{Form: OneTenant, Tenant: id, Rules: rs}, nil
}

// Apply returns the rule set that importing f into current gives, without
// changing current. A Classic file replaces the global defaults and the
// default tenant's groups and stations (the tenant's settings and own
// defaults stay); a OneTenant file replaces its tenant entirely (creating
// it); an AllTenants file replaces everything. Other tenants are left as
// they are. A station the file gives one tenant that another tenant has is
// refused with rules.ECONFLICT: station ids are unique across tenants.
func (f *File) Apply(current *rules.RuleSet) (*rules.RuleSet, error) {
	if f.Form == AllTenants {
		return f.Rules.Clone(), nil
	}
	next := current.Clone()
	id := f.Tenant
	switch f.Form {
	case Classic:
		next.Defaults = rules.Defaults{Modes: f.Rules.Defaults.Modes.Clone(), Announce: f.Rules.Defaults.Announce}
		t := next.Tenants[rules.DefaultTenant]
		if t == nil {
			t = rules.NewTenant(rules.DefaultTenant)
			next.Tenants[rules.DefaultTenant] = t
		}
		t.Groups = f.Rules.Tenants[rules.DefaultTenant].Clone().Groups
	case OneTenant:
		next.Tenants[id] = f.Rules.Tenants[id].Clone()
	default:
		return nil, fmt.Errorf("apply rules file: unknown form %v", f.Form)
	}
	for sid, st := range next.Stations {
		if st.TenantID() == id {
			delete(next.Stations, sid)
		}
	}
	for _, sid := range f.Rules.StationIDs() {
		if other := next.Stations[sid]; other != nil {
			return nil, rules.Errorf(rules.ECONFLICT, "station %s is tenant %s's, not %s's: remove it there first (station ids are unique across tenants)",
				sid, other.TenantID(), id)
		}
		next.Stations[sid] = f.Rules.Stations[sid].Clone()
	}
	return next, nil
}
