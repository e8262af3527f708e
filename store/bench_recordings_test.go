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
	benchSave(b, openTest(b, tempDB(b)))
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
