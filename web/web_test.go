package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// env is a real API server on a real store in a temp directory.
type env struct {
	t      testing.TB
	st     *store.Store
	srv    *Server
	ts     *httptest.Server
	recDir string
	tokens map[string]string // principal name -> bearer token
}

func ptr[T any](v T) *T { return &v }

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	return newEnvTB(t, mutate...)
}

// newEnvB is newEnv for a benchmark.
func newEnvB(b *testing.B) *env { return newEnvTB(b) }

func newEnvTB(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "recgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, recDir: filepath.Join(dir, "rec"), tokens: map[string]string{}}
	if err := os.MkdirAll(e.recDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := Config{RecordingDir: e.recDir}
	for _, m := range mutate {
		m(&cfg)
	}
	e.srv = New(cfg, st, nil)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// seedRules writes a rule set.
func (e *env) seedRules(fn func(rs *rules.RuleSet) error) {
	e.t.Helper()
	if _, err := e.st.UpdateRules(context.Background(), "seed", fn); err != nil {
		e.t.Fatal(err)
	}
}

// token creates a token and remembers it under name.
func (e *env) token(name, tenant string, role auth.Role, groups ...string) string {
	e.t.Helper()
	secret, hash, err := auth.NewSecret(auth.TokenPrefix)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateToken(context.Background(), "seed", &auth.Token{Name: name, Tenant: tenant, Role: role, Groups: groups}, hash); err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = secret
	return secret
}

// response is what one request got.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, r.body)
	}
}

// problem is an RFC 9457 problem.
type problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (r response) problem(t testing.TB) problem {
	t.Helper()
	var p problem
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json; body %s", ct, r.body)
	}
	r.json(t, &p)
	return p
}

// do sends a request as the token named as ("" for none).
func (e *env) do(as, method, path string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if as != "" {
		req.Header.Set("Authorization", "Bearer "+e.tokens[as])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// checked sends a request like do and checks the response against the
// OpenAPI document.
func (e *env) checked(as, method, path string, body any, header ...string) response {
	e.t.Helper()
	r := e.do(as, method, path, body, header...)
	loadSpec(e.t, e).checkResponse(e.t, method, path, r)
	return r
}
