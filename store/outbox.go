package store

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recgate/recgate/rules"
)

// DefaultOutboxSize is how many recordings' metadata rows an Outbox keeps
// while the database is unreachable: at 50 recorded calls a second, more
// than half an hour of an outage, in some tens of megabytes.
const DefaultOutboxSize = 100000

// Outbox timing: a write attempt is bounded by outboxAttempt (a database
// that does not answer must not hold the call handler's writer); while the
// database is unreachable the queue is retried every outboxRetryMin,
// doubling to outboxRetryMax.
const (
	outboxAttempt  = 2 * time.Second
	outboxBatch    = 1024
	outboxRetryMin = 200 * time.Millisecond
	outboxRetryMax = 5 * time.Second
)

// Outbox writes recordings' metadata to the store and, while the store
// cannot be reached (rules.EUNAVAILABLE: PostgreSQL down, a network
// partition, a failover), keeps it in a bounded queue in memory, written
// in order when the database is back. Past the bound a row is dropped,
// logged and counted (Dropped). It implements the call handler's
// RecordingStore.
//
// A channel's rows are saved in order: while anything waits, new rows
// queue behind it (a later state of a channel replaces the earlier one in
// the queue), so an old state is never written over a newer one.
type Outbox struct {
	st  *Store
	max int
	log *slog.Logger

	mu      sync.Mutex
	queue   []*rules.Recording
	index   map[string]int // uniqueid → position in queue
	dropped atomic.Int64
	written atomic.Int64 // rows written from the queue

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// NewOutbox returns an Outbox in front of st holding at most max rows
// (DefaultOutboxSize when max <= 0), and starts its writer; Close stops it.
func NewOutbox(st *Store, max int, log *slog.Logger) *Outbox {
	if max <= 0 {
		max = DefaultOutboxSize
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o := &Outbox{st: st, max: max, log: log, index: map[string]int{},
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	go o.run()
	return o
}

// SaveRecordings writes recs, or queues them when the store is
// unreachable (or rows already wait). A queued row has no ID yet. It
// returns the store's error when the store refused the data itself.
func (o *Outbox) SaveRecordings(ctx context.Context, recs []*rules.Recording) error {
	if len(recs) == 0 {
		return nil
	}
	if o.Pending() == 0 {
		actx, cancel := context.WithTimeout(ctx, outboxAttempt)
		err := o.st.SaveRecordings(actx, recs)
		cancel()
		if err == nil || rules.ErrorCode(err) != rules.EUNAVAILABLE {
			return err
		}
		o.log.Warn("store unreachable: recordings' metadata queued until it is back", "rows", len(recs), "err", err)
	}
	o.enqueue(recs)
	return nil
}

func (o *Outbox) enqueue(recs []*rules.Recording) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		c := *r
		if i, ok := o.index[r.UniqueID]; ok {
			o.queue[i] = &c
			continue
		}
		if len(o.queue) >= o.max {
			if n := o.dropped.Add(1); n == 1 || n%1000 == 0 {
				o.log.Error("recordings' metadata dropped: store unreachable and the queue is full",
					"queue", o.max, "dropped_total", n, "uniqueid", r.UniqueID)
			}
			continue
		}
		o.index[r.UniqueID] = len(o.queue)
		o.queue = append(o.queue, &c)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// RecordingByUniqueID returns the newest state of a channel's recording:
// the queued one when it waits, else the store's.
func (o *Outbox) RecordingByUniqueID(ctx context.Context, uniqueid string) (*rules.Recording, error) {
	o.mu.Lock()
	if i, ok := o.index[uniqueid]; ok {
		c := *o.queue[i]
		o.mu.Unlock()
		return &c, nil
	}
	o.mu.Unlock()
	return o.st.RecordingByUniqueID(ctx, uniqueid)
}

// Pending is the number of rows waiting for the database.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

// Dropped is the number of rows dropped because the queue was full.
func (o *Outbox) Dropped() int64 { return o.dropped.Load() }

// run writes the queue while it is not empty, backing off while the store
// is unreachable.
func (o *Outbox) run() {
	defer close(o.done)
	retry := outboxRetryMin
	for {
		select {
		case <-o.ctx.Done():
			return
		case <-o.wake:
		case <-time.After(retry):
		}
		for {
			n, err := o.flushOnce(o.ctx)
			if err != nil {
				retry = min(retry*2, outboxRetryMax)
				break
			}
			retry = outboxRetryMin
			if n == 0 {
				break
			}
		}
	}
}

// flushOnce writes the first batch of the queue, and removes what was
// written or refused. It returns how many rows left the queue, and the
// error when the store could not be reached.
func (o *Outbox) flushOnce(ctx context.Context) (int, error) {
	o.mu.Lock()
	batch := make([]*rules.Recording, min(len(o.queue), outboxBatch))
	copy(batch, o.queue)
	o.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	actx, cancel := context.WithTimeout(ctx, outboxAttempt)
	err := o.st.SaveRecordings(actx, batch)
	cancel()
	if err != nil && rules.ErrorCode(err) == rules.EUNAVAILABLE {
		return 0, err
	}
	if err != nil {
		// The store refused a row of the data, not the write: write
		// them one by one, so that one bad row costs only itself.
		for _, r := range batch {
			actx, cancel := context.WithTimeout(ctx, outboxAttempt)
			err := o.st.SaveRecordings(actx, []*rules.Recording{r})
			cancel()
			if err != nil && rules.ErrorCode(err) == rules.EUNAVAILABLE {
				return 0, err // the rows before r were written; rewriting them is harmless
			}
			if err != nil {
				o.log.Error("queued recording metadata refused by the store", "uniqueid", r.UniqueID, "err", err)
			}
		}
	}
	o.remove(batch)
	o.written.Add(int64(len(batch)))
	if o.Pending() == 0 {
		o.log.Info("store reachable again: queued recordings' metadata written", "rows_written", o.written.Load())
	}
	return len(batch), nil
}

// remove drops batch, the head of the queue, except the rows replaced by
// a newer state meanwhile (those stay, to be written next).
func (o *Outbox) remove(batch []*rules.Recording) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rest := o.queue[:0]
	for i, r := range o.queue {
		if i < len(batch) && r == batch[i] {
			delete(o.index, r.UniqueID)
			continue
		}
		rest = append(rest, r)
	}
	clear(o.queue[len(rest):])
	o.queue = rest
	for i, r := range o.queue {
		o.index[r.UniqueID] = i
	}
}

// Close writes what waits until ctx is done, then stops the writer. It
// reports the rows it could not write.
func (o *Outbox) Close(ctx context.Context) error {
	o.cancel()
	<-o.done
	for o.Pending() > 0 && ctx.Err() == nil {
		if _, err := o.flushOnce(ctx); err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(outboxRetryMin):
			}
		}
	}
	if n := o.Pending(); n > 0 {
		return rules.Errorf(rules.EUNAVAILABLE, "store: outbox: %d recordings' metadata rows not written: the database stayed unreachable", n)
	}
	return nil
}
