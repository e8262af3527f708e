package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"github.com/recgate/recgate/rules"
)

// checkResult is the outcome of the last completed data_version check.
type checkResult struct {
	started time.Time // when the check began (monotonic clock)
	err     error
}

var errClosed = rules.Errorf(rules.EUNAVAILABLE, "store is closed")

// Rules returns the current rules snapshot. The snapshot is shared and
// immutable: callers must not modify it (Clone it first).
//
// Every change committed before the call began, by any connection or
// process, is in the returned snapshot. To guarantee that cheaply, a call
// waits for a data_version check that started after the call arrived: one
// such check serves every caller queued behind it, and when data_version did
// not move no rule is read.
//
// When ctx ends first, or the check or reload fails (database locked,
// deleted, corrupt), Rules returns the last snapshot that loaded (nil when
// none ever did) with an error of code rules.EUNAVAILABLE, so the caller
// chooses between that snapshot and its fallback. A check that outlives ctx
// finishes in the background and publishes its result.
func (s *Store) Rules(ctx context.Context) (*rules.RuleSet, error) {
	arrived := time.Now()
	if err := ctx.Err(); err != nil {
		return s.stale(err)
	}
	select {
	case s.checkSem <- struct{}{}:
	case <-ctx.Done():
		return s.stale(ctx.Err())
	}
	if s.closed {
		<-s.checkSem
		return s.stale(errClosed)
	}
	if last := s.lastCheck; last.started.After(arrived) {
		// A check that began after this call arrived has completed: it saw
		// every commit this call must see.
		<-s.checkSem
		return s.result(last.err)
	}
	done := make(chan error, 1)
	go func() { // owns the semaphore until the check is over
		started := time.Now()
		err := s.refresh(s.ctx)
		s.lastCheck = checkResult{started: started, err: err}
		<-s.checkSem
		done <- err
	}()
	select {
	case err := <-done:
		return s.result(err)
	case <-ctx.Done():
		select {
		case err := <-done:
			return s.result(err)
		default:
			return s.stale(ctx.Err())
		}
	}
}

func (s *Store) result(err error) (*rules.RuleSet, error) {
	if err != nil {
		return s.stale(err)
	}
	return s.current.Load(), nil
}

func (s *Store) stale(err error) (*rules.RuleSet, error) {
	return s.current.Load(), unavailable("rules", err)
}

// refresh reloads the snapshot when data_version says another connection
// committed since the last load. The caller holds checkSem (or is Open).
func (s *Store) refresh(ctx context.Context) error {
	s.checks.Add(1)
	if s.testHookCheck != nil {
		s.testHookCheck()
	}
	// The file's identity is checked at most every fileCheckEvery: a
	// stat per call costs more than the data_version query itself, and a
	// deleted or replaced file only needs noticing soon, not per call.
	if now := time.Now(); now.Sub(s.fileChecked) >= fileCheckEvery {
		if err := s.checkFile(); err != nil {
			return err
		}
		s.fileChecked = now
	}
	v, err := queryInt(s.rulesConn, s.versionStmt)
	if err != nil {
		return fmt.Errorf("check data_version: %w", err)
	}
	if v == s.version && s.current.Load() != nil {
		return nil
	}
	// Something was committed: the rules, or (far more often) recordings'
	// metadata. The rules' own counter tells which.
	rv, err := queryInt(s.rulesConn, s.rulesVerStmt)
	if err != nil {
		return fmt.Errorf("check rules_version: %w", err)
	}
	if rv == s.rulesVer && s.current.Load() != nil {
		s.version = v
		return nil
	}
	// A commit landing between these reads and the load is in the
	// snapshot but not in the counters: the next check reloads once more,
	// harmlessly. A commit is never missed: the counters are read before.
	rs, err := readRules(ctx, s.rulesConn)
	if err != nil {
		return fmt.Errorf("reload rules: %w", err)
	}
	s.version, s.rulesVer = v, rv
	s.current.Store(rs)
	s.loadedAt.Store(time.Now().UnixNano())
	s.reloads.Add(1)
	return nil
}

// queryInt runs a prepared one-integer query on the rules connection
// through the driver directly: database/sql would start a goroutine for
// every query on a connection whose context can be cancelled, which cost
// more than the query. It runs under context.Background (the driver then
// starts no interrupt watcher either) and so cannot be interrupted, which is why Rules runs every check in a goroutine of its
// own and waits for it only until the caller's deadline. The caller holds
// checkSem.
func queryInt(conn *sql.Conn, stmt driver.Stmt) (int64, error) {
	var v int64
	err := conn.Raw(func(any) error {
		q, ok := stmt.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("driver statement %T cannot query", stmt)
		}
		rows, err := q.QueryContext(context.Background(), nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, 1)
		if err := rows.Next(dest); err != nil {
			return err
		}
		n, ok := dest[0].(int64)
		if !ok {
			return fmt.Errorf("got %T, not an integer", dest[0])
		}
		v = n
		return nil
	})
	return v, err
}

// RulesLoadedAt returns when the current snapshot was loaded (for the
// recgate_rules_loaded_timestamp_seconds metric).
func (s *Store) RulesLoadedAt() time.Time {
	return time.Unix(0, s.loadedAt.Load())
}

// LoadRules reads the whole rule set from the database, bypassing the
// snapshot. The result belongs to the caller.
func (s *Store) LoadRules(ctx context.Context) (*rules.RuleSet, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, wrap("load rules", err)
	}
	defer conn.Close()
	rs, err := readRules(ctx, conn)
	if err != nil {
		return nil, wrap("load rules", err)
	}
	return rs, nil
}

// readRules loads the rules in one read transaction, so the four queries
// see one consistent state. BEGIN is issued by hand: the DSN makes
// database/sql transactions IMMEDIATE (writers), which a read must not be.
func readRules(ctx context.Context, conn *sql.Conn) (*rules.RuleSet, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return nil, err
	}
	rs, err := loadRules(ctx, conn)
	// End the read transaction even when ctx is over; the connection is
	// reused. A failed BEGIN leaves nothing to roll back.
	if _, rerr := conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// querier is what loadRules needs from a *sql.Conn or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadRules builds a RuleSet with one query per table.
func loadRules(ctx context.Context, q querier) (*rules.RuleSet, error) {
	rs := &rules.RuleSet{Tenants: map[string]*rules.Tenant{}, Stations: map[string]*rules.Station{}}
	if err := q.QueryRowContext(ctx, "SELECT default_announce FROM settings WHERE id = 1").Scan(&rs.Defaults.Announce); err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	if err := loadTenants(ctx, q, rs); err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	if err := loadGroups(ctx, q, rs); err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	if err := loadStations(ctx, q, rs); err != nil {
		return nil, fmt.Errorf("read stations: %w", err)
	}
	if err := loadModes(ctx, q, rs); err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return rs, nil
}

func loadTenants(ctx context.Context, q querier, rs *rules.RuleSet) error {
	rows, err := q.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return err
		}
		rs.Tenants[t.ID] = t
	}
	return rows.Err()
}

func loadGroups(ctx context.Context, q querier, rs *rules.RuleSet) error {
	rows, err := q.QueryContext(ctx, "SELECT "+groupColumns+" FROM groups")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		tenant, g, err := scanGroup(rows)
		if err != nil {
			return err
		}
		if t := rs.Tenants[tenant]; t != nil {
			t.Groups[g.Name] = g
		}
	}
	return rows.Err()
}

func loadStations(ctx context.Context, q querier, rs *rules.RuleSet) error {
	rows, err := q.QueryContext(ctx, "SELECT "+stationColumns+" FROM stations")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		st, err := scanStation(rows)
		if err != nil {
			return err
		}
		rs.Stations[st.ID] = st
	}
	return rows.Err()
}

func loadModes(ctx context.Context, q querier, rs *rules.RuleSet) error {
	rows, err := q.QueryContext(ctx, "SELECT tenant, station_id, group_name, direction, mode FROM rules")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tenant, station, group sql.NullString
			d                      rules.Direction
			m                      rules.Mode
		)
		if err := rows.Scan(&tenant, &station, &group, &d, &m); err != nil {
			return err
		}
		switch {
		case station.Valid:
			if st := rs.Stations[station.String]; st != nil {
				st.Modes = setMode(st.Modes, d, m)
			}
		case group.Valid:
			if g := rs.Group(tenant.String, group.String); g != nil {
				g.Modes = setMode(g.Modes, d, m)
			}
		case tenant.Valid:
			if t := rs.Tenants[tenant.String]; t != nil {
				t.Modes = setMode(t.Modes, d, m)
			}
		default:
			rs.Defaults.Modes = setMode(rs.Defaults.Modes, d, m)
		}
	}
	return rows.Err()
}

func setMode(ms rules.ModeSet, d rules.Direction, m rules.Mode) rules.ModeSet {
	if ms == nil {
		ms = make(rules.ModeSet, 4)
	}
	ms[d] = m
	return ms
}

func boolPtr(b sql.NullBool) *bool {
	if !b.Valid {
		return nil
	}
	v := b.Bool
	return &v
}

func intPtr(i sql.NullInt64) *int {
	if !i.Valid {
		return nil
	}
	v := int(i.Int64)
	return &v
}
