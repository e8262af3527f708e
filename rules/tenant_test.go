package rules_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
)

// tenantRuleSet has two tenants with a group of the same name:
//
//	defaults:     outbound auto, inbound_queue ondemand
//	acme:         defaults inbound_direct ondemand, internal off; retention 30; announce required
//	  sales:      profile management, inbound_queue overridden to auto
//	beta:         no defaults
//	  sales:      profile sales
//	default:      its own "sales" group, no profile, announce on
func tenantRuleSet() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults.Modes = rules.ModeSet{rules.Outbound: rules.Auto, rules.InboundQueue: rules.OnDemand}
	acme := rules.NewTenant("acme")
	acme.Name = "ACME Sp. z o.o."
	acme.Modes = rules.ModeSet{rules.InboundDirect: rules.OnDemand, rules.Internal: rules.Off}
	acme.RetentionDays = ptr(30)
	acme.AnnounceRequired = true
	acme.Groups["sales"] = &rules.Group{Name: "sales", Profile: "management", Modes: rules.ModeSet{rules.InboundQueue: rules.Auto}}
	beta := rules.NewTenant("beta")
	beta.TimeZone = "UTC"
	beta.Groups["sales"] = &rules.Group{Name: "sales", Profile: "sales", RetentionDays: ptr(7)}
	rs.Tenants["acme"], rs.Tenants["beta"] = acme, beta
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Announce: ptr(true)}

	rs.Stations["a1"] = &rules.Station{ID: "a1", Tenant: "acme", Group: "sales", Announce: ptr(false)}
	rs.Stations["a2"] = &rules.Station{ID: "a2", Tenant: "acme", Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	rs.Stations["b1"] = &rules.Station{ID: "b1", Tenant: "beta", Group: "sales"}
	rs.Stations["b2"] = &rules.Station{ID: "b2", Tenant: "beta"}
	rs.Stations["d1"] = &rules.Station{ID: "d1", Group: "sales"}
	return rs
}

func TestResolveTenants(t *testing.T) {
	rs := tenantRuleSet()
	if err := rs.Validate(); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	tests := []struct {
		name     string
		station  string
		dir      rules.Direction
		tenant   string
		mode     rules.Mode
		source   rules.Source
		rule     string
		announce bool
	}{
		{"group override in tenant", "a1", rules.InboundQueue, "acme", rules.Auto, rules.SourceGroup, "group:sales", true},
		{"profile of the tenant's own group", "a1", rules.Outbound, "acme", rules.Off, rules.SourceGroup, "group:sales", false},
		{"tenant default after group", "a2", rules.InboundDirect, "acme", rules.OnDemand, rules.SourceTenant, "tenant:acme", true},
		{"tenant default off beats global", "a2", rules.Internal, "acme", rules.Off, rules.SourceTenant, "tenant:acme", false},
		{"global default after tenant", "a2", rules.InboundQueue, "acme", rules.OnDemand, rules.SourceDefault, "default", true},
		{"station beats tenant", "a2", rules.Outbound, "acme", rules.OnDemand, rules.SourceStation, "station:a2", true},
		{"same group name, other tenant", "b1", rules.InboundQueue, "beta", rules.Auto, rules.SourceGroup, "group:sales", false},
		{"same group name, other tenant, direct", "b1", rules.InboundDirect, "beta", rules.OnDemand, rules.SourceGroup, "group:sales", false},
		{"tenant without defaults falls to global", "b2", rules.Outbound, "beta", rules.Auto, rules.SourceDefault, "default", false},
		{"tenant without defaults, built-in off", "b2", rules.InboundDirect, "beta", rules.Off, rules.SourceDefault, "default", false},
		{"default tenant's own group", "d1", rules.Outbound, "default", rules.Auto, rules.SourceDefault, "default", true},
		{"unknown station ignores tenants", "x9", rules.InboundDirect, "", rules.Off, rules.SourceDefault, "default", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rs.Resolve(tt.station, tt.dir)
			want := rules.Decision{Station: tt.station, Tenant: tt.tenant, Direction: tt.dir, Mode: tt.mode,
				Source: tt.source, Rule: tt.rule, Announce: tt.announce}
			if got != want {
				t.Errorf("Resolve(%s, %s) = %+v\nwant %+v", tt.station, tt.dir, got, want)
			}
		})
	}
}

// TestAnnounceRequired: a tenant that requires the notice gets it on every
// recorded call, whatever station and group say, and never on a call that
// is not recorded.
func TestAnnounceRequired(t *testing.T) {
	rs := tenantRuleSet()
	for _, id := range rs.TenantStationIDs("acme") {
		for _, d := range rules.AllDirections() {
			dec := rs.Resolve(id, d)
			if dec.Announce != (dec.Mode != rules.Off) {
				t.Errorf("Resolve(%s, %s) = %+v: announce must be exactly 'recorded'", id, d, dec)
			}
		}
	}
	rs.Tenants["acme"].AnnounceRequired = false
	if dec := rs.Resolve("a1", rules.InboundQueue); dec.Announce {
		t.Errorf("without announce_required the station's 'no' must hold: %+v", dec)
	}
}

func TestExplainTenantChain(t *testing.T) {
	rs := tenantRuleSet()
	tests := []struct {
		station string
		dir     rules.Direction
		want    []rules.Step
	}{
		{"a2", rules.InboundDirect, []rules.Step{
			{Rule: "station:a2"},
			{Rule: "group", Note: "station has no group"},
			{Rule: "tenant:acme", Mode: rules.OnDemand, Decided: true, Note: "announce required"},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"a1", rules.InboundQueue, []rules.Step{
			{Rule: "station:a1"},
			{Rule: "group:sales", Mode: rules.Auto, Decided: true},
			{Rule: "profile:management", Mode: rules.Off},
			{Rule: "tenant:acme", Note: "announce required"},
			{Rule: "default", Mode: rules.OnDemand},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"a2", rules.Internal, []rules.Step{ // off: the notice is not played, so not noted
			{Rule: "station:a2"},
			{Rule: "group", Note: "station has no group"},
			{Rule: "tenant:acme", Mode: rules.Off, Decided: true},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"b2", rules.Outbound, []rules.Step{
			{Rule: "station:b2"},
			{Rule: "group", Note: "station has no group"},
			{Rule: "tenant:beta"},
			{Rule: "default", Mode: rules.Auto, Decided: true},
			{Rule: "built-in", Mode: rules.Off},
		}},
	}
	for _, tt := range tests {
		dec, chain := rs.Explain(tt.station, tt.dir)
		if want := rs.Resolve(tt.station, tt.dir); dec != want {
			t.Errorf("Explain(%s, %s) decision = %+v, Resolve = %+v", tt.station, tt.dir, dec, want)
		}
		if !reflect.DeepEqual(chain, tt.want) {
			t.Errorf("Explain(%s, %s) chain:\n got %+v\nwant %+v", tt.station, tt.dir, chain, tt.want)
		}
	}
	// Exactly one step decides, and it gives Resolve's mode.
	for _, id := range rs.StationIDs() {
		for _, d := range rules.AllDirections() {
			dec, chain := rs.Explain(id, d)
			n := 0
			for _, s := range chain {
				if s.Decided {
					n++
					if s.Mode != dec.Mode {
						t.Errorf("Explain(%s, %s): deciding step %+v, decision %s", id, d, s, dec.Mode)
					}
				}
			}
			if n != 1 {
				t.Errorf("Explain(%s, %s): %d deciding steps", id, d, n)
			}
		}
	}
}

func TestTenantRetentionDays(t *testing.T) {
	rs := tenantRuleSet()
	rs.Stations["a3"] = &rules.Station{ID: "a3", Tenant: "acme", RetentionDays: ptr(2)}
	for _, tt := range []struct {
		station string
		days    int
		ok      bool
	}{
		{"a1", 30, true}, // group without retention: the tenant's
		{"a2", 30, true}, // no group: the tenant's
		{"a3", 2, true},  // the station's own
		{"b1", 7, true},  // the group's
		{"b2", 0, false}, // the tenant keeps forever
	} {
		days, ok := rs.RetentionDays(tt.station)
		if days != tt.days || ok != tt.ok {
			t.Errorf("RetentionDays(%s) = %d, %v; want %d, %v", tt.station, days, ok, tt.days, tt.ok)
		}
	}
}

func TestValidateTenants(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(rs *rules.RuleSet)
		wantErr string
	}{
		{"station in unknown tenant", func(rs *rules.RuleSet) { rs.Stations["b2"].Tenant = "gamma" },
			`station b2: unknown tenant "gamma"`},
		{"group of another tenant", func(rs *rules.RuleSet) {
			rs.Stations["a2"].Group = "nope"
			rs.Groups("beta")["nope"] = &rules.Group{Name: "nope"}
		},
			`station a2: unknown group "nope" in tenant acme`},
		{"bad tenant id in station", func(rs *rules.RuleSet) { rs.Stations["b2"].Tenant = "Beta" },
			`station b2: invalid tenant id "Beta": use lower-case letters, digits and '-' (not first)`},
		{"bad tenant id", func(rs *rules.RuleSet) { rs.Tenants["-x"] = rules.NewTenant("-x") },
			`invalid tenant id "-x": use lower-case letters, digits and '-' (not first)`},
		{"tenant id too long", func(rs *rules.RuleSet) { id := strings.Repeat("a", 64); rs.Tenants[id] = rules.NewTenant(id) },
			`invalid tenant id "` + strings.Repeat("a", 64) + `": longer than 63 characters`},
		{"tenant filed under another id", func(rs *rules.RuleSet) { rs.Tenants["beta"].ID = "gamma" },
			`tenant "gamma" is filed under "beta"`},
		{"no default tenant", func(rs *rules.RuleSet) { delete(rs.Tenants, rules.DefaultTenant); delete(rs.Stations, "d1") },
			`tenant default is missing: it always exists`},
		{"bad time zone", func(rs *rules.RuleSet) { rs.Tenants["beta"].TimeZone = "Europe/Nowhere" },
			`tenant beta: invalid time zone "Europe/Nowhere": not an IANA zone name (e.g. Europe/Warsaw, UTC)`},
		{"empty time zone", func(rs *rules.RuleSet) { rs.Tenants["beta"].TimeZone = "" },
			`tenant beta: time zone is empty (e.g. Europe/Warsaw)`},
		{"local time zone", func(rs *rules.RuleSet) { rs.Tenants["beta"].TimeZone = "Local" },
			`tenant beta: invalid time zone "Local": name an IANA zone, e.g. Europe/Warsaw`},
		{"bad tenant mode", func(rs *rules.RuleSet) { rs.Tenants["acme"].Modes[rules.Outbound] = "always" },
			`tenant acme: outbound: invalid mode "always" (valid: off, auto, ondemand)`},
		{"bad tenant retention", func(rs *rules.RuleSet) { rs.Tenants["acme"].RetentionDays = ptr(-1) },
			`tenant acme: retention_days must be between 0 and 36500, got -1`},
		{"bad group in tenant", func(rs *rules.RuleSet) { rs.Groups("beta")["sales"].Profile = "x" },
			`tenant beta: group sales: unknown profile "x" (valid: sales, customer-service, medical-registration, management, record-all)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := tenantRuleSet()
			tt.breakIt(rs)
			err := rs.Validate()
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateTenantID(t *testing.T) {
	for _, id := range []string{"a", "default", "acme-2", "0", strings.Repeat("z", 63)} {
		if err := rules.ValidateTenantID(id); err != nil {
			t.Errorf("ValidateTenantID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "-a", "A", "a_b", "a.b", "a b", "ą", strings.Repeat("z", 64), "a/b"} {
		if err := rules.ValidateTenantID(id); err == nil {
			t.Errorf("ValidateTenantID(%q) accepted", id)
		}
	}
}

func TestCloneTenants(t *testing.T) {
	rs := tenantRuleSet()
	c := rs.Clone()
	if !reflect.DeepEqual(c, rs) {
		t.Fatalf("clone differs from the original")
	}
	c.Tenants["acme"].Modes[rules.Outbound] = rules.Auto
	*c.Tenants["acme"].RetentionDays = 1
	c.Tenants["acme"].AnnounceRequired = false
	c.Groups("acme")["sales"].Modes[rules.Outbound] = rules.Auto
	c.Groups("acme")["new"] = &rules.Group{Name: "new"}
	delete(c.Tenants, "beta")
	if !reflect.DeepEqual(rs, tenantRuleSet()) {
		t.Errorf("changing the clone changed the original")
	}
}

func TestTenantStationIDsAndGroups(t *testing.T) {
	rs := tenantRuleSet()
	if got := rs.TenantStationIDs("acme"); !reflect.DeepEqual(got, []string{"a1", "a2"}) {
		t.Errorf("TenantStationIDs(acme) = %v", got)
	}
	if got := rs.TenantStationIDs(rules.DefaultTenant); !reflect.DeepEqual(got, []string{"d1"}) {
		t.Errorf("TenantStationIDs(default) = %v", got)
	}
	if got := rs.TenantIDs(); !reflect.DeepEqual(got, []string{"acme", "beta", "default"}) {
		t.Errorf("TenantIDs = %v", got)
	}
	if rs.Group("beta", "sales").Profile != "sales" || rs.Group("acme", "sales").Profile != "management" {
		t.Errorf("Group does not keep tenants apart")
	}
	if rs.Groups("nope") != nil || rs.Group("nope", "sales") != nil {
		t.Errorf("an unknown tenant has groups")
	}
}

func TestTenantLocation(t *testing.T) {
	tn := rules.NewTenant("acme")
	loc, err := tn.Location()
	if err != nil || loc.String() != rules.DefaultTimeZone {
		t.Fatalf("Location = %v, %v", loc, err)
	}
	tn.TimeZone = "America/New_York"
	if loc, err := tn.Location(); err != nil || loc.String() != "America/New_York" {
		t.Errorf("Location = %v, %v", loc, err)
	}
	for _, bad := range []string{"", "Local", "Nowhere/City"} {
		tn.TimeZone = bad
		if _, err := tn.Location(); err == nil {
			t.Errorf("Location of %q accepted", bad)
		}
	}
}
