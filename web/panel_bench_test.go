package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// BenchmarkPanel measures the panel's two busiest pages, rendered on the
// real store over loopback: Phones with 1,000 phones (a page of 100) and
// Recordings with 10,000 recordings (a page of 50). Run:
//
//	go test -run '^$' -bench BenchmarkPanel -benchtime 3s ./web/
func BenchmarkPanel(b *testing.B) {
	e := newEnvB(b)
	e.seedRules(func(rs *rules.RuleSet) error {
		if err := seedSales(rs); err != nil {
			return err
		}
		for i := range 1000 {
			id := fmt.Sprintf("3%03d", i)
			rs.Stations[id] = &rules.Station{ID: id, Kind: rules.SIPPhone, Group: "sales"}
		}
		return nil
	})
	t0 := time.Now().Add(-30 * 24 * time.Hour).UTC()
	var recs []*rules.Recording
	for i := range 10000 {
		at := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, &rules.Recording{UniqueID: fmt.Sprintf("b%d", i), Tenant: defaultTenant, Station: "1001",
			Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales",
			CallerID: "+48601234567", State: rules.StateEnded, StartedAt: &at, EndedAt: &at})
	}
	if err := e.st.SaveRecordings(context.Background(), recs); err != nil {
		b.Fatal(err)
	}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.st.CreateUser(context.Background(), "seed", &auth.User{Login: "anna", Tenant: defaultTenant, Role: auth.Admin}, hash); err != nil {
		b.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if res, err := c.PostForm(e.ts.URL+"/login", map[string][]string{"login": {"anna"}, "password": {testPassword}}); err != nil {
		b.Fatal(err)
	} else {
		res.Body.Close()
	}
	for _, page := range []string{"/t/default/phones", "/t/default/recordings"} {
		b.Run(page, func(b *testing.B) {
			for b.Loop() {
				res, err := c.Get(e.ts.URL + page)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK || res.Request.URL.Path != page {
					b.Fatalf("%s: %d at %s", page, res.StatusCode, res.Request.URL.Path)
				}
			}
		})
	}
}
