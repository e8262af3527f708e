package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

func TestUsersLifecycleAudited(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	if err := s.CreateUser(ctx, "root", &auth.User{Login: "x", Tenant: "acme", Role: auth.Admin}, "h"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("user of an unknown tenant: %v, want not found", err)
	}
	if _, err := s.CreateTenant(ctx, "root", rules.NewTenant("acme")); err != nil {
		t.Fatal(err)
	}
	u := &auth.User{Login: "anna", Tenant: "acme", Role: auth.Listener, Groups: []string{"sales", "board"}}
	if err := s.CreateUser(ctx, "root", u, "$argon2id$fake"); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 {
		t.Fatal("CreateUser did not set the id")
	}
	if err := s.CreateUser(ctx, "root", &auth.User{Login: "anna", Tenant: "x", Role: auth.Admin}, "h"); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Fatalf("duplicate login: %v, want conflict", err)
	}
	if err := s.CreateUser(ctx, "root", &auth.User{Login: "bad", Role: auth.Admin}, "h"); rules.ErrorCode(err) != rules.EINVALID {
		t.Fatalf("admin without tenant: %v, want invalid", err)
	}
	got, hash, err := s.UserCredentials(ctx, "anna")
	if err != nil || hash != "$argon2id$fake" || got.Tenant != "acme" || len(got.Groups) != 2 || got.Groups[0] != "board" {
		t.Fatalf("UserCredentials = %+v %q %v", got, hash, err)
	}
	if err := s.CreateSession(ctx, "h1", u.ID, "192.0.2.1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateUser(ctx, "root", "anna", func(u *auth.User) error { u.Role = auth.Admin; u.Groups = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionUser(ctx, "h1", time.Hour); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("session after a role change: %v, want it ended", err)
	}
	if _, _, err := s.UpdateUser(ctx, "root", "anna", func(u *auth.User) error { u.Groups = []string{"x"}; return nil }); rules.ErrorCode(err) != rules.EINVALID {
		t.Fatalf("admin with groups: %v, want invalid", err)
	}
	if err := s.SetUserPassword(ctx, "anna", "anna", "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(ctx, "acme")
	if err != nil || len(users) != 1 || users[0].Role != auth.Admin {
		t.Fatalf("Users(acme) = %+v, %v", users, err)
	}
	if users, _ := s.Users(ctx, "other"); len(users) != 0 {
		t.Fatalf("Users(other) = %+v", users)
	}
	if err := s.DeleteUser(ctx, "root", "anna"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "anna"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("deleted user: %v", err)
	}
	entries, _ := s.AuditEntries(ctx, AuditFilter{Tenant: "acme"})
	var fields []string
	for _, e := range entries {
		if strings.HasPrefix(e.Object, "user:") {
			fields = append(fields, e.Actor+" "+e.Object+" "+e.Field+" "+e.Before+">"+e.After)
		}
	}
	want := []string{
		"root user:anna created >",
		"root user:anna role >listener",
		"root user:anna tenant >acme",
		"root user:anna groups >board,sales",
		"root user:anna role listener>admin",
		"root user:anna groups board,sales>",
		"anna user:anna password >changed",
		"root user:anna deleted >",
		"root user:anna role admin>",
		"root user:anna tenant acme>",
	}
	if len(fields) != len(want) {
		t.Fatalf("audit:\n%q\nwant\n%q", fields, want)
	}
	for i := range want {
		if fields[i] != want[i] {
			t.Errorf("audit[%d] = %q, want %q", i, fields[i], want[i])
		}
	}
	for _, e := range entries {
		if e.After == "$argon2id$new" || e.Before == "$argon2id$fake" {
			t.Fatal("a password hash reached the audit log")
		}
	}
}

func TestSessionTimeouts(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	u := &auth.User{Login: "op", Role: auth.Operator}
	if err := s.CreateUser(ctx, "root", u, "h"); err != nil {
		t.Fatal(err)
	}
	abs := now.Add(3 * time.Hour)
	if err := s.CreateSession(ctx, "s1", u.ID, "", abs); err != nil {
		t.Fatal(err)
	}
	idle := 30 * time.Minute
	for i := 0; i < 5; i++ { // used every 20 minutes: idle never reached
		now = now.Add(20 * time.Minute)
		if _, err := s.SessionUser(ctx, "s1", idle); err != nil {
			t.Fatalf("use %d at %s: %v", i, now, err)
		}
	}
	now = abs // absolute timeout, however active
	if _, err := s.SessionUser(ctx, "s1", idle); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("after the absolute timeout: %v", err)
	}
	if err := s.CreateSession(ctx, "s2", u.ID, "", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(idle)
	if _, err := s.SessionUser(ctx, "s2", idle); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("after the idle timeout: %v", err)
	}
	var n int
	s.db.QueryRow("SELECT count(*) FROM sessions").Scan(&n)
	if n != 0 {
		t.Fatalf("%d expired sessions left in the table", n)
	}
	// The sweeper removes what has expired, by either timeout, and
	// nothing else.
	for _, h := range []string{"live", "old", "idle"} {
		if err := s.CreateSession(ctx, h, u.ID, "", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	s.db.Exec("UPDATE sessions SET expires_at = ? WHERE hash = 'old'", formatTime(now))
	s.db.Exec("UPDATE sessions SET last_seen_at = ? WHERE hash = 'idle'", formatTime(now.Add(-idle)))
	if n, err := s.DeleteExpiredSessions(ctx, idle); err != nil || n != 2 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 2", n, err)
	}
	if _, err := s.SessionUser(ctx, "live", idle); err != nil {
		t.Fatalf("the live session after the sweep: %v", err)
	}
	if err := s.CreateSession(ctx, "s3", u.ID, "", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UpdateUser(ctx, "root", "op", func(u *auth.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionUser(ctx, "s3", idle); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("session of a disabled user: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if _, err := s.CreateTenant(ctx, "root", rules.NewTenant("acme")); err != nil {
		t.Fatal(err)
	}
	tok := &auth.Token{Name: "ci", Tenant: "acme", Role: auth.Listener, Groups: []string{"sales"}}
	if err := s.CreateToken(ctx, "root", tok, "hash1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, "hash1")
	if err != nil || got.ID != tok.ID || got.CreatedBy != "root" || got.LastUsedAt != nil || len(got.Groups) != 1 {
		t.Fatalf("TokenByHash = %+v, %v", got, err)
	}
	if err := s.TouchToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	s.TouchToken(ctx, tok.ID) // within a minute: not written
	got, _ = s.Token(ctx, tok.ID)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now.Add(-10*time.Second)) {
		t.Fatalf("last used %v", got.LastUsedAt)
	}
	if err := s.RevokeToken(ctx, "anna", tok.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "anna", tok.ID); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Fatalf("second revoke: %v", err)
	}
	got, _ = s.TokenByHash(ctx, "hash1")
	if got.Active(now) {
		t.Fatal("revoked token is active")
	}
	if _, err := s.TokenByHash(ctx, "nope"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Fatalf("unknown hash: %v", err)
	}
	if ts, _ := s.Tokens(ctx, "other"); len(ts) != 0 {
		t.Fatalf("Tokens(other) = %+v", ts)
	}
	if err := s.CreateToken(ctx, "root", &auth.Token{Name: "x", Role: auth.Admin}, "h2"); rules.ErrorCode(err) != rules.EINVALID {
		t.Fatalf("admin token without tenant: %v", err)
	}
}

func TestAccessLog(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	for i, tenant := range []string{"a", "b", "a", "a"} {
		if err := s.LogAccess(ctx, &AccessEntry{Tenant: tenant, Actor: "anna", Address: "192.0.2.1", Action: AccessPlay, RecordingID: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.LogAccess(ctx, &AccessEntry{Tenant: "a", Action: "listen"}); rules.ErrorCode(err) != rules.EINVALID {
		t.Fatalf("bad action: %v", err)
	}
	page, err := s.AccessLog(ctx, AccessFilter{Tenant: "a", Limit: 2})
	if err != nil || len(page) != 2 || page[0].RecordingID != 3 || page[1].RecordingID != 2 {
		t.Fatalf("first page %+v %v", page, err)
	}
	page, _ = s.AccessLog(ctx, AccessFilter{Tenant: "a", Limit: 2, BeforeID: page[1].ID})
	if len(page) != 1 || page[0].RecordingID != 0 {
		t.Fatalf("second page %+v", page)
	}
}

func TestTenantRemovedTakesItsAccounts(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, tempDB(t))
	for _, id := range []string{"acme", "bravo"} {
		if _, err := s.CreateTenant(ctx, "root", rules.NewTenant(id)); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, "root", &auth.User{Login: id + "-admin", Tenant: id, Role: auth.Admin}, "h"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, "root", &auth.Token{Name: "ci", Tenant: id, Role: auth.Admin}, "hash-"+id); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := s.User(ctx, "acme-admin")
	if err := s.CreateSession(ctx, "sess", u.ID, "", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTenant(ctx, "root", "acme", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "acme-admin"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("the removed tenant's user: %v", err)
	}
	if _, err := s.TokenByHash(ctx, "hash-acme"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("the removed tenant's token: %v", err)
	}
	if _, err := s.SessionUser(ctx, "sess", time.Hour); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("the removed tenant's session: %v", err)
	}
	if _, err := s.User(ctx, "bravo-admin"); err != nil {
		t.Errorf("another tenant's user: %v", err)
	}
	if _, err := s.TokenByHash(ctx, "hash-bravo"); err != nil {
		t.Errorf("another tenant's token: %v", err)
	}
}
