package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// The panel without JavaScript: every form posted as a browser without
// scripts would, through net/http's client with a cookie jar.

const testPassword = "correct horse battery"

// user creates a login of the tenant default with testPassword.
func (e *env) user(login string, role auth.Role, groups ...string) {
	e.t.Helper()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	tenant := defaultTenant
	if role == auth.Operator {
		tenant = ""
	}
	if err := e.st.CreateUser(context.Background(), "seed", &auth.User{Login: login, Tenant: tenant, Role: role, Groups: groups}, hash); err != nil {
		e.t.Fatal(err)
	}
}

// browser is a person at the panel without JavaScript.
type browser struct {
	t    testing.TB
	e    *env
	c    *http.Client
	lang string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar}, lang: "en"}
}

// page is one answer the browser got, after redirects.
type page struct {
	status int
	url    string
	body   string
	header http.Header
}

func (b *browser) do(method, path string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.ts.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", b.lang)
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, url: res.Request.URL.Path + "?" + res.Request.URL.RawQuery, body: string(data), header: res.Header}
}

func (b *browser) get(path string) page { b.t.Helper(); return b.do("GET", path, nil) }

func (b *browser) post(path string, kv ...string) page {
	b.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return b.do("POST", path, form)
}

func (b *browser) login(login string) {
	b.t.Helper()
	p := b.post("/login", "login", login, "password", testPassword, "next", "/")
	if p.status != http.StatusOK || strings.Contains(p.url, "/login") {
		b.t.Fatalf("login %s: %d at %s\n%s", login, p.status, p.url, p.body)
	}
}

func (p page) has(t testing.TB, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("page %s (%d) lacks %q", p.url, p.status, w)
		}
	}
	if strings.Contains(p.body, "[[") {
		t.Errorf("page %s shows a message missing from the catalog: %s", p.url, regexp.MustCompile(`\[\[[^\]]*\]\]`).FindString(p.body))
	}
}

func (p page) lacks(t testing.TB, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(p.body, b) {
			t.Errorf("page %s (%d) shows %q", p.url, p.status, b)
		}
	}
}

var etagField = regexp.MustCompile(`name="etag" value="([^"]*)"`)

func (p page) etag(t testing.TB) string {
	t.Helper()
	m := etagField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no etag on %s", p.url)
	}
	return strings.ReplaceAll(m[1], "&#34;", `"`)
}

// seedRecordings saves recordings of 1001 (sales) and 2001 (board), with
// files, and returns them.
func (e *env) seedRecordings(callers ...string) []*rules.Recording {
	e.t.Helper()
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	var recs []*rules.Recording
	for i, caller := range callers {
		st := "1001"
		if i%2 == 1 {
			st = "2001"
		}
		file := filepath.Join(e.recDir, "rec-"+string(rune('a'+i))+".wav")
		if err := os.WriteFile(file, []byte("RIFF-audio-"+caller), 0o644); err != nil {
			e.t.Fatal(err)
		}
		start, end := t0.Add(time.Duration(i)*time.Minute), t0.Add(time.Duration(i)*time.Minute+75*time.Second)
		recs = append(recs, &rules.Recording{UniqueID: "u" + string(rune('a'+i)), Tenant: defaultTenant, Station: st, Direction: rules.InboundDirect,
			Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales", File: file, CallerID: caller, DID: "221234567",
			State: rules.StateEnded, StartedAt: &start, EndedAt: &end, Answered: ptr(true)})
	}
	if err := e.st.SaveRecordings(context.Background(), recs); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

func TestPanelPhoneSettingsSubmitAppliesAndLogoutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("anna", auth.Admin)
	b := e.browser()

	if p := b.get("/t/default/phones"); !strings.HasPrefix(p.url, "/login") {
		t.Fatalf("without a session the panel shows %s, want the login page", p.url)
	}
	if p := b.post("/login", "login", "anna", "password", "wrong password!!"); p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.status)
	} else {
		p.has(t, "Wrong login or password.")
	}
	b.login("anna")

	p := b.get("/t/default/phones")
	p.has(t, "Phones", "1001", "2001", "recorded automatically", "setting of group sales", "2 phones")
	p = b.get("/t/default/phones/1001")
	p.has(t, "Call recording of phone 1001", "Record on demand after *2", "Submit")
	etag := p.etag(t)

	p = b.post("/t/default/phones/1001", "etag", etag, "outbound", "off", "inbound_direct", "inherit",
		"inbound_queue", "ondemand", "announce", "yes")
	if p.status != http.StatusOK || !strings.Contains(p.url, "saved=1") {
		t.Fatalf("submit: %d at %s", p.status, p.url)
	}
	p.has(t, "The new rules apply from the next call", `href="/t/default/recordings?station=1001"`)
	rs, _ := e.st.LoadRules(context.Background())
	if d := rs.Resolve("1001", rules.Outbound); d.Mode != rules.Off || d.Rule != "station:1001" {
		t.Errorf("after submit, outbound of 1001: %+v", d)
	}
	if d := rs.Resolve("1001", rules.InboundQueue); d.Mode != rules.OnDemand || !d.Announce {
		t.Errorf("after submit, queue calls of 1001: %+v", d)
	}
	if d := rs.Resolve("1001", rules.InboundDirect); d.Rule != "group:sales" {
		t.Errorf("inherit left an own rule: %+v", d)
	}

	// The same form again, made from the old version: refused, nothing
	// written, the current settings shown.
	_, audits := e.dbState()
	p = b.post("/t/default/phones/1001", "etag", etag, "outbound", "auto", "inbound_direct", "inherit",
		"inbound_queue", "ondemand", "announce", "yes")
	if p.status != http.StatusPreconditionFailed {
		t.Fatalf("stale form: %d", p.status)
	}
	p.has(t, "Someone changed this phone")
	if _, n := e.dbState(); n != audits {
		t.Errorf("a stale form wrote %d audit entries", n-audits)
	}
	// A value that is not a choice.
	if p := b.post("/t/default/phones/1001", "outbound", "loud", "inbound_direct", "off", "inbound_queue", "off", "announce", "no"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad mode: %d", p.status)
	}

	// A form from another site is refused (Go's cross-origin protection).
	req, _ := http.NewRequest("POST", e.ts.URL+"/t/default/phones/1001", strings.NewReader("outbound=auto"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form post: %d, want 403", res.StatusCode)
	}

	p = b.get("/t/default/recordings")
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}

	p = b.post("/logout")
	if !strings.HasPrefix(p.url, "/login") {
		t.Fatalf("logout ends at %s", p.url)
	}
	if p := b.get("/t/default/phones"); !strings.HasPrefix(p.url, "/login") {
		t.Errorf("after logout the panel still shows %s", p.url)
	}
}

func TestPanelListenerSeesOnlyItsGroupsRecordings(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("lena", auth.Listener, "board")
	recs := e.seedRecordings("+48601000001", "+48601000002", "+48601000003")
	b := e.browser()
	b.login("lena")

	p := b.get("/")
	if !strings.HasPrefix(p.url, "/t/default/recordings") {
		t.Fatalf("a listener starts at %s, want recordings", p.url)
	}
	p.lacks(t, ">Phones<", ">Users<", ">Audit<", "/phones", "/subject")
	p.has(t, "&#43;48601000002", "1 recording on this page")
	p.lacks(t, "48601000001", "48601000003")

	for _, tc := range []struct{ method, path string }{
		{"GET", "/t/default/phones"}, {"GET", "/t/default/phones/1001"}, {"POST", "/t/default/phones/1001"},
		{"GET", "/t/default/groups"}, {"POST", "/t/default/groups"}, {"GET", "/t/default/users"},
		{"GET", "/t/default/audit"}, {"GET", "/t/default/access"}, {"GET", "/t/default/subject?number=601000001"},
		{"GET", "/t/default/subject/export?number=601000001"}, {"POST", "/t/default/subject/erase"},
		{"POST", "/t/default/recordings/" + itoa64(recs[1].ID) + "/delete"},
		{"POST", "/t/default/recordings/" + itoa64(recs[1].ID) + "/hold"},
		{"GET", "/t/default/recordings/" + itoa64(recs[0].ID)}, // another group's
		{"GET", "/t/default/recordings?group=sales"},
	} {
		p := b.do(tc.method, tc.path, url.Values{})
		if tc.method == "GET" {
			p = b.get(tc.path)
		}
		if p.status != http.StatusForbidden {
			t.Errorf("listener %s %s: %d, want 403", tc.method, tc.path, p.status)
		}
	}
	if p := b.get("/t/other/recordings"); p.status != http.StatusNotFound {
		t.Errorf("another tenant: %d, want 404", p.status)
	}
	p = b.get("/t/default/recordings/" + itoa64(recs[1].ID))
	p.has(t, `<audio id="player" controls preload="metadata" src="/api/v1/tenants/default/recordings/`+itoa64(recs[1].ID)+`/audio"`, "1:15")
	p.lacks(t, "Put under legal hold", "Delete recording")
	// The player's source plays with Range, on the listener's session,
	// and is logged.
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/v1/tenants/default/recordings/"+itoa64(recs[1].ID)+"/audio", nil)
	req.Header.Set("Range", "bytes=0-3")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || string(body) != "RIFF" {
		t.Errorf("audio range: %d %q", res.StatusCode, body)
	}
	log, _ := e.st.AccessLog(context.Background(), store.AccessFilter{Tenant: defaultTenant})
	if len(log) != 1 || log[0].Actor != "lena" || log[0].Action != store.AccessPlay {
		t.Errorf("access log %+v", log)
	}
}

func TestPanelLanguages(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("anna", auth.Admin)
	b := e.browser()
	b.lang = "pl-PL,pl;q=0.9,en;q=0.5"
	b.get("/login").has(t, `<html lang="pl">`, "Logowanie", "Hasło")
	b.login("anna")
	p := b.get("/t/default/phones")
	p.has(t, "Telefony", "2 telefony", "nagrywane automatycznie", "ustawienie grupy sales")
	b.get("/t/default/phones/1001").has(t, "Ustawienie telefonu", "Nagrywanie rozmów", "Zatwierdź", "Nagrywaj na żądanie po *2")
	p = b.post("/lang", "lang", "en", "next", "/t/default/groups")
	if !strings.HasPrefix(p.url, "/t/default/groups") {
		t.Fatalf("language switch lands on %s", p.url)
	}
	p.has(t, `<html lang="en">`, "Sales / call centre", "Customer service / complaints", "Medical registration", "Management / office")
	if p := b.post("/lang", "lang", "de", "next", "/"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("unknown language: %d", p.status)
	}
	if p := b.post("/lang", "lang", "pl", "next", "https://evil.example/"); !strings.HasPrefix(p.url, "/t/default/") {
		t.Errorf("the language switch followed next off the site: %s", p.url)
	}
}

func TestCatalogPluralsAndFormats(t *testing.T) {
	cs, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	pl, en := cs["pl"], cs["en"]
	for n, want := range map[int]string{1: "1 nagranie", 2: "2 nagrania", 4: "4 nagrania", 5: "5 nagrań", 12: "12 nagrań",
		22: "22 nagrania", 25: "25 nagrań", 112: "112 nagrań", 1234: "1\u00a0234 nagrania"} {
		if got := pl.N("recordings.count", n); !strings.HasPrefix(got, want) {
			t.Errorf("pl %d: %q, want %q…", n, got, want)
		}
	}
	for n, want := range map[int]string{1: "1 recording on", 2: "2 recordings", 1234: "1,234 recordings"} {
		if got := en.N("recordings.count", n); !strings.HasPrefix(got, want) {
			t.Errorf("en %d: %q, want %q…", n, got, want)
		}
	}
	at := time.Date(2026, 11, 30, 7, 5, 0, 0, time.UTC)
	waw, _ := time.LoadLocation("Europe/Warsaw")
	if got := pl.Time(at, waw); got != "30.11.2026 08:05" {
		t.Errorf("pl time %q", got)
	}
	if got := en.Time(at, waw); got != "30 Nov 2026 08:05" {
		t.Errorf("en time %q", got)
	}
	for _, tc := range []struct{ cookie, header, want string }{
		{"", "pl", "pl"}, {"", "de-DE, pl;q=0.5", "pl"}, {"", "fr", "en"}, {"en", "pl", "en"}, {"xx", "pl-PL", "pl"}, {"", "", "en"},
	} {
		if got := cs.pick(tc.cookie, tc.header).lang; got != tc.want {
			t.Errorf("pick(%q, %q) = %s, want %s", tc.cookie, tc.header, got, tc.want)
		}
	}
}

// hostile is caller data meant to run script or hide text; hostileName
// is the markup of it that a station's name may hold (the rules refuse
// control characters in names).
const (
	hostileName = "\"><script>alert(1)</script><img src=x onerror=alert(2)>"
	hostile     = hostileName + "\u202e\x1b[31m"
)

func TestPanelShowsHostileDataInert(t *testing.T) {
	e := newEnv(t)
	e.seedRules(func(rs *rules.RuleSet) error {
		if err := seedSales(rs); err != nil {
			return err
		}
		rs.Stations["1001"].Name = hostileName
		return nil
	})
	e.user("anna", auth.Admin)
	recs := e.seedRecordings(hostile)
	if err := e.st.HoldRecording(context.Background(), hostile, recs[0].ID, hostile); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("anna")
	b.get("/t/default/recordings/" + itoa64(recs[0].ID) + "/audio") // an access log entry
	for _, path := range []string{"/t/default/phones", "/t/default/phones/1001", "/t/default/recordings",
		"/t/default/recordings/" + itoa64(recs[0].ID), "/t/default/subject?number=221234567", "/t/default/audit", "/t/default/access",
		"/t/default/users", "/t/default/groups"} {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Errorf("%s: %d", path, p.status)
		}
		p.lacks(t, "<script>alert", "<img src=x", "\u202e", "\x1b")
	}
	b.get("/t/default/recordings").has(t, "&lt;script&gt;alert(1)&lt;/script&gt;", `\u202E\u001B[31m`)
}

func TestPanelFormsWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("anna", auth.Admin)
	recs := e.seedRecordings("+48 601 234 567", "601999999", "0048601234567")
	b := e.browser()
	b.login("anna")

	// Groups: a preset, then a change.
	p := b.post("/t/default/groups", "name", "rejestracja", "preset", "medical-registration")
	p.has(t, "Group rejestracja saved")
	rs, _ := e.st.LoadRules(context.Background())
	if g := rs.Groups(defaultTenant)["rejestracja"]; g == nil || g.Profile != "medical-registration" {
		t.Fatalf("group from a preset: %+v", g)
	}
	if p := b.post("/t/default/groups", "name", "rejestracja", "preset", "sales"); p.status != http.StatusConflict {
		t.Errorf("duplicate group: %d", p.status)
	}
	if p := b.post("/t/default/groups", "name", "<b>", "preset", "sales"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("bad group name: %d", p.status)
	}
	etag := regexp.MustCompile(`action="/t/default/groups/rejestracja" class="group">\s*<input type="hidden" name="etag" value="([^"]*)"`).
		FindStringSubmatch(b.get("/t/default/groups").body)
	if etag == nil {
		t.Fatal("no group form")
	}
	p = b.post("/t/default/groups/rejestracja", "etag", strings.ReplaceAll(etag[1], "&#34;", `"`), "preset", "medical-registration",
		"outbound", "auto", "inbound_direct", "inherit", "inbound_queue", "inherit", "announce", "yes", "retention_days", "30")
	p.has(t, "Group rejestracja saved")
	rs, _ = e.st.LoadRules(context.Background())
	if g := rs.Groups(defaultTenant)["rejestracja"]; g.Modes[rules.Outbound] != rules.Auto || g.RetentionDays == nil || *g.RetentionDays != 30 {
		t.Errorf("group change: %+v", g)
	}

	// Users and tokens.
	p = b.post("/t/default/users", "login", "lena", "role", "listener", "groups", "board", "password", testPassword)
	p.has(t, "The user is added.")
	if u, err := e.st.User(context.Background(), "lena"); err != nil || !slices.Equal(u.Groups, []string{"board"}) {
		t.Fatalf("new listener: %+v %v", u, err)
	}
	if p := b.post("/t/default/users", "login", "x", "role", "admin", "password", "short"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("short password: %d", p.status)
	}
	b.post("/t/default/users/lena", "action", "disable").has(t, "The user is disabled")
	if u, _ := e.st.User(context.Background(), "lena"); !u.Disabled {
		t.Error("disable did not")
	}
	b.post("/t/default/users/lena", "action", "enable")
	b.post("/t/default/users/lena", "action", "password", "password", "another long password").has(t, "The password is set")
	p = b.post("/t/default/tokens", "name", "crm", "role", "listener")
	if p.status != http.StatusCreated {
		t.Fatalf("token: %d", p.status)
	}
	secret := regexp.MustCompile(`rgt_[A-Za-z0-9_-]{43}`).FindString(p.body)
	if secret == "" {
		t.Fatal("the new token's secret is not shown")
	}
	toks, _ := e.st.Tokens(context.Background(), defaultTenant)
	b.post("/t/default/tokens/"+itoa64(toks[0].ID)+"/revoke").has(t, "The token is revoked.")
	b.post("/t/default/users/lena", "action", "delete").has(t, "The user is deleted.")
	if p := b.post("/t/default/users/nobody", "action", "delete"); p.status != http.StatusNotFound {
		t.Errorf("delete of an unknown user: %d", p.status)
	}

	// Legal hold, delete.
	held := itoa64(recs[0].ID)
	b.post("/t/default/recordings/"+held+"/hold", "reason", "case 1/26").has(t, "under legal hold")
	p = b.post("/t/default/recordings/"+held+"/delete", "confirm", "yes")
	if p.status != http.StatusConflict {
		t.Errorf("delete of a held recording: %d", p.status)
	}
	if _, err := os.Stat(recs[0].File); err != nil {
		t.Errorf("a held recording's file went: %v", err)
	}
	if p := b.post("/t/default/recordings/" + itoa64(recs[1].ID) + "/delete"); p.status != http.StatusUnprocessableEntity {
		t.Errorf("delete without the confirmation: %d", p.status)
	}
	b.post("/t/default/recordings/"+itoa64(recs[1].ID)+"/delete", "confirm", "yes").has(t, "The recording is deleted.")
	if _, err := os.Stat(recs[1].File); !os.IsNotExist(err) {
		t.Errorf("deleted recording's file: %v", err)
	}

	// The data subject: search, export, erase.
	p = b.get("/t/default/subject?number=%2B48601234567")
	p.has(t, "2 recordings found", "legal hold")
	res, err := b.c.Get(e.ts.URL + "/t/default/subject/export?number=601234567")
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	names, meta := readArchive(t, zipped)
	want := []string{"audio/recording-" + itoa64(recs[0].ID) + ".wav", "audio/recording-" + itoa64(recs[2].ID) + ".wav", "metadata.json"}
	if !slices.Equal(names, want) || len(meta) != 2 {
		t.Errorf("archive holds %v and %d metadata rows, want %v and 2", names, len(meta), want)
	}
	p = b.post("/t/default/subject/erase", "number", "601234567")
	if p.status != http.StatusUnprocessableEntity {
		t.Errorf("erase without the confirmation: %d", p.status)
	}
	p = b.post("/t/default/subject/erase", "number", "601234567", "confirm", "yes")
	p.has(t, "1 recording erased.", "1 recording kept: under legal hold.", "hmac-sha256:")
	p.lacks(t, "601234567</td>")
	if _, err := e.st.Recording(context.Background(), recs[2].ID); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("erased recording: %v", err)
	}
	if _, err := os.Stat(recs[2].File); !os.IsNotExist(err) {
		t.Errorf("erased recording's file: %v", err)
	}
	b.get("/t/default/subject?number=601234567").has(t, "1 recording found", "Earlier erasures for this number")
	access := b.get("/t/default/access")
	access.has(t, "exported", "erased", "deleted")
	b.get("/t/default/audit").has(t, "legal_hold", "<td>erasure</td>", "hmac-sha256:")
}

func readArchive(t *testing.T, data []byte) ([]string, []map[string]any) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("not a zip archive: %v", err)
	}
	var names []string
	var meta []map[string]any
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "metadata.json" {
			rc, _ := f.Open()
			if err := json.NewDecoder(rc).Decode(&meta); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
	}
	slices.Sort(names)
	return names, meta
}

func TestPanelOperatorPicksATenant(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("root", auth.Operator)
	e.user("anna", auth.Admin)
	b := e.browser()
	b.login("root")
	p := b.get("/")
	if !strings.HasPrefix(p.url, "/tenants") {
		t.Fatalf("an operator starts at %s, want /tenants", p.url)
	}
	p.has(t, "Customers", `href="/t/default/"`)
	b.get("/t/default/").has(t, "Phones", "2 phones")

	a := e.browser()
	a.login("anna")
	if p := a.get("/tenants"); !strings.HasPrefix(p.url, "/t/default/") {
		t.Errorf("an admin at /tenants lands on %s, want its own tenant", p.url)
	}
}

func TestPanelRecordingFiltersAndPaging(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("anna", auth.Admin)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var recs []*rules.Recording
	for i := range 60 {
		st, d := "1001", rules.Outbound
		if i%3 == 0 {
			st, d = "2001", rules.InboundQueue
		}
		at := t0.Add(time.Duration(i) * 6 * time.Hour) // 15 days
		recs = append(recs, &rules.Recording{UniqueID: "p" + itoa64(int64(i)), Tenant: defaultTenant, Station: st, Direction: d,
			Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales", CallerID: "+4860100" + itoa64(int64(1000+i)),
			State: rules.StateEnded, StartedAt: &at, EndedAt: &at})
	}
	if err := e.st.SaveRecordings(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("anna")
	count := func(p page) int { return strings.Count(p.body, `<td class="caller">`) }

	p := b.get("/t/default/recordings")
	if n := count(p); n != 50 || !strings.Contains(p.body, "50 recordings on this page") {
		t.Fatalf("first page: %d rows", n)
	}
	next := regexp.MustCompile(`<a href="([^"]*)" id="next">`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatal("no next page link")
	}
	p = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := count(p); n != 10 || strings.Contains(p.body, `id="next"`) || !strings.Contains(p.body, "First page") {
		t.Errorf("second page: %d rows", n)
	}
	if n := count(b.get("/t/default/recordings?station=2001")); n != 20 {
		t.Errorf("station 2001: %d rows, want 20", n)
	}
	if n := count(b.get("/t/default/recordings?direction=inbound_queue&group=board")); n != 20 {
		t.Errorf("queue calls of board: %d rows, want 20", n)
	}
	// 21 November in Warsaw (UTC+1) holds the starts at 04:00, 10:00,
	// 16:00 and 22:00 UTC; the 20th's 22:00 UTC is 23:00 of the 20th.
	if n := count(b.get("/t/default/recordings?since=2026-11-21&until=2026-11-21")); n != 4 {
		t.Errorf("one day: %d rows, want 4", n)
	}
	if n := count(b.get("/t/default/recordings?number=601001007")); n != 1 {
		t.Errorf("by number: %d rows, want 1", n)
	}
	for _, bad := range []string{"?direction=up", "?trigger=x", "?since=yesterday", "?cursor=zzz"} {
		if p := b.get("/t/default/recordings" + bad); p.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", bad, p.status)
		}
	}
}

func TestPanelLoginIsThrottled(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.user("anna", auth.Admin)
	b := e.browser()
	var last page
	for range 7 {
		last = b.post("/login", "login", "anna", "password", "not her password")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("the 7th wrong password: %d (Retry-After %q), want 429", last.status, last.header.Get("Retry-After"))
	}
	last.has(t, "Too many failed attempts")
	// The right password waits too: the throttle is the API's, per login.
	if p := b.post("/login", "login", "anna", "password", testPassword); p.status != http.StatusTooManyRequests {
		t.Errorf("the right password while throttled: %d", p.status)
	}
}
