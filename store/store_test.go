package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/recgate/recgate/rules"
)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "recgate.db") }

func ptr[T any](v T) *T { return &v }

// sampleRules is a small rule set using every feature.
func sampleRules() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults = rules.Defaults{Modes: rules.ModeSet{rules.InboundQueue: rules.Auto}, Announce: true}
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales", RetentionDays: ptr(90)}
	rs.Groups(rules.DefaultTenant)["board"] = &rules.Group{Name: "board", Profile: "management", Announce: ptr(false),
		Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Tenant: rules.DefaultTenant, Name: "Anna (sales desk)", Kind: rules.SIPPhone, Group: "sales"}
	rs.Stations["1002"] = &rules.Station{ID: "1002", Tenant: rules.DefaultTenant, Kind: rules.MobileApp, Group: "sales", Announce: ptr(true),
		Modes: rules.ModeSet{rules.InboundDirect: rules.Auto}}
	rs.Stations["2001"] = &rules.Station{ID: "2001", Tenant: rules.DefaultTenant, Kind: rules.Softphone, Group: "board", RetentionDays: ptr(7)}
	return rs
}

func TestOpenCreatesFileAndMigrationsAreIdempotent(t *testing.T) {
	path := tempDB(t)
	for i := 0; i < 3; i++ {
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		var n, maxV int
		if err := s.db.QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		ms, _ := loadMigrations()
		if n != len(ms) || maxV != ms[len(ms)-1].version {
			t.Errorf("open #%d: %d migrations recorded up to %d, want %d up to %d", i, n, maxV, len(ms), ms[len(ms)-1].version)
		}
		var mode string
		if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var fk int
		if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	path := tempDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), path)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open #%d: %v", i, err)
		}
	}
	s := openTest(t, path)
	ms, _ := loadMigrations()
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Errorf("%d migration rows, %v; want %d", n, err, len(ms))
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	path := tempDB(t)
	s := openTest(t, path)
	if _, err := s.db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', '')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), path)
	if rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Fatalf("Open on a newer schema: %v (code %q), want %s", err, rules.ErrorCode(err), rules.EUNAVAILABLE)
	}
}

func TestOpenBadPath(t *testing.T) {
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "missing-dir", "x.db")); rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Errorf("Open in a missing directory: %v (code %q), want %s", err, rules.ErrorCode(err), rules.EUNAVAILABLE)
	}
	if _, err := Open(context.Background(), "x.db?mode=ro"); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("Open with '?' in the path: %v, want %s", err, rules.EINVALID)
	}
}

func TestUpdateRulesRoundTrip(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	want := sampleRules()
	changes, err := s.UpdateRules(ctx, "alice", func(rs *rules.RuleSet) error {
		*rs = *want.Clone()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := Diff(rules.NewRuleSet(), want); !reflect.DeepEqual(changes, got) {
		t.Errorf("changes = %v\nwant %v", changes, got)
	}
	got, err := s.LoadRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadRules after update:\n got %#v\nwant %#v", got, want)
	}
	audit, err := s.Audit(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(changes) {
		t.Fatalf("%d audit rows, want %d", len(audit), len(changes))
	}
	for i, e := range audit {
		if e.Actor != "alice" || e.Change != changes[i] || e.At.IsZero() || (i > 0 && e.ID <= audit[i-1].ID) {
			t.Errorf("audit[%d] = %+v, want actor alice and change %+v", i, e, changes[i])
		}
	}

	// A second update writes only its difference, through every kind of row.
	changes, err = s.UpdateRules(ctx, "bob", func(rs *rules.RuleSet) error {
		rs.Stations["1001"].Modes = rules.ModeSet{rules.Outbound: rules.Off}  // insert
		rs.Stations["1002"].Modes[rules.InboundDirect] = rules.OnDemand       // update
		delete(rs.Groups(rules.DefaultTenant)["board"].Modes, rules.Outbound) // delete
		rs.Stations["2001"].Group = "sales"                                   // move
		delete(rs.Groups(rules.DefaultTenant), "board")                       // delete group
		delete(rs.Stations, "1002")                                           // delete station
		rs.Defaults.Announce = false                                          // settings
		rs.Groups(rules.DefaultTenant)["sales"].RetentionDays = nil           // unset
		rs.Stations["3001"] = &rules.Station{ID: "3001", Kind: rules.Gateway} // create
		rs.Defaults.Modes[rules.Internal] = rules.Off                         // default insert
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want2 := want.Clone()
	want2.Stations["1001"].Modes = rules.ModeSet{rules.Outbound: rules.Off}
	want2.Stations["2001"].Group = "sales"
	delete(want2.Groups(rules.DefaultTenant), "board")
	delete(want2.Stations, "1002")
	want2.Defaults.Announce = false
	want2.Groups(rules.DefaultTenant)["sales"].RetentionDays = nil
	want2.Stations["3001"] = &rules.Station{ID: "3001", Tenant: rules.DefaultTenant, Kind: rules.Gateway}
	want2.Defaults.Modes[rules.Internal] = rules.Off
	got, err = s.LoadRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("LoadRules after second update:\n got %#v\nwant %#v", got, want2)
	}
	if d := Diff(want, want2); !reflect.DeepEqual(changes, d) {
		t.Errorf("changes = %v\nwant %v", changes, d)
	}
	var orphans int
	if err := s.db.QueryRow("SELECT count(*) FROM rules WHERE group_name = 'board' OR station_id = '1002'").Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("rule rows of deleted owners: %d, %v", orphans, err)
	}
	audit, _ = s.Audit(ctx, time.Time{})
	if n := len(audit); n != len(Diff(nil, want))+len(changes) {
		t.Errorf("%d audit rows, want %d", n, len(Diff(nil, want))+len(changes))
	}

	// No difference: nothing written, no audit.
	changes, err = s.UpdateRules(ctx, "carol", func(*rules.RuleSet) error { return nil })
	if err != nil || changes != nil {
		t.Errorf("no-op update = %v, %v; want no changes", changes, err)
	}
}

func TestUpdateRulesInvalidWritesNothing(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "alice", sampleRules()); err != nil {
		t.Fatal(err)
	}
	before, _ := s.LoadRules(ctx)
	auditBefore, _ := s.Audit(ctx, time.Time{})
	fnErr := rules.Errorf(rules.ENOTFOUND, "no such station")
	tests := []struct {
		name string
		fn   func(*rules.RuleSet) error
		code string
	}{
		{"unknown group", func(rs *rules.RuleSet) error {
			rs.Stations["1001"].Group = "nope"
			return nil
		}, rules.EINVALID},
		{"bad mode", func(rs *rules.RuleSet) error {
			rs.Stations["1001"].Modes = rules.ModeSet{rules.Outbound: "sometimes"}
			rs.Stations["9"] = &rules.Station{ID: "9"}
			return nil
		}, rules.EINVALID},
		{"bad station id", func(rs *rules.RuleSet) error {
			rs.Stations["a/../b"] = &rules.Station{ID: "a/../b"}
			return nil
		}, rules.EINVALID},
		{"fn error", func(rs *rules.RuleSet) error {
			rs.Stations["9"] = &rules.Station{ID: "9"}
			return fnErr
		}, rules.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes, err := s.UpdateRules(ctx, "mallory", tt.fn)
			if rules.ErrorCode(err) != tt.code || changes != nil {
				t.Fatalf("UpdateRules = %v, %v (code %q); want code %s", changes, err, rules.ErrorCode(err), tt.code)
			}
			after, _ := s.LoadRules(ctx)
			if !reflect.DeepEqual(after, before) {
				t.Errorf("rules changed by a failed update")
			}
			if a, _ := s.Audit(ctx, time.Time{}); len(a) != len(auditBefore) {
				t.Errorf("audit grew by a failed update: %d rows, want %d", len(a), len(auditBefore))
			}
		})
	}
}

func TestReplaceRules(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	first := sampleRules()
	if _, err := s.ReplaceRules(ctx, "import", first); err != nil {
		t.Fatal(err)
	}
	second := rules.NewRuleSet()
	second.Groups(rules.DefaultTenant)["support"] = &rules.Group{Name: "support", Profile: "customer-service"}
	second.Stations["1001"] = &rules.Station{ID: "1001", Tenant: rules.DefaultTenant, Kind: rules.SIPPhone, Group: "support"}
	changes, err := s.ReplaceRules(ctx, "import", second)
	if err != nil {
		t.Fatal(err)
	}
	if want := Diff(first, second); !reflect.DeepEqual(changes, want) {
		t.Errorf("changes = %v\nwant %v", changes, want)
	}
	got, _ := s.LoadRules(ctx)
	if !reflect.DeepEqual(got, second) {
		t.Errorf("after replace:\n got %#v\nwant %#v", got, second)
	}
	bad := second.Clone()
	bad.Groups(rules.DefaultTenant)["x"] = &rules.Group{Name: "x", Profile: "no-such-profile"}
	if _, err := s.ReplaceRules(ctx, "import", bad); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("replace with unknown profile: %v, want %s", err, rules.EINVALID)
	}
	if _, err := s.ReplaceRules(ctx, "import", nil); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("replace with nil: %v, want %s", err, rules.EINVALID)
	}
	if got, _ := s.LoadRules(ctx); !reflect.DeepEqual(got, second) {
		t.Errorf("failed replace changed the rules")
	}
}

func TestDiff(t *testing.T) {
	base := sampleRules()
	tests := []struct {
		name string
		edit func(rs *rules.RuleSet)
		want []Change
	}{
		{"none", func(*rules.RuleSet) {}, nil},
		{"default mode and announce", func(rs *rules.RuleSet) {
			rs.Defaults.Announce = false
			rs.Defaults.Modes[rules.Outbound] = rules.OnDemand
			delete(rs.Defaults.Modes, rules.InboundQueue)
		}, []Change{
			{"", "default", "announce", "yes", "no"},
			{"", "default", "outbound", "", "ondemand"},
			{"", "default", "inbound_queue", "auto", ""},
		}},
		{"station fields", func(rs *rules.RuleSet) {
			st := rs.Stations["1001"]
			st.Name, st.Kind, st.Group = "", rules.Softphone, "board"
			st.Announce, st.RetentionDays = ptr(false), ptr(30)
		}, []Change{
			{"default", "station:1001", "name", "Anna (sales desk)", ""},
			{"default", "station:1001", "kind", "sip_phone", "softphone"},
			{"default", "station:1001", "group", "sales", "board"},
			{"default", "station:1001", "announce", "", "no"},
			{"default", "station:1001", "retention_days", "", "30"},
		}},
		{"group fields", func(rs *rules.RuleSet) {
			g := rs.Groups(rules.DefaultTenant)["board"]
			g.Profile, g.Announce, g.RetentionDays = "", nil, ptr(0)
			g.Modes[rules.Outbound] = rules.Auto
			g.Modes[rules.Internal] = rules.Off
		}, []Change{
			{"default", "group:board", "profile", "management", ""},
			{"default", "group:board", "announce", "no", ""},
			{"default", "group:board", "retention_days", "", "0"},
			{"default", "group:board", "outbound", "ondemand", "auto"},
			{"default", "group:board", "internal", "", "off"},
		}},
		{"created and deleted, groups before stations, sorted", func(rs *rules.RuleSet) {
			delete(rs.Stations, "2001")
			delete(rs.Groups(rules.DefaultTenant), "board")
			rs.Stations["0999"] = &rules.Station{ID: "0999", Kind: rules.Gateway, Modes: rules.ModeSet{rules.Internal: rules.Auto}}
			rs.Groups(rules.DefaultTenant)["a-team"] = &rules.Group{Name: "a-team"}
		}, []Change{
			{"default", "group:a-team", "created", "", ""},
			{"default", "group:board", "deleted", "", ""},
			{"default", "group:board", "profile", "management", ""},
			{"default", "group:board", "announce", "no", ""},
			{"default", "group:board", "outbound", "ondemand", ""},
			{"default", "station:0999", "created", "", ""},
			{"default", "station:0999", "kind", "", "gateway"},
			{"default", "station:0999", "internal", "", "auto"},
			{"default", "station:2001", "deleted", "", ""},
			{"default", "station:2001", "kind", "softphone", ""},
			{"default", "station:2001", "group", "board", ""},
			{"default", "station:2001", "retention_days", "7", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base.Clone()
			tt.edit(next)
			got := Diff(base, next)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff:\n got %v\nwant %v", got, tt.want)
			}
			if again := Diff(base, next); !reflect.DeepEqual(again, got) {
				t.Errorf("Diff is not stable")
			}
		})
	}
	if got := Diff(nil, nil); got != nil {
		t.Errorf("Diff(nil, nil) = %v", got)
	}
}

func TestRulesSeesOtherProcessCommitOnNextCall(t *testing.T) {
	path := tempDB(t)
	reader, writer := openTest(t, path), openTest(t, path)
	ctx := context.Background()
	rs, err := reader.Rules(ctx)
	if err != nil || rs == nil {
		t.Fatalf("Rules = %v, %v", rs, err)
	}
	if got := rs.Resolve("1001", rules.Outbound); got.Mode != rules.Off {
		t.Fatalf("empty store resolves to %v", got)
	}
	reloads := reader.reloads.Load()
	for i := 0; i < 5; i++ {
		if again, err := reader.Rules(ctx); err != nil || again != rs {
			t.Fatalf("unchanged store: Rules = %p, %v; want the same snapshot %p", again, err, rs)
		}
	}
	if n := reader.reloads.Load(); n != reloads {
		t.Fatalf("%d reloads with nothing changed", n-reloads)
	}

	modes := []rules.Mode{rules.Auto, rules.OnDemand, rules.Off, rules.Auto}
	for i, m := range modes {
		if _, err := writer.UpdateRules(ctx, "test", func(rs *rules.RuleSet) error {
			rs.Stations["1001"] = &rules.Station{ID: "1001", Modes: rules.ModeSet{rules.Outbound: m}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		rs, err := reader.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Resolve("1001", rules.Outbound); got.Mode != m || got.Rule != "station:1001" {
			t.Fatalf("change %d: reader resolves %v, want %s from station:1001", i, got, m)
		}
		if n := reader.reloads.Load(); n != reloads+int64(i+1) {
			t.Fatalf("change %d: %d reloads, want %d", i, n-reloads, i+1)
		}
	}
}

func TestRulesSeesOwnWrites(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "t", sampleRules()); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Rules(ctx)
	if err != nil || !reflect.DeepEqual(rs, sampleRules()) {
		t.Fatalf("Rules after own write = %v, %v", rs, err)
	}
}

func TestRulesNotBlockedByWriter(t *testing.T) {
	path := tempDB(t)
	s := openTest(t, path)
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "t", sampleRules()); err != nil {
		t.Fatal(err)
	}
	// Another process holds the write lock: in WAL mode readers go on.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE; UPDATE settings SET default_announce = 0"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	rs, err := s.Rules(short)
	if err != nil || !rs.Defaults.Announce {
		t.Fatalf("Rules while another process writes = %v, %v; want the committed rules", rs, err)
	}
}

func TestRulesStuckCheckReturnsLastSnapshot(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "t", sampleRules()); err != nil {
		t.Fatal(err)
	}
	good, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A commit the stuck check will pick up once it is released.
	if _, err := s.UpdateRules(ctx, "t", func(rs *rules.RuleSet) error {
		rs.Defaults.Announce = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The check blocks as it would behind a lock held by another process
	// (busy_timeout is 5s).
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	s.testHookCheck = func() {
		entered <- struct{}{}
		<-release
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	rs, err := s.Rules(short)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Rules held the caller %v past a 50ms deadline", elapsed)
	}
	if rs != good || rules.ErrorCode(err) != rules.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stuck: Rules = %p, %v (code %q); want last snapshot %p and %s wrapping the deadline",
			rs, err, rules.ErrorCode(err), good, rules.EUNAVAILABLE)
	}
	<-entered
	// Callers queued behind the stuck check are bounded by their ctx too.
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if rs, err := s.Rules(short2); rs != good || rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Fatalf("second caller while stuck: %p, %v", rs, err)
	}

	// Released, the background check finishes and publishes.
	s.testHookCheck = nil // safe: the stuck check already called the hook
	close(release)
	rs, err = s.Rules(ctx)
	if err != nil || rs.Defaults.Announce {
		t.Fatalf("after release: Rules = %v, %v; want the committed change", rs, err)
	}
}

func TestRulesCorruptReturnsLastSnapshot(t *testing.T) {
	path := tempDB(t)
	s := openTest(t, path)
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "t", sampleRules()); err != nil {
		t.Fatal(err)
	}
	good, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Another process commits, checkpoints, and then the file is damaged.
	other := openTest(t, path)
	if _, err := other.UpdateRules(ctx, "t", func(rs *rules.RuleSet) error {
		rs.Defaults.Announce = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(garbage, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rs, err := s.Rules(ctx)
	if rs != good || rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Fatalf("corrupt: Rules = %p, %v (code %q); want last snapshot %p and %s", rs, err, rules.ErrorCode(err), good, rules.EUNAVAILABLE)
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		t.Errorf("error %v does not carry the driver error", err)
	}
	if err := s.Ping(ctx); rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Errorf("Ping on a corrupt file: %v, want %s", err, rules.EUNAVAILABLE)
	}
}

func TestRulesFileDeletedOrReplaced(t *testing.T) {
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			path := tempDB(t)
			s := openTest(t, path)
			ctx := context.Background()
			good, err := s.Rules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			if replace { // a new database at the same path, as the CLI would create
				openTest(t, path).Close()
			}
			// The file is checked at most every fileCheckEvery: within
			// a few of those, Rules must report it, still serving the
			// last snapshot meanwhile.
			var rs *rules.RuleSet
			deadline := time.Now().Add(4 * fileCheckEvery)
			for err = nil; err == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				rs, err = s.Rules(ctx)
				if rs != good {
					t.Fatalf("Rules = %p, want the last snapshot %p", rs, good)
				}
			}
			if rules.ErrorCode(err) != rules.EUNAVAILABLE {
				t.Fatalf("Rules = %v; want %s within %v", err, rules.EUNAVAILABLE, 4*fileCheckEvery)
			}
			if err := s.Ping(ctx); rules.ErrorCode(err) != rules.EUNAVAILABLE {
				t.Errorf("Ping = %v, want %s", err, rules.EUNAVAILABLE)
			}
		})
	}
}

func TestPing(t *testing.T) {
	path := tempDB(t)
	s := openTest(t, path)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Errorf("Ping with the file deleted: %v, want %s", err, rules.EUNAVAILABLE)
	}
}

func TestRulesAfterClose(t *testing.T) {
	s, err := Open(context.Background(), tempDB(t))
	if err != nil {
		t.Fatal(err)
	}
	last, _ := s.Rules(context.Background())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	rs, err := s.Rules(context.Background())
	if rs != last || rules.ErrorCode(err) != rules.EUNAVAILABLE {
		t.Errorf("Rules after Close = %p, %v; want last snapshot and %s", rs, err, rules.EUNAVAILABLE)
	}
}

func TestRulesConcurrentCallersSeeCommits(t *testing.T) {
	path := tempDB(t)
	reader, writer := openTest(t, path), openTest(t, path)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls sync.Map
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for {
				select {
				case <-stop:
					calls.Store(g, n)
					return
				default:
				}
				if _, err := reader.Rules(ctx); err != nil {
					t.Error(err)
					return
				}
				n++
			}
		}()
	}
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("%d", 5000+i)
		if _, err := writer.UpdateRules(ctx, "t", func(rs *rules.RuleSet) error {
			rs.Stations[id] = &rules.Station{ID: id, Modes: rules.ModeSet{rules.Outbound: rules.Auto}}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		rs, err := reader.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rs.IsStation(id) {
			t.Fatalf("commit %d not seen by the next call", i)
		}
	}
	close(stop)
	wg.Wait()
	total := 0
	calls.Range(func(_, v any) bool { total += v.(int); return true })
	t.Logf("%d concurrent Rules calls ran %d checks and %d reloads", total, reader.checks.Load(), reader.reloads.Load())
}

func TestConcurrentUpdatesFromTwoStoresLoseNothing(t *testing.T) {
	path := tempDB(t)
	stores := []*Store{openTest(t, path), openTest(t, path)}
	ctx := context.Background()
	const perWorker = 10
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for i := 0; i < perWorker; i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				if _, err := s.UpdateRules(ctx, "worker", func(rs *rules.RuleSet) error {
					rs.Stations[id] = &rules.Station{ID: id}
					return nil
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rs, err := stores[0].LoadRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Stations) != 6*perWorker {
		t.Errorf("%d stations after %d concurrent creations", len(rs.Stations), 6*perWorker)
	}
	audit, _ := stores[1].Audit(ctx, time.Time{})
	if len(audit) != 6*perWorker {
		t.Errorf("%d audit rows, want %d", len(audit), 6*perWorker)
	}
}

func TestAppendAuditAndSince(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	clock := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return clock }
	if err := s.AppendAudit(ctx, "retention", Change{Object: "recording:1", Field: "deleted", Before: "a.wav"}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour + 500*time.Millisecond)
	if err := s.AppendAudit(ctx, "retention", Change{Object: "recording:2", Field: "deleted"}, Change{Object: "recording:3", Field: "deleted"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Audit(ctx, time.Time{})
	if err != nil || len(all) != 3 {
		t.Fatalf("Audit = %v, %v", all, err)
	}
	if !all[0].At.Equal(clock.Add(-time.Hour-500*time.Millisecond)) || all[0].Before != "a.wav" {
		t.Errorf("audit[0] = %+v", all[0])
	}
	js, err := json.Marshal(all[0])
	if want := `{"id":1,"at":"2026-11-24T10:00:00Z","actor":"retention","tenant":"","object":"recording:1","field":"deleted","before":"a.wav","after":""}`; err != nil || string(js) != want {
		t.Errorf("audit JSON = %s, %v\nwant %s", js, err, want)
	}
	recent, _ := s.Audit(ctx, clock.Add(-time.Minute))
	if len(recent) != 2 || recent[0].Object != "recording:2" || !recent[1].At.Equal(clock) {
		t.Errorf("Audit since = %+v", recent)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{sqlite3.Error{Code: sqlite3.ErrBusy}, rules.EUNAVAILABLE},
		{sqlite3.Error{Code: sqlite3.ErrLocked}, rules.EUNAVAILABLE},
		{sqlite3.Error{Code: sqlite3.ErrCorrupt}, rules.EUNAVAILABLE},
		{sqlite3.Error{Code: sqlite3.ErrNotADB}, rules.EUNAVAILABLE},
		{sqlite3.Error{Code: sqlite3.ErrCantOpen}, rules.EUNAVAILABLE},
		{sqlite3.Error{Code: sqlite3.ErrConstraint, ExtendedCode: sqlite3.ErrConstraintUnique}, rules.ECONFLICT},
		{sqlite3.Error{Code: sqlite3.ErrError}, rules.EINTERNAL},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), rules.EUNAVAILABLE},
		{sql.ErrNoRows, rules.ENOTFOUND},
		{errors.New("database is locked"), rules.EINTERNAL}, // never by message
	}
	for _, tt := range tests {
		err := wrap("op", tt.err)
		if got := rules.ErrorCode(err); got != tt.code {
			t.Errorf("wrap(%v) code = %q, want %q", tt.err, got, tt.code)
		}
		if !errors.Is(err, tt.err) && !errors.As(err, new(sqlite3.Error)) {
			t.Errorf("wrap(%v) lost the cause", tt.err)
		}
	}
	if wrap("op", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}
