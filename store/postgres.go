package store

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCheckTimeout bounds one rules check on PostgreSQL (the version query
// and, when it moved, the reload). Callers wait only until their own
// deadline (agi.decision_timeout); this keeps a check against a database
// that stopped answering from holding every later check.
const pgCheckTimeout = 2 * time.Second

// notifyChannel is the channel migration 0003's triggers notify on commit.
const notifyChannel = "recgate_rules"

// Listener timing: a connection is probed when quiet for listenPing; a
// lost one is reconnected after a back-off from listenBackoffMin doubling
// to listenBackoffMax, with jitter so that a fleet does not reconnect in
// step.
const (
	listenPing       = 15 * time.Second
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 10 * time.Second
)

// pgState is what a PostgreSQL store has beyond the shared code: its
// connection configuration and the change listener.
type pgState struct {
	cfg *pgx.ConnConfig
	dsn string // redacted, for logs
	log *slog.Logger
	wg  sync.WaitGroup

	listening     atomic.Bool
	notifications atomic.Int64
	reconnects    atomic.Int64

	// versionConn is the connection the rules checks read rules_version
	// on, owned by whoever holds the store's checkSem; nil until the first
	// check and after a failed one.
	versionConn *pgx.Conn
}

// rulesVersion reads the rules' change counter on the store's own check
// connection, bounded by pgCheckTimeout (and ctx): a pool busy with
// recordings' writes or API requests never delays the call path's check.
// The query runs under
// context.Background with a deadline on the socket instead: pgx then
// starts no goroutine to watch a context, which on every call cost more
// than the query. A connection that failed is closed; the next check
// opens another. The caller holds checkSem.
func (p *pgState) rulesVersion(ctx context.Context) (int64, error) {
	if p.versionConn == nil {
		cctx, cancel := context.WithTimeout(ctx, pgCheckTimeout)
		c, err := pgx.ConnectConfig(cctx, p.cfg)
		cancel()
		if err != nil {
			return 0, err
		}
		p.versionConn = c
	}
	deadline := time.Now().Add(pgCheckTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc := p.versionConn.PgConn().Conn()
	nc.SetDeadline(deadline)
	var n int64
	err := p.versionConn.QueryRow(context.Background(), "SELECT n FROM rules_version WHERE id = 1").Scan(&n)
	if err != nil {
		p.closeVersionConn()
		return 0, err
	}
	nc.SetDeadline(time.Time{})
	return n, nil
}

// closeVersionConn closes the check connection. The caller holds checkSem.
func (p *pgState) closeVersionConn() {
	if p.versionConn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		p.versionConn.Close(ctx)
		cancel()
		p.versionConn = nil
	}
}

// OpenPostgres opens the PostgreSQL database named by dsn (see
// ParsePostgresDSN), applies the pending migrations under an advisory
// lock, loads the rules and starts the change listener: a connection that
// LISTENs for the notification every commit to the rules sends, and
// reloads the snapshot when it comes. The version check every Rules call
// makes stays the guarantee: a notification lost, or a listener that lost
// its connection (it reconnects with back-off), delays nothing a call sees.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := ParsePostgresDSN(dsn)
	if err != nil {
		return nil, err
	}
	o := openOptions{maxConns: 16}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db := sql.OpenDB(newPGConnector(cfg))
	db.SetMaxOpenConns(o.maxConns)
	db.SetMaxIdleConns(o.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{driver: DriverPostgres, db: db, checkSem: make(chan struct{}, 1), now: time.Now, hostID: o.hostID,
		pg: &pgState{cfg: cfg, dsn: RedactDSN(dsn), log: o.logger}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.openPostgres(ctx); err != nil {
		s.cancel()
		db.Close()
		return nil, err
	}
	if !o.noListen {
		s.pg.wg.Add(1)
		go s.listen()
	}
	return s, nil
}

func (s *Store) openPostgres(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return unavailable("connect to "+s.pg.dsn, err)
	}
	if err := migrate(ctx, s.db, s.now, DriverPostgres); err != nil {
		return err
	}
	if err := s.refresh(ctx); err != nil {
		return wrap("open", err)
	}
	return nil
}

// withoutListener opens a PostgreSQL store without its change listener,
// for tests that must own every rules check.
func withoutListener() Option { return func(o *openOptions) { o.noListen = true } }

// HostID returns the name this host gives the recordings it writes
// (WithHostID): a recording whose row names another host was made there.
func (s *Store) HostID() string { return s.hostID }

// Driver returns the store's driver: DriverSQLite or DriverPostgres.
func (s *Store) Driver() string { return s.driver }

// ListenerStats reports the PostgreSQL change listener: whether it is
// connected now, the notifications it received and how many times it lost
// its connection. All zero on SQLite.
func (s *Store) ListenerStats() (connected bool, notifications, reconnects int64) {
	if s.pg == nil {
		return false, 0, 0
	}
	return s.pg.listening.Load(), s.pg.notifications.Load(), s.pg.reconnects.Load()
}

// listen keeps a LISTEN connection until the store closes.
func (s *Store) listen() {
	defer s.pg.wg.Done()
	backoff := listenBackoffMin
	for {
		connected, err := s.listenOnce()
		s.pg.listening.Store(false)
		if s.ctx.Err() != nil {
			return
		}
		if connected {
			backoff = listenBackoffMin
		}
		s.pg.reconnects.Add(1)
		wait := backoff/2 + rand.N(backoff/2+1)
		s.pg.log.Warn("store: change listener lost its connection; the per-call version check covers until it is back",
			"dsn", s.pg.dsn, "retry_in", wait.Round(time.Millisecond), "err", err)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, listenBackoffMax)
	}
}

// listenOnce connects, LISTENs and reloads on every notification until
// the connection fails or the store closes. connected reports whether the
// LISTEN was in place.
func (s *Store) listenOnce() (connected bool, err error) {
	cctx, cancel := context.WithTimeout(s.ctx, s.pg.cfg.ConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, s.pg.cfg)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(s.ctx, "LISTEN "+notifyChannel); err != nil {
		return false, err
	}
	s.pg.listening.Store(true)
	// What was committed while no one listened.
	s.reloadNow()
	for {
		wctx, cancel := context.WithTimeout(s.ctx, listenPing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.pg.notifications.Add(1)
			s.reloadNow()
			continue
		case s.ctx.Err() != nil:
			return true, s.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgTimeout(err):
			// Quiet: make sure the connection is still there.
			pctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		return true, err
	}
}

func pgTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// reloadNow runs a rules check at once, as Rules would, publishing its
// result to the callers that arrive after it started.
func (s *Store) reloadNow() {
	select {
	case s.checkSem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	defer func() { <-s.checkSem }()
	if s.closed {
		return
	}
	started := time.Now()
	err := s.refresh(s.ctx)
	s.checked(started, err)
	if err != nil {
		s.pg.log.Warn("store: reload after a change notification failed", "err", err)
	}
}

// CheckPostgres connects to the database dsn names and pings it, without
// migrating anything: for `serve --check-config`.
func CheckPostgres(ctx context.Context, dsn string) error {
	cfg, err := ParsePostgresDSN(dsn)
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return unavailable("check "+RedactDSN(dsn), err)
	}
	defer conn.Close(context.Background())
	if err := conn.Ping(ctx); err != nil {
		return unavailable("check "+RedactDSN(dsn), err)
	}
	return nil
}
