package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// panelPath fills a panel route's pattern with o's objects.
func panelPath(pattern string, o objects) string {
	_, path, _ := strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	return strings.NewReplacer("{tenant}", o.tenant,
		"phones/{id}", "phones/"+o.station, "recordings/{id}", fmt.Sprint("recordings/", o.rec),
		"groups/{name}", "groups/"+o.group, "users/{login}", "users/"+o.user, "tokens/{id}", fmt.Sprint("tokens/", o.token)).Replace(path)
}

// TestPanelRouteMatrix is the API's isolation matrix for the panel,
// generated from its route table: on another tenant's pages an admin gets
// 404; a listener gets 403 on every page that is not about recordings;
// nobody logged in is sent to the login page (GET) or refused (POST); and
// no refusal changes anything.
func TestPanelRouteMatrix(t *testing.T) {
	e := newIsoEnv(t)
	before := e.state()
	a, b := e.objs["acme"], e.objs["bravo"]
	for _, rt := range panelRoutes() {
		method, _, _ := strings.Cut(rt.pattern, " ")
		if !strings.Contains(rt.pattern, "{tenant}") {
			continue
		}
		check := func(as string, o objects, want int) {
			t.Helper()
			path := panelPath(rt.pattern, o)
			r := e.do(as, method, path, nil)
			if r.status != want {
				t.Errorf("%s %s as %s: %d, want %d", method, path, as, r.status, want)
			}
			if strings.Contains(string(r.body), "[[") {
				t.Errorf("%s %s as %s: a message missing from the catalog", method, path, as)
			}
			if got := e.state(); got != before {
				t.Errorf("%s %s as %s was refused but changed the store", method, path, as)
				before = got
			}
		}
		check("a-admin", b, http.StatusNotFound)
		check("a-listener", b, http.StatusNotFound)
		check("b-admin", a, http.StatusNotFound)
		if rt.access != Recordings {
			check("a-listener", a, http.StatusForbidden)
			check("a-listener-all", a, http.StatusForbidden)
		}
		if method == http.MethodPost {
			check("", a, http.StatusUnauthorized)
		} else {
			path := panelPath(rt.pattern, a)
			if r := e.do("", method, path, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `action="/login"`) {
				t.Errorf("GET %s logged out: %d, want the login page", path, r.status)
			}
		}
	}
	// The operator reaches every tenant's pages.
	for _, p := range []string{"/t/bravo/phones", "/t/acme/recordings", "/t/bravo/users", "/t/acme/audit"} {
		if r := e.do("op", "GET", p, nil); r.status != http.StatusOK {
			t.Errorf("operator at %s: %d", p, r.status)
		}
	}
}
