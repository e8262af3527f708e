package store

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// fill gives s rules, recordings (ids with gaps) and audit entries.
func fill(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "alice", sampleRules()); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var recs []*rules.Recording
	for i := 0; i < 30; i++ {
		at := base.Add(time.Duration(i) * time.Minute)
		recs = append(recs, &rules.Recording{UniqueID: fmt.Sprintf("1795511818.%d", i), LinkedID: "1795511818.0",
			Station: "1001", Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales",
			File: fmt.Sprintf("2026/11/20/1001_outbound_%d.wav", i), CallerID: `"Ann" <100>`, State: rules.StateEnded,
			StartedAt: &at, EndedAt: &at, Answered: ptr(i%2 == 0)})
	}
	if err := s.SaveRecordings(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRecordingsDeleted(ctx, []int64{recs[3].ID}, base); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, "retention", Change{Object: "retention", Field: "run", After: "1 deleted"}); err != nil {
		t.Fatal(err)
	}
	// Accounts: a tenant, users (one limited to groups), a session, a
	// token with groups, access log entries.
	if _, err := s.CreateTenant(ctx, "root", rules.NewTenant("acme")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, "root", &auth.User{Login: "root", Role: auth.Operator}, "$argon2id$a"); err != nil {
		t.Fatal(err)
	}
	anna := &auth.User{Login: "anna", Tenant: "acme", Role: auth.Listener, Groups: []string{"sales", "board"}}
	if err := s.CreateUser(ctx, "root", anna, "$argon2id$b"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, "sess-hash", anna.ID, "192.0.2.1", time.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, "root", &auth.Token{Name: "ci", Tenant: "acme", Role: auth.Listener, Groups: []string{"sales"}}, "tok-hash"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.LogAccess(ctx, &AccessEntry{Tenant: "acme", Actor: "anna", Address: "192.0.2.1", Action: AccessPlay, RecordingID: recs[i].ID}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.HoldRecording(ctx, "anna", recs[5].ID, "court order"); err != nil {
		t.Fatal(err)
	}
}

type snapshot struct {
	Rules      *rules.RuleSet
	Recordings []rules.Recording
	Audit      []AuditEntry
	Users      []auth.User
	Tokens     []auth.Token
	Access     []AccessEntry
	Session    *auth.User
	Holds      map[int64]LegalHold
	Proof      string // of a number, by the GDPR key: the same after a copy
}

func snap(t *testing.T, s *Store) snapshot {
	t.Helper()
	ctx := context.Background()
	rs, err := s.LoadRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Recordings(ctx, RecordingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	audit, err := s.Audit(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx, AllTenants)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := s.Tokens(ctx, AllTenants)
	if err != nil {
		t.Fatal(err)
	}
	access, err := s.AccessLog(ctx, AccessFilter{})
	if err != nil {
		t.Fatal(err)
	}
	session, _ := s.SessionUser(ctx, "sess-hash", 100*365*24*time.Hour)
	holds, err := s.LegalHolds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := s.SubjectProof(ctx, "+48 22 123 45 67")
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{rs, recs, audit, users, tokens, access, session, holds, proof}
}

// TestCopyRoundTrip: SQLite → PostgreSQL → SQLite keeps every row and id;
// a non-empty target is refused unless forced; a dry run keeps nothing.
func TestCopyRoundTrip(t *testing.T) {
	ctx := context.Background()
	sqlite, pg := testDrivers[0], testDrivers[1]
	src := sqlite.openNew(t)
	fill(t, src)
	want := snap(t, src)
	dst := pg.openNew(t)

	rep, err := Copy(ctx, src, dst, false, true)
	if err != nil || !rep.DryRun || rep.Rows["recordings"] != 30 {
		t.Fatalf("dry run = %+v, %v", rep, err)
	}
	if got := snap(t, dst); len(got.Recordings) != 0 || len(got.Rules.Stations) != 0 {
		t.Fatalf("dry run left %d recordings, %d stations", len(got.Recordings), len(got.Rules.Stations))
	}
	rep, err = Copy(ctx, src, dst, false, false)
	if err != nil {
		t.Fatal(err)
	}
	wantRows := map[string]int64{"settings": 1, "tenants": 2, "groups": 2, "stations": 3, "rules": 3, "recordings": 30,
		"audit": int64(len(want.Audit)), "gdpr_key": 1, "legal_holds": 1, "users": 2, "user_groups": 2, "sessions": 1, "tokens": 1, "token_groups": 1, "access_log": 3}
	if !reflect.DeepEqual(rep.Rows, wantRows) {
		t.Errorf("copied %v, want %v", rep.Rows, wantRows)
	}
	if got := snap(t, dst); !reflect.DeepEqual(got, want) {
		t.Errorf("PostgreSQL after copy differs:\n got %+v\nwant %+v", got, want)
	}
	// The target's rules snapshot follows (the copy notified and bumped
	// the version).
	if rs, err := dst.Rules(ctx); err != nil || !reflect.DeepEqual(rs, want.Rules) {
		t.Errorf("target snapshot after copy = %v, %v", rs, err)
	}
	// New rows take ids after the copied ones.
	next := &rules.Recording{UniqueID: "1795511999.1", Station: "1001", Mode: rules.Auto, State: rules.StateRecording}
	if err := dst.SaveRecordings(ctx, []*rules.Recording{next}); err != nil {
		t.Fatal(err)
	}
	if last := want.Recordings[0].ID; next.ID <= last {
		t.Errorf("new recording id %d, want above %d", next.ID, last)
	}

	if _, err := Copy(ctx, src, dst, false, false); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Fatalf("copy into a non-empty target: %v, want %s", err, rules.ECONFLICT)
	}
	if _, err := Copy(ctx, src, dst, true, false); err != nil {
		t.Fatalf("forced copy: %v", err)
	}
	if got := snap(t, dst); !reflect.DeepEqual(got, want) {
		t.Errorf("PostgreSQL after a forced copy differs")
	}

	back := sqlite.openNew(t)
	if _, err := Copy(ctx, dst, back, false, false); err != nil {
		t.Fatal(err)
	}
	if got := snap(t, back); !reflect.DeepEqual(got, want) {
		t.Errorf("SQLite after the round trip differs:\n got %+v\nwant %+v", got, want)
	}
}

// TestCopyCoversEveryTable: every table of the schema is copied or
// deliberately skipped, on both drivers.
func TestCopyCoversEveryTable(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d testDriver) {
		s := d.openNew(t)
		tables, err := s.tables(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		known := append(append([]string{}, copyTables...), copySkip...)
		sort.Strings(known)
		if !reflect.DeepEqual(tables, known) {
			t.Errorf("tables %v; copy knows %v", tables, known)
		}
	})
}
