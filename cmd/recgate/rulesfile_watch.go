package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/recgate/recgate/store"
)

// rulesFileActor is the audit log's actor for changes from rules_file.
const rulesFileActor = "rules_file"

// rulesFileWatcher applies the configured rules file at start and whenever
// its content changes. The file is then the source of truth: a change made
// with the CLI is replaced by the file's content at its next change.
type rulesFileWatcher struct {
	path  string
	store *store.Store
	log   *slog.Logger
	last  [sha256.Size]byte
}

func newRulesFileWatcher(path string, st *store.Store, log *slog.Logger) *rulesFileWatcher {
	return &rulesFileWatcher{path: path, store: st, log: log}
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
		case <-t.C:
			w.apply(ctx)
		}
	}
}

// apply imports the file when its content changed since the last attempt.
func (w *rulesFileWatcher) apply(ctx context.Context) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.log.Error("rules_file: read", "path", w.path, "err", err)
		return
	}
	sum := sha256.Sum256(data)
	if sum == w.last {
		return
	}
	w.last = sum
	changes, err := importRules(ctx, w.store, bytes.NewReader(data), w.path, rulesFileActor)
	if err != nil {
		w.log.Error("rules_file: not applied; the rules in the store stay in force", "path", w.path, "err", err)
		return
	}
	w.log.Info("rules_file applied", "path", w.path, "changes", len(changes))
}

// importRules applies a rules file (see importFile), audited as actor.
func importRules(ctx context.Context, st *store.Store, r io.Reader, name, actor string) ([]store.Change, error) {
	return importFile(ctx, st, r, name, actor, "", false)
}
