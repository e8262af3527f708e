package gate

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// refusingStore is a RecordingStore that refuses any batch holding the
// uniqueid bad, as SQLite refuses a whole transaction for one row against
// a constraint.
type refusingStore struct {
	memRecordings
	bad   string
	calls atomic.Int64
}

func (s *refusingStore) SaveRecordings(ctx context.Context, recs []*rules.Recording) error {
	s.calls.Add(1)
	for _, r := range recs {
		if r.UniqueID == s.bad {
			return rules.Errorf(rules.ECONFLICT, "store: save recording %s: CHECK constraint failed", r.UniqueID)
		}
	}
	return s.memRecordings.SaveRecordings(ctx, recs)
}

// TestWriterIsolatesARefusedRow: one row the store refuses costs only that
// row; the rest of its batch is saved, the refusal is counted once and is
// not retried as if the store were down.
func TestWriterIsolatesARefusedRow(t *testing.T) {
	st := &refusingStore{memRecordings: memRecordings{recs: map[string]rules.Recording{}}, bad: "B"}
	var errs atomic.Int64
	w := newWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)), func() { errs.Add(1) })
	batch := []*rules.Recording{{UniqueID: "A", Station: "1001"}, {UniqueID: "B", Station: "1002"}, {UniqueID: "C", Station: "1003"}}
	start := time.Now()
	w.flush(batch)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("flush took %s", took)
	}
	for _, id := range []string{"A", "C"} {
		if _, err := st.RecordingByUniqueID(context.Background(), id); err != nil {
			t.Errorf("recording %s lost with the refused row: %v", id, err)
		}
	}
	if _, err := st.RecordingByUniqueID(context.Background(), "B"); err == nil {
		t.Error("the refused row was saved")
	}
	if n := errs.Load(); n != 1 {
		t.Errorf("%d errors counted, want 1", n)
	}
	// The batch once, then each row once: a refusal is not retried.
	if n := st.calls.Load(); n != 4 {
		t.Errorf("%d saves, want 4", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.close(ctx); err != nil {
		t.Fatal(err)
	}
}
