package main

import (
	"strings"
	"testing"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

func TestUserAndTokenCLI(t *testing.T) {
	e := newCLIEnv(t)
	if _, err := e.openStore().CreateTenant(t.Context(), "test", rules.NewTenant("acme")); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"sales", "board"} {
		if _, err := e.openStore().CreateGroup(t.Context(), "test", "acme", &rules.Group{Name: g}); err != nil {
			t.Fatal(err)
		}
	}
	pw := strings.NewReader("correct horse battery\n")
	if r := e.runIn(pw, "user", "add", "root", "--role", "operator", "--actor", "boot"); r.code != exitOK {
		t.Fatalf("user add operator: %v", r)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"short\n", []string{"user", "add", "anna", "--role", "admin", "--tenant", "acme"}, exitInvalid, "password too short"},
		{"", []string{"user", "add", "anna", "--role", "admin", "--tenant", "acme"}, exitInvalid, "no password on stdin"},
		{"correct horse battery\n", []string{"user", "add", "anna", "--role", "admin"}, exitInvalid, "an admin needs a tenant"},
		{"correct horse battery\n", []string{"user", "add", "anna", "--tenant", "acme"}, exitInvalid, "--role is required"},
		{"correct horse battery\n", []string{"user", "add", "anna", "--role", "boss", "--tenant", "acme"}, exitInvalid, "invalid role"},
		{"correct horse battery\n", []string{"user", "add", "anna", "--role", "admin", "--tenant", "Acme!"}, exitInvalid, `invalid tenant id "Acme!"`},
		{"correct horse battery\n", []string{"user", "add", "root", "--role", "operator"}, exitConflict, "already exists"},
		{"", []string{"user", "set", "nobody", "--disabled", "yes"}, exitNotFound, "unknown user"},
		{"correct horse battery\n", []string{"user", "add", "anna", "--role", "admin", "--tenant", "nope"}, exitNotFound, `unknown tenant "nope"`},
		{"", []string{"token", "revoke", "x"}, exitInvalid, "positive number"},
		{"", []string{"token", "revoke", "99"}, exitNotFound, "unknown token"},
		{"", []string{"token", "create", "ci", "--role", "admin", "--tenant", "acme", "--expires", "soon"}, exitInvalid, "--expires"},
		{"correct horse battery\n", []string{"user", "add", "lis", "--role", "listener", "--tenant", "acme", "--groups", "sales,salse"}, exitInvalid, `--groups: unknown group "salse" in tenant acme (valid: board, sales)`},
		{"", []string{"token", "create", "ci", "--role", "listener", "--tenant", "acme", "--groups", "nope"}, exitInvalid, `--groups: unknown group "nope"`},
		{"", []string{"user", "list", "--tenant", "nope"}, exitNotFound, `unknown tenant "nope"`},
		{"", []string{"token", "list", "--tenant", "nope"}, exitNotFound, `unknown tenant "nope"`},
	} {
		r := e.runIn(strings.NewReader(tc.stdin), tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("recgate %s: want exit %d and one line with %q, got %v", strings.Join(tc.args, " "), tc.code, tc.msg, r)
		}
	}
	if r := e.runIn(strings.NewReader("listener pass 1234\n"), "user", "add", "Lis", "--role", "listener", "--tenant", "acme", "--groups", "sales, board"); r.code != exitOK {
		t.Fatalf("user add listener: %v", r)
	}
	var users []auth.User
	decodeJSON(t, e.ok("user", "list", "--json", "--tenant", "acme"), &users)
	if len(users) != 1 || users[0].Login != "lis" || strings.Join(users[0].Groups, ",") != "board,sales" {
		t.Fatalf("user list: %+v", users)
	}
	if r := e.run("user", "set", "lis", "--groups", "sales,nope"); r.code != exitInvalid || !strings.Contains(r.stderr, `--groups: unknown group "nope"`) {
		t.Fatalf("user set --groups with an unknown group: %v", r)
	}
	e.ok("user", "set", "lis", "--role", "admin")
	decodeJSON(t, e.ok("user", "list", "--json", "--tenant", "acme"), &users)
	if users[0].Role != auth.Admin || len(users[0].Groups) != 0 {
		t.Fatalf("after set --role admin: %+v", users[0])
	}
	if r := e.runIn(strings.NewReader("another long pw\n"), "user", "passwd", "lis"); r.code != exitOK {
		t.Fatalf("passwd: %v", r)
	}
	st := e.openStore()
	_, hash, _ := st.UserCredentials(t.Context(), "lis")
	if ok, _ := auth.VerifyPassword(hash, "another long pw"); !ok {
		t.Fatal("passwd did not store the new password")
	}

	r := e.run("token", "create", "ci", "--role", "admin", "--tenant", "acme", "--expires", "90d", "--json")
	var created struct {
		auth.Token
		Secret string `json:"token"`
	}
	decodeJSON(t, r.stdout, &created)
	if !auth.LooksLikeToken(created.Secret) || created.ExpiresAt == nil {
		t.Fatalf("token create: %+v", created)
	}
	got, err := st.TokenByHash(t.Context(), auth.HashSecret(created.Secret))
	if err != nil || got.ID != created.ID {
		t.Fatalf("the token is not stored under its hash: %v", err)
	}
	list := e.ok("token", "list")
	if strings.Contains(list, created.Secret) || !strings.Contains(list, "active") {
		t.Fatalf("token list:\n%s", list)
	}
	e.ok("token", "revoke", "1", "--actor", "anna")
	if !strings.Contains(e.ok("token", "list"), "revoked") {
		t.Fatal("revoked token not shown as revoked")
	}
	// The logs name a token's actions token:NAME: a name is never reused
	// in a tenant, not even a revoked token's.
	if r := e.run("token", "create", "ci", "--role", "listener", "--tenant", "acme"); r.code != exitConflict ||
		!strings.Contains(r.stderr, `tenant acme already has a token named "ci"`) {
		t.Fatalf("token create with a name in use: %v", r)
	}
	e.ok("user", "rm", "lis")
	audit := e.audit()
	var objects []string
	for _, a := range audit {
		objects = append(objects, a.Actor+" "+a.Object+" "+a.Field)
	}
	joined := strings.Join(objects, "\n")
	for _, want := range []string{"boot user:root created", "user:lis created", "user:lis role", "user:lis password", "token:1 created", "anna token:1 revoked", "user:lis deleted"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit has no %q:\n%s", want, joined)
		}
	}
}
