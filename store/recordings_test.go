package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

func TestSaveRecordingsUpsertAndGet(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		ctx := context.Background()
		t0 := time.Date(2026, 11, 24, 9, 0, 0, 123456789, time.UTC)
		auto := &rules.Recording{
			UniqueID: "1795511818.38", LinkedID: "1795511818.37", Station: "1001",
			Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales",
			File:     "/var/spool/asterisk/monitor/2026/11/24/1001_outbound_1795511818.38.wav",
			CallerID: "+4930123", DID: "4930999", State: rules.StateRecording, StartedAt: ptr(t0),
		}
		armed := &rules.Recording{
			UniqueID: "1795511900.40", Station: "1002", Direction: rules.InboundQueue, Mode: rules.OnDemand,
			Rule: "station:1002", Queue: "sales", State: rules.StateArmed, ArmedAt: ptr(t0.Add(time.Minute)),
		}
		if err := s.SaveRecordings(ctx, []*rules.Recording{auto, armed}); err != nil {
			t.Fatal(err)
		}
		if auto.ID == 0 || armed.ID == 0 || auto.ID == armed.ID {
			t.Fatalf("IDs not filled: %d, %d", auto.ID, armed.ID)
		}
		got, err := s.Recording(ctx, auto.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, auto) {
			t.Errorf("Recording:\n got %+v\nwant %+v", got, auto)
		}

		// The hangup updates the same row, by uniqueid, with a fresh struct.
		ended := *auto
		ended.ID = 0
		ended.State, ended.EndedAt, ended.Answered = rules.StateEnded, ptr(t0.Add(3*time.Minute)), ptr(true)
		if err := s.SaveRecordings(ctx, []*rules.Recording{&ended}); err != nil {
			t.Fatal(err)
		}
		if ended.ID != auto.ID {
			t.Errorf("upsert gave id %d, want the existing %d", ended.ID, auto.ID)
		}
		got, err = s.RecordingByUniqueID(ctx, auto.UniqueID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &ended) {
			t.Errorf("after upsert:\n got %+v\nwant %+v", got, &ended)
		}

		if _, err := s.Recording(ctx, 9999); rules.ErrorCode(err) != rules.ENOTFOUND {
			t.Errorf("missing id: %v, want %s", err, rules.ENOTFOUND)
		}
		if _, err := s.RecordingByUniqueID(ctx, "nope"); rules.ErrorCode(err) != rules.ENOTFOUND {
			t.Errorf("missing uniqueid: %v, want %s", err, rules.ENOTFOUND)
		}
	})
}

func TestSaveRecordingsBatchIsAtomic(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		ctx := context.Background()
		good := &rules.Recording{UniqueID: "1.1", Station: "1001", Mode: rules.Auto, State: rules.StateRecording}
		bad := &rules.Recording{UniqueID: "1.2", Station: "1001", Mode: rules.Auto, State: "exploded"}
		err := s.SaveRecordings(ctx, []*rules.Recording{good, bad})
		if rules.ErrorCode(err) != rules.ECONFLICT {
			t.Fatalf("batch with a bad state: %v (code %q), want %s", err, rules.ErrorCode(err), rules.ECONFLICT)
		}
		if good.ID != 0 {
			t.Errorf("ID set on a rolled back insert: %d", good.ID)
		}
		if recs, _ := s.Recordings(ctx, RecordingFilter{}); len(recs) != 0 {
			t.Errorf("%d recordings saved by a failed batch", len(recs))
		}
		noID := &rules.Recording{Station: "1001", Mode: rules.Auto, State: rules.StateRecording}
		if err := s.SaveRecordings(ctx, []*rules.Recording{noID}); rules.ErrorCode(err) != rules.EINVALID {
			t.Errorf("recording without uniqueid: %v, want %s", err, rules.EINVALID)
		}
	})
}

func TestRecordingsFilterAndMarkDeleted(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		ctx := context.Background()
		base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		var recs []*rules.Recording
		for i := 0; i < 10; i++ {
			r := &rules.Recording{
				UniqueID: fmt.Sprintf("1795500000.%d", i), Station: []string{"1001", "1002"}[i%2],
				Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, State: rules.StateEnded,
			}
			at := base.Add(time.Duration(i) * time.Hour)
			if i%3 == 0 { // armed on-demand calls have no start time
				r.Mode, r.Trigger, r.State, r.ArmedAt = rules.OnDemand, "", rules.StateNotActivated, &at
			} else {
				r.StartedAt = &at
			}
			recs = append(recs, r)
		}
		// Saved out of order: the list is ordered by time, not by id.
		if err := s.SaveRecordings(ctx, append(recs[5:], recs[:5]...)); err != nil {
			t.Fatal(err)
		}
		uids := func(rs []rules.Recording) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.UniqueID[len("1795500000."):])
			}
			return out
		}
		tests := []struct {
			name string
			f    RecordingFilter
			want []string
		}{
			{"all newest first", RecordingFilter{}, []string{"9", "8", "7", "6", "5", "4", "3", "2", "1", "0"}},
			{"station", RecordingFilter{Station: "1002"}, []string{"9", "7", "5", "3", "1"}},
			{"since", RecordingFilter{Since: base.Add(7 * time.Hour)}, []string{"9", "8", "7"}},
			{"states", RecordingFilter{States: []rules.RecordingState{rules.StateNotActivated}}, []string{"9", "6", "3", "0"}},
			{"limit", RecordingFilter{Limit: 2}, []string{"9", "8"}},
			{"combined", RecordingFilter{Station: "1001", Since: base.Add(time.Hour), States: []rules.RecordingState{rules.StateEnded, rules.StateNotActivated}, Limit: 3}, []string{"8", "6", "4"}},
			{"none", RecordingFilter{Station: "4711"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.Recordings(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(uids(got), tt.want) {
					t.Errorf("Recordings(%+v) = %v, want %v", tt.f, uids(got), tt.want)
				}
			})
		}

		at := time.Date(2027, 2, 1, 3, 0, 0, 0, time.UTC)
		if err := s.MarkRecordingsDeleted(ctx, []int64{recs[1].ID, recs[2].ID}, at); err != nil {
			t.Fatal(err)
		}
		deleted, err := s.Recordings(ctx, RecordingFilter{States: []rules.RecordingState{rules.StateDeleted}})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(uids(deleted), []string{"2", "1"}) || !deleted[0].DeletedAt.Equal(at) {
			t.Errorf("deleted = %+v", deleted)
		}
	})
}

// TestRecordingsKnowTheirHost: a row names the host that first wrote it
// (store.host_id); a later write of the same channel from another host of
// the fleet (its hangup) does not change it.
func TestRecordingsKnowTheirHost(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		target := d.fresh(t)
		a, b := d.openAt(t, target, WithHostID("pbx-a")), d.openAt(t, target, WithHostID("pbx-b"))
		ctx := context.Background()
		now := time.Now()
		r := &rules.Recording{UniqueID: "1795511818.1", Station: "1001", Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now}
		if err := a.SaveRecordings(ctx, []*rules.Recording{r}); err != nil {
			t.Fatal(err)
		}
		ended := *r
		ended.State, ended.EndedAt = rules.StateEnded, &now
		if err := b.SaveRecordings(ctx, []*rules.Recording{&ended}); err != nil {
			t.Fatal(err)
		}
		got, err := b.RecordingByUniqueID(ctx, r.UniqueID)
		if err != nil || got.Host != "pbx-a" || got.State != rules.StateEnded {
			t.Errorf("row = %+v, %v; want host pbx-a, state ended", got, err)
		}
	})
}

// TestSaveRecordingsLargeBatchAndRepeats: a batch of many rows (cut into
// several statements on PostgreSQL) saves every row with its id; a channel
// twice in one batch ends in its last state, as writes in order would.
func TestSaveRecordingsLargeBatchAndRepeats(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		ctx := context.Background()
		now := time.Now().UTC()
		var recs []*rules.Recording
		for i := 0; i < 301; i++ {
			recs = append(recs, &rules.Recording{UniqueID: fmt.Sprintf("1795511818.%d", i), Station: "1001",
				Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now})
		}
		again := *recs[7]
		again.State, again.EndedAt = rules.StateEnded, &now
		recs = append(recs, &again)
		if err := s.SaveRecordings(ctx, recs); err != nil {
			t.Fatal(err)
		}
		seen := map[int64]bool{}
		for _, r := range recs {
			if r.ID == 0 {
				t.Fatalf("%s: no id", r.UniqueID)
			}
			seen[r.ID] = true
		}
		if len(seen) != 301 || recs[7].ID != again.ID {
			t.Errorf("%d distinct ids for 301 channels; repeat id %d vs %d", len(seen), again.ID, recs[7].ID)
		}
		all, err := s.Recordings(ctx, RecordingFilter{})
		if err != nil || len(all) != 301 {
			t.Fatalf("%d recordings, %v", len(all), err)
		}
		if got, _ := s.RecordingByUniqueID(ctx, again.UniqueID); got.State != rules.StateEnded {
			t.Errorf("repeated channel in state %s, want ended", got.State)
		}
	})
}
