// Package store owns recgate's SQLite database: the schema and its
// migrations, the rules (stations, groups, per-direction modes, defaults),
// the recordings' metadata and the audit log of every rule change.
//
// The rules used on the call path are an immutable *rules.RuleSet snapshot
// held behind an atomic pointer and reloaded only when the database changed
// (PRAGMA data_version), so a change committed by any process applies to the
// very next call while an unchanged database costs one cheap query at most.
// Every exported method owns its transaction; driver errors come back with
// rules.Error codes.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/recgate/recgate/rules"
)

// dsnParams are set on every pooled connection by the driver: a busy
// timeout instead of immediate SQLITE_BUSY, foreign keys enforced, and
// BEGIN IMMEDIATE for write transactions so that two writers never
// deadlock upgrading a read lock. WAL (readers never wait for writers) is
// a property of the file, set once after the migrations: switching the
// journal mode from the DSN on every connection races when two processes
// open a new file at once ("database is locked").
const dsnParams = "_busy_timeout=5000&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL"

// Store is recgate's SQLite store. It is safe for concurrent use.
type Store struct {
	path string
	file os.FileInfo // the database file opened, to notice it being deleted or replaced
	db   *sql.DB

	// ctx bounds the store's own background work; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// The rules snapshot and its change detection. rulesConn, versionStmt,
	// version, lastCheck and closed are owned by whoever holds checkSem
	// (a one-slot semaphore: send to acquire, receive to release).
	current      atomic.Pointer[rules.RuleSet]
	checkSem     chan struct{}
	rulesConn    *sql.Conn
	versionStmt  driver.Stmt // PRAGMA data_version on rulesConn, used only inside rulesConn.Raw
	rulesVerStmt driver.Stmt // the rules' change counter, likewise
	rulesVer     int64       // rules_version of the current snapshot
	version      int64
	lastCheck    checkResult
	fileChecked  time.Time // when checkFile last succeeded
	closed       bool

	loadedAt atomic.Int64 // unix nanoseconds of the last reload

	reloads atomic.Int64 // full rule reloads, read by tests
	checks  atomic.Int64 // data_version checks, read by tests

	now func() time.Time

	// testHookCheck, when set by a test, runs at the start of every rules
	// check (e.g. to stand for a check stuck on a lock).
	testHookCheck func()
}

// Option configures Open.
type Option func(*openOptions)

type openOptions struct {
	group string
}

// WithGroup makes a database that Open creates readable by the named
// group (a name or a numeric id): mode 0640 and that group instead of
// 0600. An existing database keeps its mode and owner.
func WithGroup(group string) Option {
	return func(o *openOptions) { o.group = group }
}

// Open opens (creating it if missing) the SQLite database at path, applies
// the pending migrations and loads the rules. A database it creates is
// readable by its owner only (0600, or 0640 with WithGroup): it holds
// callers' numbers. SQLite gives the -wal and -shm files the database's
// mode.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, rules.Errorf(rules.EINVALID, "store: open: invalid database path %q", path)
	}
	var o openOptions
	for _, opt := range opts {
		opt(&o)
	}
	gid := -1
	if o.group != "" {
		g, err := lookupGroup(o.group)
		if err != nil {
			return nil, rules.Errorf(rules.EINVALID, "store: open: store.group %q: %v", o.group, err)
		}
		gid = g
	}
	if err := createFile(path, gid); err != nil {
		return nil, unavailable("open", err)
	}
	db, err := sql.Open("sqlite3", path+"?"+dsnParams)
	if err != nil {
		return nil, wrap("open", err)
	}
	s := &Store{path: path, db: db, checkSem: make(chan struct{}, 1), now: time.Now}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.open(ctx); err != nil {
		s.cancel()
		if s.rulesConn != nil {
			s.rulesConn.Close()
		}
		db.Close()
		return nil, err
	}
	return s, nil
}

// createFile creates the database file at path, if missing, with mode
// 0600 (0640 and group gid when gid is not -1), before SQLite would create
// it with the process's umask.
func createFile(path string, gid int) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if gid >= 0 {
		if err := f.Chown(-1, gid); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("give the database to group %d: %w", gid, err)
		}
		if err := f.Chmod(0o640); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
	}
	return f.Close()
}

// lookupGroup returns the id of group, a name or a number.
func lookupGroup(group string) (int, error) {
	if id, err := strconv.Atoi(group); err == nil {
		return id, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

func (s *Store) open(ctx context.Context) error {
	if err := migrate(ctx, s.db, s.now); err != nil {
		return err
	}
	if err := enableWAL(ctx, s.db); err != nil {
		return err
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return wrap("open", err)
	}
	s.file = fi
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return wrap("open rules connection", err)
	}
	s.rulesConn = conn
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare", dc)
		}
		if s.versionStmt, err = c.PrepareContext(ctx, "PRAGMA data_version"); err != nil {
			return err
		}
		s.rulesVerStmt, err = c.PrepareContext(ctx, "SELECT n FROM rules_version WHERE id = 1")
		return err
	})
	if err != nil {
		return wrap("prepare data_version", err)
	}
	if err := s.refresh(ctx); err != nil {
		return fmt.Errorf("store: open: %w", err)
	}
	return nil
}

// enableWAL puts the database file in WAL mode (persistent), retrying
// while another process holds the lock a journal-mode change needs.
func enableWAL(ctx context.Context, db *sql.DB) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		var mode string
		if err = db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err == nil {
			if mode != "wal" {
				return rules.Errorf(rules.EUNAVAILABLE, "store: open: journal mode is %q, not wal", mode)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return wrap("enable WAL", ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return wrap("enable WAL", err)
}

// Close waits for an in-flight rules check, then closes the database.
func (s *Store) Close() error {
	s.cancel()
	s.checkSem <- struct{}{} // an in-flight check holds the semaphore until done
	if s.closed {
		<-s.checkSem
		return nil
	}
	s.closed = true
	<-s.checkSem
	var errs []error
	if s.versionStmt != nil {
		errs = append(errs, s.rulesConn.Raw(func(any) error { return s.versionStmt.Close() }))
	}
	if s.rulesVerStmt != nil {
		errs = append(errs, s.rulesConn.Raw(func(any) error { return s.rulesVerStmt.Close() }))
	}
	errs = append(errs, s.rulesConn.Close(), s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return wrap("close", err)
	}
	return nil
}

// Ping reports whether the store is readable: the database file exists and
// a query on the rules tables succeeds. It backs /readyz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkFile(); err != nil {
		return unavailable("ping", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM stations LIMIT 1)").Scan(&n); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// checkFile reports an error when the database file at path is no longer
// the one the store opened: deleted, or replaced (e.g. restored from a
// backup). The open connections would go on reading the old file and never
// see a change committed to the new one.
// fileCheckEvery bounds how often the rules check stats the database file.
const fileCheckEvery = 250 * time.Millisecond

func (s *Store) checkFile() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, s.file) {
		return fmt.Errorf("database file %s was replaced: restart to open the new one", s.path)
	}
	return nil
}
