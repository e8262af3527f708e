package rules_test

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/recgate/recgate/rules"
)

// chainRuleSet exercises every level of the resolution chain:
//
//	defaults: inbound_direct ondemand, announce on
//	sales:    profile sales (auto/ondemand/auto/off), internal overridden to auto
//	quiet:    no profile, no modes, announce off
//	board:    profile management (all off), outbound overridden to ondemand, announce on
func chainRuleSet() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults = rules.Defaults{Modes: rules.ModeSet{rules.InboundDirect: rules.OnDemand}, Announce: true}
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales", Modes: rules.ModeSet{rules.Internal: rules.Auto}}
	rs.Groups(rules.DefaultTenant)["quiet"] = &rules.Group{Name: "quiet", Announce: ptr(false)}
	rs.Groups(rules.DefaultTenant)["board"] = &rules.Group{Name: "board", Profile: "management", Announce: ptr(true),
		Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Group: "sales", Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	rs.Stations["1002"] = &rules.Station{ID: "1002", Group: "sales", Announce: ptr(false)}
	rs.Stations["1003"] = &rules.Station{ID: "1003"}
	rs.Stations["1004"] = &rules.Station{ID: "1004", Group: "quiet", Modes: rules.ModeSet{rules.InboundQueue: rules.Off, rules.Internal: rules.Auto}}
	rs.Stations["2001"] = &rules.Station{ID: "2001", Group: "board"}
	rs.Stations["2002"] = &rules.Station{ID: "2002", Group: "board", Announce: ptr(false)}
	return rs
}

func TestResolve(t *testing.T) {
	rs := chainRuleSet()
	if err := rs.Validate(); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	tests := []struct {
		name     string
		station  string
		dir      rules.Direction
		mode     rules.Mode
		source   rules.Source
		rule     string
		announce bool
	}{
		{"station override beats group profile", "1001", rules.Outbound, rules.OnDemand, rules.SourceStation, "station:1001", true},
		{"group override beats its profile", "1001", rules.Internal, rules.Auto, rules.SourceGroup, "group:sales", true},
		{"group profile", "1001", rules.InboundQueue, rules.Auto, rules.SourceGroup, "group:sales", true},
		{"group profile beats default", "1001", rules.InboundDirect, rules.OnDemand, rules.SourceGroup, "group:sales", true},
		{"station announce off beats default on", "1002", rules.Outbound, rules.Auto, rules.SourceGroup, "group:sales", false},
		{"profile off decides at group level", "1002", rules.Internal, rules.Auto, rules.SourceGroup, "group:sales", false},
		{"station without group gets default", "1003", rules.InboundDirect, rules.OnDemand, rules.SourceDefault, "default", true},
		{"station without group, built-in off", "1003", rules.Outbound, rules.Off, rules.SourceDefault, "default", false},
		{"station off override", "1004", rules.InboundQueue, rules.Off, rules.SourceStation, "station:1004", false},
		{"group announce off beats default on", "1004", rules.Internal, rules.Auto, rules.SourceStation, "station:1004", false},
		{"group without modes falls to default", "1004", rules.InboundDirect, rules.OnDemand, rules.SourceDefault, "default", false},
		{"group without modes, built-in off", "1004", rules.Outbound, rules.Off, rules.SourceDefault, "default", false},
		{"group override over management", "2001", rules.Outbound, rules.OnDemand, rules.SourceGroup, "group:board", true},
		{"management profile off is the group's answer", "2001", rules.InboundDirect, rules.Off, rules.SourceGroup, "group:board", false},
		{"station announce off beats group on", "2002", rules.Outbound, rules.OnDemand, rules.SourceGroup, "group:board", false},
		{"unknown station gets default", "9999", rules.InboundDirect, rules.OnDemand, rules.SourceDefault, "default", true},
		{"unknown station, built-in off", "9999", rules.Outbound, rules.Off, rules.SourceDefault, "default", false},
		{"empty station", "", rules.InboundDirect, rules.OnDemand, rules.SourceDefault, "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rs.Resolve(tt.station, tt.dir)
			want := rules.Decision{Station: tt.station, Direction: tt.dir, Mode: tt.mode, Source: tt.source, Rule: tt.rule, Announce: tt.announce}
			if rs.IsStation(tt.station) {
				want.Tenant = rules.DefaultTenant
			}
			if got != want {
				t.Errorf("Resolve(%q, %s) = %+v\nwant %+v", tt.station, tt.dir, got, want)
			}
		})
	}
}

func TestResolveEmptyRuleSet(t *testing.T) {
	rs := rules.NewRuleSet()
	rs.Defaults.Announce = true
	for _, d := range rules.AllDirections() {
		got := rs.Resolve("1001", d)
		if got.Mode != rules.Off || got.Rule != "default" || got.Source != rules.SourceDefault || got.Announce {
			t.Errorf("Resolve(1001, %s) = %+v, want off by default without announce", d, got)
		}
	}
}

// TestAnnounceNeverWhenOff checks the invariant over every station and
// direction, whatever the announce settings say.
func TestAnnounceNeverWhenOff(t *testing.T) {
	rs := chainRuleSet()
	for _, id := range append(rs.StationIDs(), "9999") {
		for _, d := range rules.AllDirections() {
			if dec := rs.Resolve(id, d); dec.Mode == rules.Off && dec.Announce {
				t.Errorf("Resolve(%s, %s) announces a call that is not recorded", id, d)
			}
		}
	}
}

func TestDecisionString(t *testing.T) {
	got := chainRuleSet().Resolve("1001", rules.Outbound).String()
	if want := "1001 outbound -> ondemand (station:1001)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got := rules.Fallback("1001", rules.InboundQueue, rules.Auto).String(); got != "1001 inbound_queue -> auto (fallback)" {
		t.Errorf("Fallback String = %q", got)
	}
}

func TestFallback(t *testing.T) {
	got := rules.Fallback("1001", rules.Outbound, rules.Auto)
	want := rules.Decision{Station: "1001", Direction: rules.Outbound, Mode: rules.Auto, Source: rules.SourceFallback, Rule: "fallback"}
	if got != want {
		t.Errorf("Fallback = %+v, want %+v", got, want)
	}
}

func TestExplain(t *testing.T) {
	rs := chainRuleSet()
	tests := []struct {
		name    string
		station string
		dir     rules.Direction
		want    []rules.Step
	}{
		{"station decides", "1001", rules.Outbound, []rules.Step{
			{Rule: "station:1001", Mode: rules.OnDemand, Decided: true},
			{Rule: "group:sales"},
			{Rule: "profile:sales", Mode: rules.Auto},
			{Rule: "tenant:default"},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"group override decides over its profile", "1001", rules.Internal, []rules.Step{
			{Rule: "station:1001"},
			{Rule: "group:sales", Mode: rules.Auto, Decided: true},
			{Rule: "profile:sales", Mode: rules.Off},
			{Rule: "tenant:default"},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"profile decides over default", "1002", rules.InboundDirect, []rules.Step{
			{Rule: "station:1002"},
			{Rule: "group:sales"},
			{Rule: "profile:sales", Mode: rules.OnDemand, Decided: true},
			{Rule: "tenant:default"},
			{Rule: "default", Mode: rules.OnDemand},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"management profile off decides", "2001", rules.InboundQueue, []rules.Step{
			{Rule: "station:2001"},
			{Rule: "group:board"},
			{Rule: "profile:management", Mode: rules.Off, Decided: true},
			{Rule: "tenant:default"},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"group without profile, default decides", "1004", rules.InboundDirect, []rules.Step{
			{Rule: "station:1004"},
			{Rule: "group:quiet"},
			{Rule: "tenant:default"},
			{Rule: "default", Mode: rules.OnDemand, Decided: true},
			{Rule: "built-in", Mode: rules.Off},
		}},
		{"no group, built-in decides", "1003", rules.Outbound, []rules.Step{
			{Rule: "station:1003"},
			{Rule: "group", Note: "station has no group"},
			{Rule: "tenant:default"},
			{Rule: "default"},
			{Rule: "built-in", Mode: rules.Off, Decided: true},
		}},
		{"unknown station", "9999", rules.InboundDirect, []rules.Step{
			{Rule: "station:9999", Note: "unknown station"},
			{Rule: "default", Mode: rules.OnDemand, Decided: true},
			{Rule: "built-in", Mode: rules.Off},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, chain := rs.Explain(tt.station, tt.dir)
			if want := rs.Resolve(tt.station, tt.dir); dec != want {
				t.Errorf("Explain decision = %+v, Resolve = %+v", dec, want)
			}
			if !reflect.DeepEqual(chain, tt.want) {
				t.Errorf("chain:\n got %+v\nwant %+v", chain, tt.want)
			}
		})
	}
}

// TestExplainAgreesWithResolve checks, for every station and direction,
// that exactly one step decided and that it gave Resolve's mode.
func TestExplainAgreesWithResolve(t *testing.T) {
	rs := chainRuleSet()
	for _, id := range append(rs.StationIDs(), "9999") {
		for _, d := range rules.AllDirections() {
			dec, chain := rs.Explain(id, d)
			decided := 0
			for _, s := range chain {
				if s.Decided {
					decided++
					if s.Mode != dec.Mode {
						t.Errorf("%s %s: step %s decided %s, Resolve says %s", id, d, s.Rule, s.Mode, dec.Mode)
					}
				}
			}
			if decided != 1 {
				t.Errorf("%s %s: %d steps decided, want 1: %+v", id, d, decided, chain)
			}
		}
	}
}

// spec53 is the table of SPEC 5.3, in its order.
var spec53 = []struct {
	name                                            string
	outbound, inboundDirect, inboundQueue, internal rules.Mode
}{
	{"sales", rules.Auto, rules.OnDemand, rules.Auto, rules.Off},
	{"customer-service", rules.OnDemand, rules.Auto, rules.Auto, rules.Off},
	{"medical-registration", rules.OnDemand, rules.Off, rules.Auto, rules.Off},
	{"management", rules.Off, rules.Off, rules.Off, rules.Off},
	{"record-all", rules.Auto, rules.Auto, rules.Auto, rules.Off},
}

func TestProfilesMatchSpec(t *testing.T) {
	var names []string
	for _, row := range spec53 {
		names = append(names, row.name)
		want := rules.ModeSet{rules.Outbound: row.outbound, rules.InboundDirect: row.inboundDirect,
			rules.InboundQueue: row.inboundQueue, rules.Internal: row.internal}
		p, ok := rules.LookupProfile(row.name)
		if !ok {
			t.Errorf("profile %s is missing", row.name)
			continue
		}
		if p.Name != row.name || p.Description == "" || !reflect.DeepEqual(p.Modes, want) {
			t.Errorf("profile %s = %+v, want modes %v", row.name, p, want)
		}
		// A group using the profile resolves to the table, level "group".
		rs := rules.NewRuleSet()
		rs.Groups(rules.DefaultTenant)["g"] = &rules.Group{Name: "g", Profile: row.name}
		rs.Stations["1001"] = &rules.Station{ID: "1001", Group: "g"}
		for d, m := range want {
			if dec := rs.Resolve("1001", d); dec.Mode != m || dec.Rule != "group:g" {
				t.Errorf("profile %s, %s: Resolve = %+v, want %s from group:g", row.name, d, dec, m)
			}
		}
	}
	if got := rules.ProfileNames(); !reflect.DeepEqual(got, names) {
		t.Errorf("ProfileNames = %v, want %v", got, names)
	}
	profiles := rules.Profiles()
	if len(profiles) != len(spec53) {
		t.Fatalf("Profiles has %d entries, want %d", len(profiles), len(spec53))
	}
	for i, p := range profiles {
		if p.Name != names[i] {
			t.Errorf("Profiles[%d] = %s, want %s", i, p.Name, names[i])
		}
	}
	if _, ok := rules.LookupProfile("Sales"); ok {
		t.Errorf("LookupProfile is case-sensitive: Sales is not a profile")
	}
}

func TestProfilesAreCopies(t *testing.T) {
	rules.Profiles()[0].Modes[rules.Outbound] = rules.Off
	p, _ := rules.LookupProfile("sales")
	p.Modes[rules.InboundQueue] = rules.Off
	rs := rules.NewRuleSet()
	rs.Groups(rules.DefaultTenant)["g"] = &rules.Group{Name: "g", Profile: "sales"}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Group: "g"}
	for _, d := range []rules.Direction{rules.Outbound, rules.InboundQueue} {
		if dec := rs.Resolve("1001", d); dec.Mode != rules.Auto {
			t.Errorf("changing a returned profile changed the built-in sales profile: %s is %s", d, dec.Mode)
		}
	}
	if p, _ := rules.LookupProfile("sales"); p.Modes[rules.Outbound] != rules.Auto || p.Modes[rules.InboundQueue] != rules.Auto {
		t.Errorf("LookupProfile(sales) = %v after changing copies", p.Modes)
	}
}

func BenchmarkResolve(b *testing.B) {
	rs := rules.NewRuleSet()
	rs.Defaults.Modes = rules.ModeSet{rules.Outbound: rules.Off, rules.InboundDirect: rules.Off, rules.InboundQueue: rules.Off, rules.Internal: rules.Off}
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales", Modes: rules.ModeSet{rules.Internal: rules.Auto}}
	for i := range 100_000 {
		id := strconv.Itoa(10_000 + i)
		rs.Stations[id] = &rules.Station{ID: id, Group: "sales"}
	}
	rs.Stations["10001"].Modes = rules.ModeSet{rules.Outbound: rules.OnDemand}
	acme := rules.NewTenant("acme")
	acme.Modes = rules.ModeSet{rules.InboundDirect: rules.OnDemand}
	acme.Groups["sales"] = &rules.Group{Name: "sales", Profile: "sales"}
	rs.Tenants["acme"] = acme
	rs.Stations["10003"].Tenant = "acme"
	cases := []struct {
		name    string
		station string
		dir     rules.Direction
	}{
		{"station", "10001", rules.Outbound},
		{"group", "10002", rules.Internal},
		{"profile", "10002", rules.InboundQueue},
		{"default", "99", rules.Outbound},
		{"tenant", "10003", rules.InboundDirect},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rs.Resolve(c.station, c.dir).Rule == "" {
					b.Fatal("no rule")
				}
			}
		})
	}
}
