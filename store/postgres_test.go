package store

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/recgate/recgate/internal/pgtest"
	"github.com/recgate/recgate/rules"
)

// waitFor polls cond until it holds or 10 seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func setStation(t *testing.T, s *Store, id string, m rules.Mode) {
	t.Helper()
	if _, err := s.UpdateRules(context.Background(), "test", func(rs *rules.RuleSet) error {
		rs.Stations[id] = &rules.Station{ID: id, Modes: rules.ModeSet{rules.Outbound: m}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func modeOf(s *Store, id string) rules.Mode {
	rs := s.current.Load()
	if rs == nil {
		return ""
	}
	return rs.Resolve(id, rules.Outbound).Mode
}

// TestPostgresNotificationReloadsBeforeTheNextCall: a change committed
// by another host reaches this host's snapshot through LISTEN/NOTIFY,
// with no call made to pull it.
func TestPostgresNotificationReloadsBeforeTheNextCall(t *testing.T) {
	dsn := pgtest.New(t)
	d := testDrivers[1]
	reader, writer := d.openAt(t, dsn), d.openAt(t, dsn)
	waitFor(t, "listener connected", func() bool { c, _, _ := reader.ListenerStats(); return c })
	for i, m := range []rules.Mode{rules.Auto, rules.OnDemand, rules.Off} {
		setStation(t, writer, "1001", m)
		start := time.Now()
		waitFor(t, fmt.Sprintf("change %d in the snapshot", i), func() bool { return modeOf(reader, "1001") == m })
		t.Logf("change %d reached the other store in %v", i, time.Since(start))
	}
	if _, n, _ := reader.ListenerStats(); n < 3 {
		t.Errorf("%d notifications, want at least 3", n)
	}
	// A statement from another program (no recgate) notifies too.
	if _, err := writer.db.Exec("UPDATE settings SET default_announce = 1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "raw update in the snapshot", func() bool { return reader.current.Load().Defaults.Announce })
}

// listenerPIDs returns the backends LISTENing on this database.
func listenerPIDs(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.db.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// TestPostgresListenerTerminated: the listener's connection is killed
// (pg_terminate_backend). Calls meanwhile still see every commit (the
// version check); the listener reconnects and notifications resume.
func TestPostgresListenerTerminated(t *testing.T) {
	dsn := pgtest.New(t)
	d := testDrivers[1]
	reader, writer := d.openAt(t, dsn), d.openAt(t, dsn)
	waitFor(t, "listeners connected", func() bool {
		c1, _, _ := reader.ListenerStats()
		c2, _, _ := writer.ListenerStats()
		return c1 && c2 && len(listenerPIDs(t, writer)) == 2
	})
	pids := listenerPIDs(t, writer)
	if len(pids) != 2 {
		t.Fatalf("%d listening backends, want 2 (one per store)", len(pids))
	}
	for _, pid := range pids {
		if _, err := writer.db.Exec("SELECT pg_terminate_backend(?)", pid); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range []rules.Mode{rules.Auto, rules.OnDemand, rules.Off, rules.Auto} {
		setStation(t, writer, "2001", m)
		rs, err := reader.Rules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Resolve("2001", rules.Outbound).Mode; got != m {
			t.Fatalf("change %d: next call resolves %s, want %s", i, got, m)
		}
	}
	waitFor(t, "listener reconnected", func() bool {
		c, _, r := reader.ListenerStats()
		return c && r >= 1
	})
	setStation(t, writer, "2001", rules.OnDemand)
	waitFor(t, "notification after reconnect", func() bool { return modeOf(reader, "2001") == rules.OnDemand })
}

// TestPostgresOutage: the server stops. Calls are answered from the last
// snapshot within their deadline, recordings' metadata waits in the
// outbox, /readyz's Ping fails; the server comes back and the metadata is
// written, with nothing left over (goroutines, connections).
func TestPostgresOutage(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	ctx := context.Background()
	before := runtime.NumGoroutine()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	setStation(t, s, "1001", rules.Auto)
	good, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ob := NewOutbox(s, 50, nil)
	save := func(from, to int) {
		for i := from; i < to; i++ {
			now := time.Now()
			r := &rules.Recording{UniqueID: fmt.Sprintf("1795511818.%d", i), Station: "1001", Direction: rules.Outbound,
				Mode: rules.Auto, Trigger: rules.TriggerAuto, State: rules.StateRecording, StartedAt: &now}
			if err := ob.SaveRecordings(ctx, []*rules.Recording{r}); err != nil {
				t.Fatalf("save %d: %v", i, err)
			}
		}
	}
	save(0, 10)

	srv.Stop()
	for i := 0; i < 20; i++ {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		start := time.Now()
		rs, err := s.Rules(dctx)
		cancel()
		if el := time.Since(start); el > time.Second {
			t.Fatalf("call %d held %v with the database down", i, el)
		}
		if rs != good {
			t.Fatalf("call %d: snapshot %p, want the last one %p (err %v)", i, rs, good, err)
		}
		if i > 0 && rules.ErrorCode(err) != rules.EUNAVAILABLE {
			t.Fatalf("call %d: err %v, want %s", i, err, rules.EUNAVAILABLE)
		}
	}
	if err := s.Ping(ctx); rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Errorf("Ping with the database down: %v", err)
	}
	save(10, 70) // 60 rows into a queue of 50: 10 dropped
	if p, dr := ob.Pending(), ob.Dropped(); p != 50 || dr != 10 {
		t.Errorf("pending %d, dropped %d; want 50, 10", p, dr)
	}
	// A channel's later state replaces its queued one.
	ended := time.Now()
	late := &rules.Recording{UniqueID: "1795511818.15", Station: "1001", Direction: rules.Outbound, Mode: rules.Auto,
		Trigger: rules.TriggerAuto, State: rules.StateEnded, EndedAt: &ended, Answered: ptr(true)}
	if err := ob.SaveRecordings(ctx, []*rules.Recording{late}); err != nil {
		t.Fatal(err)
	}
	if got, err := ob.RecordingByUniqueID(ctx, late.UniqueID); err != nil || got.State != rules.StateEnded {
		t.Errorf("queued state = %+v, %v", got, err)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "outbox written", func() bool { return ob.Pending() == 0 })
	recs, err := s.Recordings(ctx, RecordingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 60 {
		t.Errorf("%d recordings after the outage, want 60 (10 before, 50 queued)", len(recs))
	}
	if got, err := s.RecordingByUniqueID(ctx, late.UniqueID); err != nil || got.State != rules.StateEnded {
		t.Errorf("after the outage: %+v, %v; want state ended", got, err)
	}
	// Rules are checked again, and a change made now is seen.
	setStation(t, s, "1001", rules.Off)
	if rs, err := s.Rules(ctx); err != nil || rs.Resolve("1001", rules.Outbound).Mode != rules.Off {
		t.Fatalf("after the outage: %v", err)
	}
	waitFor(t, "listener back", func() bool { c, _, _ := s.ListenerStats(); return c })
	waitFor(t, "connections returned to the pool", func() bool { return s.db.Stats().InUse == 0 })
	if st := s.db.Stats(); st.OpenConnections > 16 {
		t.Errorf("connections after the outage: %+v", st)
	}
	if err := ob.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= before })
}

// TestOutboxRefusedRowCostsOnlyItself: a row the store refuses is logged
// and dropped from the queue; the others are written.
func TestOutboxRefusedRowCostsOnlyItself(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		ctx := context.Background()
		ob := NewOutbox(s, 10, nil)
		good := &rules.Recording{UniqueID: "1.1", Station: "1001", Mode: rules.Auto, State: rules.StateRecording}
		bad := &rules.Recording{UniqueID: "1.2", Station: "1001", Mode: rules.Auto, State: "exploded"}
		err := ob.SaveRecordings(ctx, []*rules.Recording{good, bad})
		if rules.ErrorCode(err) != rules.ECONFLICT {
			t.Fatalf("direct write of a bad row: %v, want %s", err, rules.ECONFLICT)
		}
		if ob.Pending() != 0 {
			t.Errorf("a refused batch was queued")
		}
		if err := ob.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(ob.ctx.Err(), context.Canceled) {
			t.Errorf("outbox writer not stopped")
		}
	})
}

// TestPostgresVersionBumpsOncePerTransaction: however many statements a
// transaction runs on the rules tables, rules_version moves once (an
// import of many stations must not update one row per statement), and
// every committed transaction moves it.
func TestPostgresVersionBumpsOncePerTransaction(t *testing.T) {
	s := testDrivers[1].openNew(t, withoutListener())
	ctx := context.Background()
	version := func() int64 {
		var n int64
		if err := s.db.QueryRow("SELECT n FROM rules_version WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for round := 0; round < 2; round++ {
		before := version()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 50; i++ {
			if _, err := tx.Exec("INSERT INTO stations (id) VALUES (?)", fmt.Sprintf("%d-%d", round, i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec("UPDATE settings SET default_announce = 1"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := version(); got != before+1 {
			t.Errorf("round %d: version %d -> %d, want one step", round, before, got)
		}
	}
	// A statement on its own (autocommit) is a transaction too.
	before := version()
	if _, err := s.db.Exec("DELETE FROM stations WHERE id = '0-1'"); err != nil {
		t.Fatal(err)
	}
	if got := version(); got != before+1 {
		t.Errorf("autocommit: version %d -> %d", before, got)
	}
}

// TestPostgresSlowReturnsLastSnapshot: a database that holds the version
// check (here a lock another session keeps on rules_version) costs a call
// no more than its deadline: it gets the last snapshot and
// rules.EUNAVAILABLE, later calls do not queue behind the stuck check, and
// once the lock goes the next check answers again.
func TestPostgresSlowReturnsLastSnapshot(t *testing.T) {
	dsn := pgtest.New(t)
	s := testDrivers[1].openAt(t, dsn, withoutListener())
	ctx := context.Background()
	setStation(t, s, "1001", rules.Auto)
	good, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := testDrivers[1].openAt(t, dsn, withoutListener())
	tx, err := other.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("LOCK TABLE rules_version IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		start := time.Now()
		rs, err := s.Rules(dctx)
		cancel()
		if el := time.Since(start); el > time.Second {
			t.Fatalf("call %d held %v behind a slow database", i, el)
		}
		if rs != good || rules.ErrorCode(err) != rules.EUNAVAILABLE {
			t.Fatalf("call %d: %p, %v; want the last snapshot %p and %s", i, rs, err, good, rules.EUNAVAILABLE)
		}
	}
	tx.Rollback()
	waitFor(t, "checks answer again", func() bool {
		rs, err := s.Rules(ctx)
		return err == nil && rs == good
	})
	waitFor(t, "connections returned", func() bool { return s.db.Stats().InUse == 0 })
}
