package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

func TestQueryRecordingsFiltersAndPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	base := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	var recs []*rules.Recording
	for i := 0; i < 12; i++ {
		at := base.Add(time.Duration(i/2) * time.Minute) // pairs share a start time: the cursor needs the id too
		tenant, station, trig := "acme", "a1", rules.TriggerAuto
		if i%3 == 0 {
			tenant, station = "bravo", "b1"
		}
		if i%4 == 0 {
			trig = rules.TriggerOnDemand
		}
		recs = append(recs, &rules.Recording{UniqueID: fmt.Sprint("U", i), Tenant: tenant, Station: station,
			Direction: rules.Outbound, Mode: rules.Auto, Trigger: trig, State: rules.StateEnded, StartedAt: &at,
			CallerID: fmt.Sprintf("+4822%07d", i), DID: "800100200"})
	}
	if err := s.SaveRecordings(ctx, recs); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []rules.Recording) (out []string) {
		for _, r := range rs {
			out = append(out, r.UniqueID)
		}
		return out
	}
	// Paging through acme's 8 recordings 3 at a time: newest first, no
	// repeats, nothing skipped, across equal start times.
	var all []string
	cursor := ""
	for page := 0; page < 5; page++ {
		got, next, err := s.QueryRecordings(ctx, RecordingQuery{Tenant: "acme", Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(got)...)
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{"U11", "U10", "U8", "U7", "U5", "U4", "U2", "U1"}
	if fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("pages: %v, want %v", all, want)
	}
	for _, tc := range []struct {
		q    RecordingQuery
		want string
	}{
		{RecordingQuery{Tenant: "bravo"}, "[U9 U6 U3 U0]"},
		{RecordingQuery{Tenant: "acme", Trigger: rules.TriggerOnDemand}, "[U8 U4]"},
		{RecordingQuery{Tenant: "acme", Since: base.Add(4 * time.Minute)}, "[U11 U10 U8]"},
		{RecordingQuery{Tenant: "acme", Until: base.Add(time.Minute)}, "[U1]"},
		{RecordingQuery{Tenant: "acme", Number: "0000007"}, "[U7]"},
		{RecordingQuery{Tenant: "acme", Number: "800100"}, "[U11 U10 U8 U7 U5 U4 U2 U1]"},
		{RecordingQuery{Tenant: "acme", Stations: []string{}}, "[]"},
		{RecordingQuery{Tenant: "acme", Stations: []string{"b1"}}, "[]"},
		{RecordingQuery{Tenant: "acme", Station: "a1", Direction: rules.InboundQueue}, "[]"},
	} {
		tc.q.Limit = 100
		got, _, err := s.QueryRecordings(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if g := fmt.Sprint(ids(got)); g != tc.want && !(g == "[]" && tc.want == "[]") {
			t.Errorf("%+v: %s, want %s", tc.q, g, tc.want)
		}
	}
	for _, bad := range []RecordingQuery{{Tenant: "acme", Limit: 0}, {Tenant: "acme", Limit: 5, Cursor: "garbage!"}, {Limit: 5}} {
		if _, _, err := s.QueryRecordings(ctx, bad); rules.ErrorCode(err) != rules.EINVALID {
			t.Errorf("%+v: %v, want invalid", bad, err)
		}
	}
}

func TestDefaultsMatchTheRuleSet(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	if _, err := s.UpdateRules(ctx, "t", func(rs *rules.RuleSet) error {
		rs.Defaults = rules.Defaults{Announce: true, Modes: rules.ModeSet{rules.InboundQueue: rules.Auto, rules.Outbound: rules.OnDemand}}
		acme := rules.NewTenant("acme")
		acme.Modes = rules.ModeSet{rules.Internal: rules.Auto} // a tenant's default is not global
		rs.Tenants["acme"] = acme
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Defaults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := s.LoadRules(ctx)
	if fmt.Sprint(d) != fmt.Sprint(rs.Defaults) {
		t.Fatalf("Defaults %+v, the rule set's %+v", d, rs.Defaults)
	}
}
