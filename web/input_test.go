package web

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// seedSales is one tenant's small rule set.
func seedSales(rs *rules.RuleSet) error {
	groups := rs.Groups(defaultTenant)
	groups["sales"] = &rules.Group{Name: "sales", Profile: "sales"}
	groups["board"] = &rules.Group{Name: "board", Profile: "management"}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Kind: rules.SIPPhone, Group: "sales"}
	rs.Stations["2001"] = &rules.Station{ID: "2001", Kind: rules.Softphone, Group: "board"}
	return nil
}

// dbState is what a refused request must not change: the rules and the
// audit log.
func (e *env) dbState() (*rules.RuleSet, int) {
	e.t.Helper()
	rs, err := e.st.LoadRules(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := e.st.AuditEntries(context.Background(), store.AuditFilter{Tenant: store.AllTenants})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs, len(a)
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	const st = "/api/v1/tenants/default/stations/1001"
	etag := e.do("admin", "GET", st, nil).header.Get("ETag")
	if etag == "" {
		t.Fatal("GET station has no ETag")
	}
	// Make the ETag stale: a change by someone else.
	if r := e.do("admin", "PATCH", st, `{"name": "Anna"}`, "If-Match", etag); r.status != http.StatusOK {
		t.Fatalf("PATCH with the current ETag: %d %s", r.status, r.body)
	}
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		detail                   string // in the problem's detail
	}{
		{"malformed JSON", "PATCH", st, `{"rules":`, nil, 400, "unexpected end of JSON input"},
		{"not an object", "PATCH", st, `[1, 2]`, nil, 422, "expected object"},
		{"unknown field", "PATCH", st, `{"nmae": "x"}`, nil, 422, "body.nmae: unexpected property"},
		{"bad mode", "PATCH", st, `{"rules": {"outbound": "loud"}}`, nil, 422, `body.rules.outbound: expected value to be one of "inherit, off, auto, ondemand"`},
		{"bad direction", "PATCH", st, `{"rules": {"sideways": "off"}}`, nil, 422, "body.rules.sideways: unexpected property"},
		{"bad kind", "PATCH", st, `{"kind": "fax"}`, nil, 422, "body.kind: expected value to be one of"},
		{"bad announce", "PATCH", st, `{"announce": "maybe"}`, nil, 422, "body.announce"},
		{"unknown group", "PATCH", st, `{"group": "nope"}`, nil, 422, `body.group: unknown group "nope" in tenant default (valid: board, sales)`},
		{"wrong type", "PATCH", st, `{"name": 7}`, nil, 422, "body.name: expected string"},
		{"oversized body", "PATCH", st, `{"name": "` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "request body is too large"},
		{"stale If-Match", "PATCH", st, `{"rules": {"outbound": "off"}}`, []string{"If-Match", etag}, 412, "was changed since you read it"},
		{"stale If-Match on delete", "DELETE", st, ``, []string{"If-Match", etag}, 412, "was changed since you read it"},
		{"bad group profile", "POST", "/api/v1/tenants/default/groups", `{"name": "x", "profile": "loud"}`, nil, 422, `body.profile: unknown profile "loud"`},
		{"bad group name", "POST", "/api/v1/tenants/default/groups", `{"name": "../x"}`, nil, 422, "body.name"},
		{"duplicate token name", "POST", "/api/v1/tenants/default/tokens", `{"name": "admin", "role": "listener"}`, nil, 409, `tenant default already has a token named "admin"`},
		{"duplicate group", "POST", "/api/v1/tenants/default/groups", `{"name": "sales"}`, nil, 409, `group "sales" already exists`},
		{"group with stations", "DELETE", "/api/v1/tenants/default/groups/sales", ``, nil, 409, "still has stations (1001)"},
		{"taken station id", "POST", "/api/v1/tenants/default/stations", `{"id": "2001"}`, nil, 409, `station id "2001" is already in use`},
		{"bad station id", "POST", "/api/v1/tenants/default/stations", `{"id": "a b"}`, nil, 422, "body.id"},
		{"unknown query parameter", "GET", "/api/v1/tenants/default/stations?grup=sales", ``, nil, 422, "query.grup"},
		{"limit too large", "GET", "/api/v1/tenants/default/stations?limit=5000", ``, nil, 422, "query.limit"},
		{"bad recording cursor", "GET", "/api/v1/tenants/default/recordings?cursor=zzz", ``, nil, 422, `query.cursor: cursor "zzz" is not one this server gave`},
		{"bad direction filter", "GET", "/api/v1/tenants/default/recordings?direction=up", ``, nil, 422, "query.direction"},
		{"bad since", "GET", "/api/v1/tenants/default/recordings?since=yesterday", ``, nil, 422, "query.since"},
		{"explain without direction", "GET", "/api/v1/tenants/default/stations/1001/explain", ``, nil, 422, "query.direction"},
		{"short password", "POST", "/api/v1/tenants/default/users", `{"login": "bob", "role": "admin", "password": "short"}`, nil, 422, "body.password"},
		{"operator from an admin", "POST", "/api/v1/tenants/default/users", `{"login": "bob", "role": "operator", "password": "long enough pw"}`, nil, 422, "body.role"},
		{"groups for an admin", "POST", "/api/v1/tenants/default/tokens", `{"name": "t", "role": "admin", "groups": ["sales"]}`, nil, 422, "body.groups: only a listener"},
		{"unknown group for a listener", "POST", "/api/v1/tenants/default/tokens", `{"name": "t", "role": "listener", "groups": ["nope"]}`, nil, 422, `body.groups: unknown group "nope"`},
		{"bad token", "GET", "/api/v1/me", ``, []string{"Authorization", "Bearer nope"}, 401, "Bearer <an API token"},
		{"unknown token", "GET", "/api/v1/me", ``, []string{"Authorization", "Bearer " + auth.TokenPrefix + strings.Repeat("A", 43)}, 401, "unknown API token"},
	}
	rs0, audit0 := e.dbState()
	users0, _ := e.st.Users(context.Background(), "")
	tokens0, _ := e.st.Tokens(context.Background(), "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			as := "admin"
			if len(tc.header) > 0 && tc.header[0] == "Authorization" {
				as = ""
			}
			r := e.checked(as, tc.method, tc.path, body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			p := r.problem(t)
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tc.detail)
			}
			rs, audit := e.dbState()
			if d := store.Diff(rs0, rs); len(d) > 0 || audit != audit0 {
				t.Errorf("a refused request changed the store: %v, audit %d -> %d", d, audit0, audit)
			}
		})
	}
	users, _ := e.st.Users(context.Background(), "")
	tokens, _ := e.st.Tokens(context.Background(), "")
	if len(users) != len(users0) || len(tokens) != len(tokens0) {
		t.Errorf("refused requests created users (%d -> %d) or tokens (%d -> %d)", len(users0), len(users), len(tokens0), len(tokens))
	}
}

// sessions counts the stored login sessions, read straight from the file.
func (e *env) sessions() int {
	e.t.Helper()
	db, err := sql.Open("sqlite3", e.dbPath()+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) dbPath() string { return filepath.Join(filepath.Dir(e.recDir), "recgate.db") }

func (e *env) addUser(login, tenant string, role auth.Role, password string, groups ...string) {
	e.t.Helper()
	h, err := auth.HashPassword(password)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateUser(context.Background(), "seed", &auth.User{Login: login, Tenant: tenant, Role: role, Groups: groups}, h); err != nil {
		e.t.Fatal(err)
	}
}

func TestErrorsNeverEchoAPassword(t *testing.T) {
	e := newEnv(t)
	e.token("admin", defaultTenant, auth.Admin)
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/login", `{"login": "anna", "password": "` + strings.Repeat("s3cret", 50) + `"}`},
		{"/api/v1/login", `{"login": "anna", "password": "s3cret-long-enough", "extra": 1}`},
		{"/api/v1/tenants/default/users", `{"login": "bob", "role": "admin", "password": "s3cret"}`},
	} {
		r := e.checked("admin", "POST", tc.path, tc.body)
		if r.status < 400 || strings.Contains(string(r.body), "s3cret") {
			t.Errorf("POST %s: %d %s", tc.path, r.status, r.body)
		}
	}
}

func TestLoginThrottledNeverSaysWhichPartWasWrong(t *testing.T) {
	e := newEnv(t)
	e.addUser("anna", defaultTenant, auth.Admin, "correct horse battery")
	var details []string
	for _, body := range []string{
		`{"login": "anna", "password": "wrong password 1"}`,
		`{"login": "nobody", "password": "correct horse battery"}`,
		`{"login": "anna", "password": "wrong password 2"}`,
		`{"login": "anna", "password": "wrong password 3"}`,
		`{"login": "ANNA", "password": "wrong password 4"}`,
	} {
		r := e.checked("", "POST", "/api/v1/login", body)
		if r.status != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("%s: %d %s (cookie %q)", body, r.status, r.body, r.header.Get("Set-Cookie"))
		}
		details = append(details, r.problem(t).Detail)
	}
	for _, d := range details {
		if d != errWrongLogin {
			t.Errorf("detail %q: must be the same whatever was wrong (%q)", d, errWrongLogin)
		}
	}
	// The sixth attempt is slowed down, even with the right password.
	r := e.do("", "POST", "/api/v1/login", `{"login": "anna", "password": "correct horse battery"}`)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 5 failures: %d %s %v, want 429 with Retry-After", r.status, r.body, r.header)
	}
	if d := r.problem(t).Detail; strings.Contains(d, "password") || strings.Contains(d, "login:") {
		t.Errorf("throttled detail %q says too much", d)
	}
	if n := e.sessions(); n != 0 {
		t.Fatalf("%d sessions stored after failed logins", n)
	}
}

func TestSessionCookieLifecycle(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.TrustedProxies = mustPrefixes("127.0.0.0/8")
	})
	e.seedRules(seedSales)
	e.addUser("anna", defaultTenant, auth.Admin, "correct horse battery")
	r := e.do("", "POST", "/api/v1/login", `{"login": "anna", "password": "correct horse battery"}`)
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	c := (&http.Response{Header: r.header}).Cookies()
	if len(c) != 1 || c[0].Name != sessionCookie || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode || c[0].Secure {
		t.Fatalf("cookie over plain HTTP: %+v", c)
	}
	cookie := c[0].Name + "=" + c[0].Value
	if n := e.sessions(); n != 1 {
		t.Fatalf("%d sessions stored, want 1", n)
	}
	var me Me
	r = e.do("", "GET", "/api/v1/me", nil, "Cookie", cookie)
	r.json(t, &me)
	if r.status != 200 || me.Login != "anna" || me.Role != "admin" || me.Kind != "user" {
		t.Fatalf("me: %d %+v", r.status, me)
	}
	if r := e.do("", "PATCH", "/api/v1/tenants/default/stations/1001", `{"name": "by cookie"}`, "Cookie", cookie); r.status != 200 {
		t.Fatalf("PATCH with a session: %d %s", r.status, r.body)
	}
	// A cross-site form post carrying the cookie is refused.
	r = e.do("", "PATCH", "/api/v1/tenants/default/stations/1001", `{"name": "csrf"}`, "Cookie", cookie,
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-origin PATCH: %d %s", r.status, r.body)
	}
	if p := r.problem(t); !strings.Contains(p.Detail, "another origin") {
		t.Fatalf("cross-origin PATCH: detail %q does not say why", p.Detail)
	}
	if rs, _ := e.dbState(); rs.Stations["1001"].Name != "by cookie" {
		t.Fatalf("cross-origin PATCH changed the station: %q", rs.Stations["1001"].Name)
	}
	// Behind a trusted proxy that terminated TLS, the cookie is Secure.
	r = e.do("", "POST", "/api/v1/login", `{"login": "anna", "password": "correct horse battery"}`, "X-Forwarded-Proto", "https")
	if c := (&http.Response{Header: r.header}).Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie behind a TLS proxy: %+v", c)
	}
	if r := e.do("", "POST", "/api/v1/logout", nil, "Cookie", cookie); r.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	if r := e.do("", "GET", "/api/v1/me", nil, "Cookie", cookie); r.status != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", r.status)
	}
}

func TestAudioServedOnlyFromRecordingDir(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	outside := filepath.Join(t.TempDir(), "secret.wav")
	if err := os.WriteFile(outside, []byte("RIFF-outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(e.recDir, "2026", "good.wav")
	os.MkdirAll(filepath.Dir(good), 0o755)
	audio := []byte("RIFF....WAVEfmt " + strings.Repeat("a", 1000))
	if err := os.WriteFile(good, audio, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.recDir, "link.wav")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	recs := []*rules.Recording{}
	for i, f := range []string{good, outside, e.recDir + "/../secret.wav", filepath.Join(e.recDir, "link.wav"), "2026/good.wav", "/etc/passwd"} {
		recs = append(recs, &rules.Recording{UniqueID: "U" + string(rune('0'+i)), Tenant: defaultTenant, Station: "1001", Direction: rules.Outbound,
			Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales", File: f, State: rules.StateEnded, StartedAt: &now})
	}
	if err := e.st.SaveRecordings(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	path := func(r *rules.Recording) string {
		return "/api/v1/tenants/default/recordings/" + itoa64(r.ID) + "/audio"
	}
	for _, r := range recs[1:4] {
		res := e.checked("admin", "GET", path(r), nil)
		if res.status != http.StatusNotFound || strings.Contains(string(res.body), "RIFF") {
			t.Errorf("file %s: %d %s, want 404", r.File, res.status, res.body)
		}
	}
	if res := e.do("admin", "GET", path(recs[5]), nil); res.status != http.StatusNotFound {
		t.Errorf("/etc/passwd: %d", res.status)
	}
	log, _ := e.st.AccessLog(context.Background(), store.AccessFilter{Tenant: defaultTenant})
	if len(log) != 0 {
		t.Fatalf("refused fetches are in the access log: %+v", log)
	}
	res := e.do("admin", "GET", path(recs[0]), nil)
	if res.status != 200 || string(res.body) != string(audio) || res.header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("good file: %d %q %v", res.status, res.body, res.header)
	}
	res = e.do("admin", "GET", path(recs[4])+"?download=true", nil, "Range", "bytes=4-7")
	if res.status != http.StatusPartialContent || string(res.body) != "...." || !strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("range of a relative file name: %d %q %v", res.status, res.body, res.header)
	}
	log, _ = e.st.AccessLog(context.Background(), store.AccessFilter{Tenant: defaultTenant})
	if len(log) != 2 || log[0].Action != store.AccessDownload || log[1].Action != store.AccessPlay ||
		log[0].Actor != "token:admin" || log[0].Address != "127.0.0.1" || log[0].RecordingID != recs[4].ID {
		t.Fatalf("access log: %+v", log)
	}
	var page Page[store.AccessEntry]
	e.do("admin", "GET", "/api/v1/tenants/default/access-log?limit=1", nil).json(t, &page)
	if len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("access log page: %+v", page)
	}
}

func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	s := New(Config{TrustedProxies: mustPrefixes("10.0.0.0/8")}, nil, nil)
	for _, tc := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "203.0.113.9", "192.0.2.1"},                // not a proxy: header ignored
		{"10.1.1.1:5000", "203.0.113.9", "203.0.113.9"},               // trusted proxy
		{"10.1.1.1:5000", "198.51.100.1, 203.0.113.9", "203.0.113.9"}, // a client-written hop is left of the real one
		{"10.1.1.1:5000", "203.0.113.9, 10.2.2.2", "203.0.113.9"},     // two proxies
		{"10.1.1.1:5000", "garbage", "10.1.1.1"},
	} {
		var got client
		h := s.withClient(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientOf(r.Context()) }))
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr, r.Header = tc.remote, http.Header{"X-Forwarded-For": {tc.xff}}
		h.ServeHTTP(nil, r)
		if got.addr != tc.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", tc.remote, tc.xff, got.addr, tc.want)
		}
	}
}

func TestRulesFileRefusesRuleWrites(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RulesFile = "/etc/recgate/rules.yaml" })
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	e.token("op", "", auth.Operator)
	rs0, audit0 := e.dbState()
	for _, tc := range []struct{ as, method, path, body string }{
		{"admin", "PATCH", "/api/v1/tenants/default/stations/1001", `{"rules": {"outbound": "off"}}`},
		{"admin", "POST", "/api/v1/tenants/default/groups", `{"name": "new"}`},
		{"op", "PATCH", "/api/v1/tenants/default", `{"name": "x"}`},
	} {
		r := e.checked(tc.as, tc.method, tc.path, tc.body)
		if r.status != http.StatusConflict || !strings.Contains(r.problem(t).Detail, "managed by rules_file /etc/recgate/rules.yaml") {
			t.Errorf("%s %s: %d %s, want 409 naming the file", tc.method, tc.path, r.status, r.body)
		}
	}
	if rs, audit := e.dbState(); len(store.Diff(rs0, rs)) > 0 || audit != audit0 {
		t.Error("a refused write changed the rules")
	}
	// Reads, users and tokens are not rules: they work.
	if r := e.checked("admin", "GET", "/api/v1/tenants/default/stations/1001", nil); r.status != 200 {
		t.Errorf("GET station: %d", r.status)
	}
	if r := e.checked("admin", "POST", "/api/v1/tenants/default/tokens", `{"name": "ci", "role": "listener"}`); r.status != 201 {
		t.Errorf("POST token: %d %s", r.status, r.body)
	}
}

func TestPublicURLIsATrustedOrigin(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PublicURL = "https://recgate.example.com/" })
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	// A proxy that rewrote Host: the browser's Origin is the public URL.
	r := e.do("admin", "PATCH", "/api/v1/tenants/default/stations/1001", `{"name": "x"}`,
		"Origin", "https://recgate.example.com", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusOK {
		t.Fatalf("PATCH from the public URL's origin: %d %s", r.status, r.body)
	}
	r = e.do("admin", "PATCH", "/api/v1/tenants/default/stations/1001", `{"name": "y"}`,
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.status != http.StatusForbidden {
		t.Fatalf("PATCH from another origin: %d %s", r.status, r.body)
	}
}

func TestUnroutedAPIPathsAnswerProblems(t *testing.T) {
	e := newEnv(t)
	e.token("admin", defaultTenant, auth.Admin)
	for _, tc := range []struct {
		method, path string
		status       int
		detail       string
	}{
		{"GET", "/api/v1/nosuch", http.StatusNotFound, "no such API path"},
		{"GET", "/api/v2/tenants", http.StatusNotFound, "no such API path"},
		{"PUT", "/api/v1/me", http.StatusMethodNotAllowed, "allowed: GET, HEAD"},
	} {
		r := e.do("admin", tc.method, tc.path, nil)
		if r.status != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			continue
		}
		if p := r.problem(t); p.Status != tc.status || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s %s: problem %+v, want detail with %q", tc.method, tc.path, p, tc.detail)
		}
	}
}
