package gate

import (
	"container/list"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/recgate/recgate/rules"
)

// RecordingStore persists recordings' metadata. store.Store implements it.
type RecordingStore interface {
	SaveRecordings(ctx context.Context, recs []*rules.Recording) error
	RecordingByUniqueID(ctx context.Context, uniqueid string) (*rules.Recording, error)
}

// calls tracks the recordings started or armed on live channels, keyed by
// the channel's UNIQUEID, so that decide, ondemand and hangup need no
// round trip (and no SQL) to know what a channel is doing. The store holds
// the durable copy; after a restart calls falls back to it.
//
// It holds at most max entries: a peer that sends decides and never a
// hangup cannot grow it without bound. Past that, and past maxAge, the
// oldest entries are forgotten (counted by onEvict). horizon is the time
// before which a channel may have been decided without calls knowing it
// now: recgate's start, or when the newest channel forgotten started (by
// its uniqueid).
type calls struct {
	mu      sync.Mutex
	byID    map[string]*list.Element // of *callEntry, in order
	order   *list.List               // oldest first
	busy    map[string]bool          // channels with a *2 press being served
	max     int
	maxAge  time.Duration
	horizon time.Time
	onEvict func()
	nowFunc func() time.Time
}

type callEntry struct {
	rec   rules.Recording
	added time.Time
}

// defaultMaxCalls is the default cap on live calls tracked: far above the
// concurrent calls of a PBX recgate serves, and about 75 MB at most (an
// entry keeps clipped fields only, under 1.5 kB with the table's own).
const defaultMaxCalls = 50000

func newCalls(now func() time.Time, max int, onEvict func()) *calls {
	if max <= 0 {
		max = defaultMaxCalls
	}
	return &calls{byID: map[string]*list.Element{}, order: list.New(), busy: map[string]bool{},
		max: max, maxAge: 24 * time.Hour, horizon: now(), onEvict: onEvict, nowFunc: now}
}

// get returns a copy of the recording on channel uniqueid.
func (c *calls) get(uniqueid string) (rules.Recording, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[uniqueid]
	if !ok {
		return rules.Recording{}, false
	}
	return e.Value.(*callEntry).rec, true
}

// put stores a copy of r. It forgets the oldest entries past the cap, and
// a few of those older than maxAge whose hangup never came (a channel
// that never ran its hangup handler): a bounded, incremental sweep, so
// that no call ever waits on a scan of the whole table.
func (c *calls) put(r rules.Recording) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.nowFunc()
	if e, ok := c.byID[r.UniqueID]; ok {
		e.Value.(*callEntry).rec = r
	} else {
		c.byID[r.UniqueID] = c.order.PushBack(&callEntry{rec: r, added: now})
	}
	for c.order.Len() > c.max {
		c.evict(c.order.Front())
	}
	for n := 0; n < sweepPerPut; n++ {
		front := c.order.Front()
		if front == nil || now.Sub(front.Value.(*callEntry).added) <= c.maxAge {
			break
		}
		c.evict(front)
	}
}

// evict forgets entry e, which is not known to have hung up.
func (c *calls) evict(e *list.Element) {
	ce := c.order.Remove(e).(*callEntry)
	delete(c.byID, ce.rec.UniqueID)
	if t, ok := channelStart(ce.rec.UniqueID); ok && t > c.horizon.Unix() {
		c.horizon = time.Unix(t, 0)
	}
	if c.onEvict != nil {
		c.onEvict()
	}
}

// mayHaveMissed reports whether channel uniqueid may have been decided
// without calls knowing it now: it started before the horizon (before
// recgate started, or before the newest entry forgotten). Asterisk's
// uniqueid is "[systemname-]<epoch seconds>.<sequence>"; one that does not
// say when its channel started (an Originate with a ChannelId of its own)
// is taken as new.
func (c *calls) mayHaveMissed(uniqueid string) bool {
	n, ok := channelStart(uniqueid)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n < c.horizon.Unix()
}

// channelStart returns when the channel with Asterisk uniqueid
// "[systemname-]<epoch seconds>.<sequence>" started, in Unix seconds.
func channelStart(uniqueid string) (int64, bool) {
	s := uniqueid[strings.LastIndexByte(uniqueid, '-')+1:]
	secs, _, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(secs, 10, 64)
	return n, ok && err == nil
}

// sweepPerPut is how many expired entries each put forgets at most: more
// than one, so that the table shrinks faster than it can grow.
const sweepPerPut = 4

// claim marks channel uniqueid as having a press being served. It reports
// false when another press already holds it, so two quick presses cannot
// start two recordings.
func (c *calls) claim(uniqueid string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy[uniqueid] {
		return false
	}
	c.busy[uniqueid] = true
	return true
}

// release ends a claim.
func (c *calls) release(uniqueid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.busy, uniqueid)
}

func (c *calls) remove(uniqueid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[uniqueid]; ok {
		c.order.Remove(e)
		delete(c.byID, uniqueid)
	}
}

func (c *calls) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// writer saves recordings' metadata asynchronously and in batches, so the
// call path never waits on SQLite. Saves are applied in the order queued.
type writer struct {
	mu      sync.RWMutex // guards closed against a save racing close
	closed  bool
	store   RecordingStore
	log     *slog.Logger
	queue   chan *rules.Recording
	done    chan struct{}
	onError func()
}

// The writer's batching trades call-path latency against SQLite's cost
// per transaction. A batch is written in one burst of CPU (about 20 µs per
// row), and that burst competes with the calls being set up: measured
// against the bare responder on two CPUs at 5,000 calls/s, a 100ms linger
// (a burst of ~250 rows) put the p99 at 2.8-5.5x the bare responder's,
// 20ms at 1.9-2.3x, 10ms at 1.5-1.7x. Capacity at 100 concurrent sessions
// was best at 20ms (0.77-0.84 of bare, against 0.73-0.78 at 100ms and
// 0.73-0.78 at 10ms). The README's Performance section has the runs.
const (
	writerQueue  = 65536
	writerBatch  = 1024
	writerLinger = 20 * time.Millisecond
)

func newWriter(store RecordingStore, log *slog.Logger, onError func()) *writer {
	w := &writer{store: store, log: log, onError: onError,
		queue: make(chan *rules.Recording, writerQueue), done: make(chan struct{})}
	go w.run()
	return w
}

// save queues a copy of r. It never blocks: when the queue is full the
// save is dropped, logged and counted as a store error.
func (w *writer) save(r rules.Recording) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.log.Error("recording metadata dropped: writer closed", "uniqueid", r.UniqueID)
		w.onError()
		return
	}
	select {
	case w.queue <- &r:
	default:
		w.log.Error("recording metadata dropped: writer queue full", "uniqueid", r.UniqueID)
		w.onError()
	}
}

func (w *writer) run() {
	defer close(w.done)
	batch := make([]*rules.Recording, 0, writerBatch)
	for r := range w.queue {
		batch = w.collect(append(batch[:0], r))
		w.flush(coalesce(batch))
	}
}

// collect adds what arrives within writerLinger (up to writerBatch rows),
// so that under load one transaction carries many rows: per-transaction
// cost, not per-row cost, dominates small SQLite writes.
func (w *writer) collect(batch []*rules.Recording) []*rules.Recording {
	linger := time.NewTimer(writerLinger)
	defer linger.Stop()
	for len(batch) < writerBatch {
		select {
		case r, ok := <-w.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		case <-linger.C:
			return batch
		}
	}
	return batch
}

// coalesce keeps only the last save of each channel in a batch (armed,
// then recording, then ended collapse into one row write), in the order
// of those last saves.
func coalesce(batch []*rules.Recording) []*rules.Recording {
	last := make(map[string]int, len(batch))
	for i, r := range batch {
		last[r.UniqueID] = i
	}
	if len(last) == len(batch) {
		return batch
	}
	out := batch[:0]
	for i, r := range batch {
		if last[r.UniqueID] == i {
			out = append(out, r)
		}
	}
	return out
}

func (w *writer) flush(batch []*rules.Recording) {
	err := w.saveWithRetry(batch)
	if err == nil {
		return
	}
	if refused(err) && len(batch) > 1 {
		// The store refused the data, not the write: a row it cannot take
		// must not cost the rest of the batch theirs. Save them one by one.
		for _, r := range batch {
			if err := w.saveWithRetry([]*rules.Recording{r}); err != nil {
				w.log.Error("save recording metadata", "uniqueid", r.UniqueID, "err", err)
				w.onError()
			}
		}
		return
	}
	w.log.Error("save recording metadata", "count", len(batch), "err", err)
	w.onError()
}

// saveWithRetry saves batch, retrying a store that could not write; a
// refusal of the data itself is not retried.
func (w *writer) saveWithRetry(batch []*rules.Recording) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = w.store.SaveRecordings(ctx, batch)
		cancel()
		if err == nil || refused(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return err
}

// refused reports whether the store rejected the data (invalid, or against
// a constraint) rather than failed to write it.
func refused(err error) bool {
	code := rules.ErrorCode(err)
	return code == rules.EINVALID || code == rules.ECONFLICT
}

// close stops accepting saves and waits until everything queued is
// written or ctx is done.
func (w *writer) close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
