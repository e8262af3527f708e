package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/recgate/recgate/rules"
)

// bigRules is n stations in 100 groups, every tenth with its own modes.
func bigRules(n int) *rules.RuleSet {
	rs := rules.NewRuleSet()
	profiles := rules.ProfileNames()
	for g := 0; g < 100; g++ {
		name := fmt.Sprintf("group-%02d", g)
		rs.Groups(rules.DefaultTenant)[name] = &rules.Group{Name: name, Profile: profiles[g%len(profiles)], RetentionDays: ptr(30 + g)}
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%06d", 100000+i)
		st := &rules.Station{ID: id, Name: "station " + id, Kind: rules.SIPPhone, Group: fmt.Sprintf("group-%02d", i%100)}
		if i%10 == 0 {
			st.Modes = rules.ModeSet{rules.Outbound: rules.Auto, rules.InboundDirect: rules.OnDemand}
			st.Announce = ptr(true)
		}
		rs.Stations[id] = st
	}
	return rs
}

func benchStore(b *testing.B, stations int) *Store {
	b.Helper()
	s := openTest(b, tempDB(b))
	if _, err := s.ReplaceRules(context.Background(), "bench", bigRules(stations)); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkLoadRules100k(b *testing.B) {
	s := benchStore(b, 100_000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rs, err := s.LoadRules(ctx)
		if err != nil || len(rs.Stations) != 100_000 {
			b.Fatalf("LoadRules: %d stations, %v", len(rs.Stations), err)
		}
	}
}

func BenchmarkReplaceRules100k(b *testing.B) {
	ctx := context.Background()
	want := bigRules(100_000)
	for b.Loop() {
		b.StopTimer()
		s, err := Open(ctx, tempDB(b))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.ReplaceRules(ctx, "bench", want); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

func BenchmarkRulesNoChange(b *testing.B) {
	s := benchStore(b, 100_000)
	ctx := context.Background()
	if _, err := s.Rules(ctx); err != nil { // picks up the import
		b.Fatal(err)
	}
	reloads, checks := s.reloads.Load(), s.checks.Load()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rs, err := s.Rules(ctx)
			if err != nil || rs == nil {
				b.Errorf("Rules: %v", err)
				return
			}
		}
	})
	b.StopTimer()
	if n := s.reloads.Load() - reloads; n != 0 {
		b.Errorf("%d reloads with nothing changed", n)
	}
	b.ReportMetric(float64(s.checks.Load()-checks)/float64(b.N), "checks/op")
}

func BenchmarkRulesNoChangeSerial(b *testing.B) {
	s := benchStore(b, 100)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Rules(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
