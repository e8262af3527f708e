package web

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// BenchmarkAPI measures the API with 10,000 stations in one tenant, over
// loopback on a real SQLite store: GET a page of stations (100, the
// default) and PATCH one station (a rule change applied from the next
// call). It reports requests per second and the p99 latency. Reproduce:
//
//	go test -run '^$' -bench BenchmarkAPI -benchtime 2000x ./web/
func BenchmarkAPI(b *testing.B) {
	const stations = 10000
	e := newEnvB(b)
	e.seedRules(func(rs *rules.RuleSet) error {
		acme := rules.NewTenant("acme")
		acme.Groups["sales"] = &rules.Group{Name: "sales", Profile: "sales"}
		rs.Tenants["acme"] = acme
		for i := 0; i < stations; i++ {
			id := fmt.Sprintf("%05d", i)
			rs.Stations[id] = &rules.Station{ID: id, Tenant: "acme", Kind: rules.SIPPhone, Group: "sales"}
		}
		return nil
	})
	tok := e.token("admin", "acme", auth.Admin)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	run := func(b *testing.B, req func(i int) *http.Request, want int) {
		var (
			mu   sync.Mutex
			lats []time.Duration
			n    int
		)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				r := req(i)
				r.Header.Set("Authorization", "Bearer "+tok)
				t0 := time.Now()
				res, err := client.Do(r)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mine = append(mine, time.Since(t0))
				if res.StatusCode != want {
					b.Errorf("status %d, want %d", res.StatusCode, want)
					return
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
		elapsed := time.Since(start)
		b.StopTimer()
		slices.Sort(lats)
		if len(lats) > 0 {
			b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
		}
	}
	base := e.ts.URL + "/api/v1/tenants/acme/stations"
	b.Run("GET-stations", func(b *testing.B) {
		run(b, func(i int) *http.Request {
			cursor := ""
			if i%2 == 1 {
				cursor = fmt.Sprintf("?cursor=%05d", (i*37)%stations)
			}
			r, _ := http.NewRequest(http.MethodGet, base+cursor, nil)
			return r
		}, http.StatusOK)
	})
	b.Run("PATCH-station", func(b *testing.B) {
		// Every PATCH changes something (the name carries a per-run
		// nonce): a write that changes nothing costs nothing downstream.
		modes := []string{"off", "auto", "ondemand", "inherit"}
		nonce := time.Now().UnixNano()
		run(b, func(i int) *http.Request {
			body := fmt.Sprintf(`{"name": "n%d-%d", "rules": {"outbound": %q}}`, nonce, i, modes[i%len(modes)])
			r, _ := http.NewRequest(http.MethodPatch, fmt.Sprintf("%s/%05d", base, (i*7919)%stations), strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, http.StatusOK)
	})
}
