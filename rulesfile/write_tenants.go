package rulesfile

import (
	"fmt"
	"io"
	"sort"

	"github.com/recgate/recgate/rules"
	"go.yaml.in/yaml/v3"
)

// WriteTenant writes tenant id's file (the OneTenant form): tenant: ID,
// its settings, its own defaults, groups and stations, in the same
// deterministic style as Write. ParseFile of the result gives the tenant
// back, and importing it with --tenant ID changes nothing.
func WriteTenant(w io.Writer, rs *rules.RuleSet, id string) error {
	if err := rs.Validate(); err != nil {
		return fmt.Errorf("write rules: %w", rules.Errorf(rules.EINVALID, "%v", err))
	}
	t := rs.Tenants[id]
	if t == nil {
		return fmt.Errorf("write rules: %w", rules.Errorf(rules.ENOTFOUND, "tenant %q not found", id))
	}
	root := mapping(yaml.Style(0))
	addPair(root, str("tenant"), str(id))
	for _, f := range tenantSettings(t) {
		if f.value != nil {
			addPair(root, str(f.key), f.value)
		}
	}
	addPair(root, str("defaults"), entryNode(nil, nil, t.Modes))
	addPair(root, str("groups"), emptyAsFlow(groupsNode(t.Groups)))
	addPair(root, str("stations"), emptyAsFlow(stationsNode(rs, rs.TenantStationIDs(id))))
	return writeRoot(w, root)
}

// tenantSettings are a tenant's settings in file order; a setting at its
// default value is nil, so it is left out.
func tenantSettings(t *rules.Tenant) []field {
	var tz *yaml.Node
	if t.TimeZone != rules.DefaultTimeZone {
		tz = str(t.TimeZone)
	}
	var required *bool
	if t.AnnounceRequired {
		required = &t.AnnounceRequired
	}
	return []field{
		{"name", quotedStr(t.Name)},
		{"timezone", tz},
		{"retention_days", intPtr(t.RetentionDays)},
		{"announce_required", boolPtr(required)},
	}
}

// tenantNode is tenant id's entry in an AllTenants file: its settings, then
// defaults, groups and stations, each left out when empty.
func tenantNode(rs *rules.RuleSet, id string) *yaml.Node {
	t := rs.Tenants[id]
	m := mapping(yaml.Style(0))
	for _, f := range tenantSettings(t) {
		if f.value != nil {
			addPair(m, str(f.key), f.value)
		}
	}
	if len(t.Modes) > 0 {
		addPair(m, str("defaults"), entryNode(nil, nil, t.Modes))
	}
	if len(t.Groups) > 0 {
		addPair(m, str("groups"), groupsNode(t.Groups))
	}
	if ids := rs.TenantStationIDs(id); len(ids) > 0 {
		addPair(m, str("stations"), stationsNode(rs, ids))
	}
	return emptyAsFlow(m)
}

// isClassic reports whether the classic form holds all of rs: the default
// tenant alone, with no setting or default of its own.
func isClassic(rs *rules.RuleSet) bool {
	if len(rs.Tenants) != 1 {
		return false
	}
	t := rs.Tenants[rules.DefaultTenant]
	return t != nil && t.Name == "" && t.TimeZone == rules.DefaultTimeZone && len(t.Modes) == 0 &&
		t.RetentionDays == nil && !t.AnnounceRequired
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
