package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// BenchmarkSaveRecordings measures the metadata writer's cost per row, in
// batches as the call handler's writer sends them.
func BenchmarkSaveRecordings(b *testing.B) {
	for _, d := range testDrivers {
		b.Run(d.name, func(b *testing.B) { benchSave(b, d.openNew(b)) })
	}
}

func benchSave(b *testing.B, s *Store) {
	ctx := context.Background()
	now := time.Now()
	const batch = 256
	recs := make([]*rules.Recording, batch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			n++
			recs[i] = &rules.Recording{UniqueID: fmt.Sprintf("1795511818.%d", n), LinkedID: "1795511818.1",
				Station: fmt.Sprintf("%d", 1000+n%100), Direction: rules.Outbound, Mode: rules.Auto,
				Trigger: rules.TriggerAuto, Rule: "group:sales", File: "/var/spool/asterisk/monitor/x.wav",
				State: rules.StateRecording, StartedAt: &now}
		}
		if err := s.SaveRecordings(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
}

// TestMetadataCommitsDoNotReloadRules: recordings are committed many times
// a second under load; they change data_version but must not make the
// call path reload the rules. A rules change by any writer (here a raw
// SQL statement, as the sqlite3 shell would make) must.
func TestMetadataCommitsDoNotReloadRules(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		path := d.fresh(t)
		s := d.openAt(t, path)
		ctx := context.Background()
		if _, err := s.Rules(ctx); err != nil {
			t.Fatal(err)
		}
		before := s.reloads.Load()
		other := d.openAt(t, path)
		now := time.Now()
		for i := 0; i < 5; i++ {
			if err := other.SaveRecordings(ctx, []*rules.Recording{{UniqueID: fmt.Sprintf("u%d", i), Station: "1001",
				Direction: rules.Outbound, Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Rules(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := s.reloads.Load() - before; n != 0 {
			t.Errorf("%d rule reloads after recordings commits, want 0", n)
		}
		if _, err := other.db.ExecContext(ctx, "INSERT INTO stations (id) VALUES ('4242')"); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rs.IsStation("4242") || s.reloads.Load()-before != 1 {
			t.Errorf("after a raw insert: station seen %v, reloads %d; want true, 1", rs.IsStation("4242"), s.reloads.Load()-before)
		}
	})
}
