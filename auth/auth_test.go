package auth

import (
	"strings"
	"testing"
	"time"
)

func TestPasswordHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
		{strings.Repeat("x", 1000), false},
	} {
		ok, err := VerifyPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	for _, bad := range []string{"", "plain", "$2a$10$bcrypt", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=19456,t=2,p=1$!!$AAAA"} {
		if _, err := VerifyPassword(bad, "whatever12345"); err == nil {
			t.Errorf("VerifyPassword with stored %q: no error", bad)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                  false,
		"elevenchars":            false,
		"twelve chars":           true,
		"zażółć gęślą":           true, // 12 characters, more bytes
		strings.Repeat("a", 257): false,
		strings.Repeat("a", 256): true,
	} {
		if err := ValidatePassword(pw); (err == nil) != ok {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v", pw, err, ok)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("HashPassword accepted a short password")
	}
}

func TestUserValidate(t *testing.T) {
	for _, tc := range []struct {
		u  User
		ok bool
	}{
		{User{Login: "root", Role: Operator}, true},
		{User{Login: "root", Role: Operator, Tenant: "acme"}, false},
		{User{Login: "anna", Role: Admin, Tenant: "acme"}, true},
		{User{Login: "anna", Role: Admin}, false},
		{User{Login: "anna", Role: Admin, Tenant: "acme", Groups: []string{"sales"}}, false},
		{User{Login: "lis", Role: Listener, Tenant: "acme", Groups: []string{"sales"}}, true},
		{User{Login: "lis", Role: Listener, Tenant: "acme", Groups: []string{"a,b"}}, false},
		{User{Login: "Anna", Role: Admin, Tenant: "acme"}, false},
		{User{Login: "-anna", Role: Admin, Tenant: "acme"}, false},
		{User{Login: "anna@acme.pl", Role: Admin, Tenant: "acme"}, true},
		{User{Login: "", Role: Admin, Tenant: "acme"}, false},
		{User{Login: "x", Role: "boss", Tenant: "acme"}, false},
	} {
		if err := tc.u.Validate(nil); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tc.u, err, tc.ok)
		}
	}
}

func TestPrincipalScope(t *testing.T) {
	op := &Principal{Name: "root", Role: Operator}
	adm := &Principal{Name: "anna", Role: Admin, Tenant: "a"}
	lis := &Principal{TokenID: 3, Name: "player", Role: Listener, Tenant: "a", Groups: []string{"sales"}}
	if !op.SeesTenant("b") || !adm.SeesTenant("a") || adm.SeesTenant("b") || lis.SeesTenant("b") {
		t.Error("SeesTenant wrong")
	}
	if !lis.SeesGroup("sales") || lis.SeesGroup("board") || lis.SeesGroup("") || !adm.SeesGroup("board") {
		t.Error("SeesGroup wrong")
	}
	if lis.Writes() || !adm.Writes() || !op.Writes() {
		t.Error("Writes wrong")
	}
	if lis.Actor() != "token:player" || adm.Actor() != "anna" {
		t.Errorf("actors %q %q", lis.Actor(), adm.Actor())
	}
}

func TestSecrets(t *testing.T) {
	s, h, err := NewSecret(TokenPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeToken(s) || HashSecret(s) != h || len(h) != 64 {
		t.Errorf("secret %q hash %q", s, h)
	}
	s2, _, _ := NewSecret(TokenPrefix)
	if s == s2 {
		t.Error("two secrets are equal")
	}
	for _, bad := range []string{"", "rgt_", "Bearer " + s, s + "x", "xyz_" + s[4:]} {
		if LooksLikeToken(bad) {
			t.Errorf("LooksLikeToken(%q) = true", bad)
		}
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1e9, 0)
	th := NewThrottle(3, time.Minute)
	th.SetClock(func() time.Time { return now })
	keys := []string{"login:anna", "addr:192.0.2.1"}
	for i := 0; i < 3; i++ {
		if w := th.Wait(keys...); w != 0 {
			t.Fatalf("failure %d: wait %s before the free ones are used", i, w)
		}
		th.Fail(keys...)
	}
	if w := th.Wait(keys...); w != time.Second {
		t.Fatalf("after the 3 free failures: wait %s, want 1s", w)
	}
	th.Fail(keys...) // 4th: 2 s
	if w := th.Wait("addr:192.0.2.1"); w != 2*time.Second {
		t.Fatalf("after 4 failures: wait %s, want 2s", w)
	}
	for i := 0; i < 20; i++ {
		th.Fail(keys...)
	}
	if w := th.Wait(keys...); w != time.Minute {
		t.Fatalf("many failures: wait %s, want the 1m cap", w)
	}
	if w := th.Wait("login:bob"); w != 0 {
		t.Fatalf("another key waits %s", w)
	}
	th.Succeed("login:anna")
	if w := th.Wait("login:anna"); w != 0 {
		t.Fatalf("after success: wait %s", w)
	}
	if w := th.Wait("addr:192.0.2.1"); w == 0 {
		t.Fatal("a success for the account forgot the address's failures")
	}
	now = now.Add(2 * time.Hour)
	if w := th.Wait(keys...); w != 0 {
		t.Fatalf("after Forget: wait %s", w)
	}
}
