package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
	"github.com/recgate/recgate/store"
)

// rulesFileActor is the audit log's actor for changes from rules_file.
const rulesFileActor = "rules_file"

// Back-off of a rules file the store could not take (locked, unavailable):
// retried after 1s, 2s, 4s… up to a minute, and at once on SIGHUP.
const (
	rulesFileMinBackoff = time.Second
	rulesFileMaxBackoff = time.Minute
)

// fileLook is what one look at the rules file saw.
type fileLook struct {
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte
}

// rulesFileWatcher applies the configured rules file at start and whenever
// its content changes. The file is then the source of truth: a change made
// with the CLI is replaced by the file's content at its next change.
//
// The import replaces the whole rule set, so a file still being written
// (an editor's or cp's partial write) would delete every station not yet
// written. A file is applied only once two looks a poll apart saw the same
// size, modification time and content, and it parses. Its hash is
// remembered only once the store took it: a store error is retried with
// back-off (and on SIGHUP); a file that does not parse is not tried again
// until it changes. Every station, group or tenant an application deletes
// is logged as a warning.
type rulesFileWatcher struct {
	path    string
	store   *store.Store
	log     *slog.Logger
	metrics *rulesFileMetrics
	kick    chan struct{}
	now     func() time.Time

	last    *fileLook         // the previous look, if any
	applied [sha256.Size]byte // the content last applied
	refused [sha256.Size]byte // the content last refused as invalid
	hasLast bool
	failed  bool          // the last attempt (read, parse or store) failed
	readErr string        // the last read error logged
	retryAt time.Time     // a store error: no new attempt before this
	backoff time.Duration // the wait after the next store error
}

func newRulesFileWatcher(path string, st *store.Store, log *slog.Logger, m *rulesFileMetrics) *rulesFileWatcher {
	return &rulesFileWatcher{path: path, store: st, log: log, metrics: m, kick: make(chan struct{}, 1),
		now: time.Now, backoff: rulesFileMinBackoff}
}

// start applies the file at start: two looks settle apart.
func (w *rulesFileWatcher) start(ctx context.Context, settle time.Duration) {
	w.poll(ctx)
	select {
	case <-ctx.Done():
	case <-time.After(settle):
		w.poll(ctx)
	}
}

// run polls the file every interval until ctx is done. Polling the
// content, not inotify, survives editors that replace the file and
// configuration management that rewrites it.
func (w *rulesFileWatcher) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
			w.retryAt, w.backoff = time.Time{}, rulesFileMinBackoff
			w.refused = [sha256.Size]byte{}
			w.poll(ctx)
		case <-t.C:
			w.poll(ctx)
		}
	}
}

// retry asks the watcher to try the file again now, forgetting a back-off
// or an earlier refusal (SIGHUP). It never blocks.
func (w *rulesFileWatcher) retry() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// poll looks at the file and applies it when it is new, stable and not
// already refused.
func (w *rulesFileWatcher) poll(ctx context.Context) {
	look, data, err := w.look()
	if err != nil {
		if w.readErr != err.Error() { // once per cause, not every poll
			w.log.Error("rules_file: read", "path", w.path, "err", err)
		}
		w.last, w.readErr = nil, err.Error()
		w.failed = true
		w.metrics.failure()
		return
	}
	w.readErr = ""
	prev := w.last
	w.last = &look
	switch {
	case w.hasLast && look.sum == w.applied && !w.failed:
		// Nothing new. After a failure, the version in force put back
		// (a revert) is applied again, so the metric says 1 once more.
		return
	case prev == nil || *prev != look:
		return // changed since the last look, or first look: wait for it to settle
	case look.sum == w.refused:
		return // refused already; logged then
	case w.now().Before(w.retryAt):
		return // backing off after a store error
	}
	w.apply(ctx, look, data)
}

// look reads the file and what identifies its version.
func (w *rulesFileWatcher) look() (fileLook, []byte, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return fileLook{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileLook{}, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fileLook{}, nil, err
	}
	return fileLook{size: fi.Size(), mtime: fi.ModTime(), sum: sha256.Sum256(data)}, data, nil
}

// apply imports a stable version of the file.
func (w *rulesFileWatcher) apply(ctx context.Context, look fileLook, data []byte) {
	if int64(len(data)) != look.size {
		return // written while read: the next looks decide
	}
	f, err := rulesfile.ParseFile(bytes.NewReader(data), w.path)
	if err != nil {
		w.refused, w.failed = look.sum, true
		w.log.Error("rules_file: not applied; the rules in the store stay in force", "path", w.path, "err", err)
		w.metrics.failure()
		return
	}
	changes, err := applyFile(ctx, w.store, f, w.path, rulesFileActor, false)
	if err != nil {
		w.failed = true
		w.metrics.failure()
		if code := rules.ErrorCode(err); code == rules.EINVALID || code == rules.ECONFLICT {
			w.refused = look.sum
			w.log.Error("rules_file: not applied; the rules in the store stay in force", "path", w.path, "err", err)
			return
		}
		w.retryAt = w.now().Add(w.backoff)
		w.log.Error("rules_file: the store did not take the file; retrying", "path", w.path, "retry_in", w.backoff, "err", err)
		w.backoff = min(2*w.backoff, rulesFileMaxBackoff)
		return
	}
	w.applied, w.hasLast, w.failed = look.sum, true, false
	w.retryAt, w.backoff = time.Time{}, rulesFileMinBackoff
	w.metrics.success(w.now())
	if stations, groups, tenants := deleted(changes); len(stations)+len(groups)+len(tenants) > 0 {
		w.log.Warn("rules_file: applying the file DELETED stations, groups or tenants that were in force; their calls now follow their group or the defaults",
			"path", w.path, "stations", strings.Join(stations, ","), "groups", strings.Join(groups, ","), "tenants", strings.Join(tenants, ","))
	}
	w.log.Info("rules_file applied", "path", w.path, "changes", len(changes))
}

// deleted returns the ids of the stations, the names of the groups and
// the ids of the tenants that changes delete.
func deleted(changes []store.Change) (stations, groups, tenants []string) {
	for _, c := range changes {
		if c.Field != "deleted" {
			continue
		}
		if id, ok := strings.CutPrefix(c.Object, "station:"); ok {
			stations = append(stations, id)
		} else if name, ok := strings.CutPrefix(c.Object, "group:"); ok {
			groups = append(groups, name)
		} else if id, ok := strings.CutPrefix(c.Object, "tenant:"); ok {
			tenants = append(tenants, id)
		}
	}
	return stations, groups, tenants
}

// rulesFileMetrics export the outcome of the rules file's applications.
type rulesFileMetrics struct {
	ok   prometheus.Gauge
	last prometheus.Gauge
}

func newRulesFileMetrics(reg prometheus.Registerer) *rulesFileMetrics {
	m := &rulesFileMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recgate_rules_file_last_apply_successful",
			Help: "Whether the last attempt to apply rules_file succeeded (1) or failed (0): unreadable, invalid, or refused by the store.",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recgate_rules_file_last_apply_success_timestamp_seconds",
			Help: "When rules_file was last applied successfully (0: never since start).",
		}),
	}
	reg.MustRegister(m.ok, m.last)
	return m
}

func (m *rulesFileMetrics) success(now time.Time) {
	m.ok.Set(1)
	m.last.Set(float64(now.UnixNano()) / 1e9)
}

func (m *rulesFileMetrics) failure() { m.ok.Set(0) }
