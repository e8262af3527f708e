package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recgate/recgate/auth"
)

func TestRequestMetricsByRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Registerer = reg })
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	e.do("admin", "GET", "/api/v1/tenants/default/stations/1001", nil)
	e.do("admin", "GET", "/api/v1/tenants/default/stations/2001", nil)
	e.do("admin", "GET", "/api/v1/tenants/default/stations/nope", nil)
	e.do("", "GET", "/api/v1/no/such/route", nil)
	for _, tc := range []struct {
		route, code string
		want        float64
	}{
		{"GET /api/v1/tenants/{tenant}/stations/{id}", "200", 2},
		{"GET /api/v1/tenants/{tenant}/stations/{id}", "404", 1},
		{"unmatched", "404", 1},
	} {
		if got := requestCount(t, reg, tc.route, tc.code); got != tc.want {
			t.Errorf("requests{route=%q,code=%s} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %+v", err, problems)
	}
}

// requestCount reads one recgate_web_requests_total series back from the
// registry (0 when absent).
func requestCount(t *testing.T, reg *prometheus.Registry, route, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "recgate_web_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				v = m.GetCounter().GetValue()
			}
		}
	}
	return v
}

func TestPanicAnsweredWithAProblem(t *testing.T) {
	s := New(Config{}, nil, nil)
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("bug") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/me", nil))
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(w.Body.String(), "logged on the server") {
		t.Fatalf("panic: %d %v %s", w.Code, w.Header(), w.Body)
	}
}
