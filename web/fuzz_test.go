package web

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzForwardedFor: whatever a client writes in X-Forwarded-For, the
// address believed is a valid IP, and never one the header put left of
// the first untrusted hop when the peer is not a proxy.
func FuzzForwardedFor(f *testing.F) {
	for _, seed := range []string{"", "203.0.113.9", "198.51.100.1, 203.0.113.9", "10.2.2.2,10.3.3.3", "garbage", "::1, [::1]", "1.2.3.4,,", strings.Repeat("1.1.1.1,", 100)} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	s := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, nil, nil)
	f.Fuzz(func(t *testing.T, xff string, viaProxy bool) {
		remote := "192.0.2.1:4000"
		if viaProxy {
			remote = "10.0.0.1:4000"
		}
		var got client
		h := s.withClient(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientOf(r.Context()) }))
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr, r.Header = remote, http.Header{"X-Forwarded-For": {xff}, "X-Forwarded-Proto": {"https"}}
		h.ServeHTTP(nil, r)
		if _, err := netip.ParseAddr(got.addr); err != nil {
			t.Fatalf("address %q believed from %q", got.addr, xff)
		}
		if !viaProxy && (got.addr != "192.0.2.1" || got.secure) {
			t.Fatalf("a client that is not a proxy set its address to %q (secure %v)", got.addr, got.secure)
		}
	})
}

// FuzzCheckIfMatch: an If-Match header of any shape matches the current
// ETag only when it names it (or *).
func FuzzCheckIfMatch(f *testing.F) {
	const current = `"0123456789abcdef01234567"`
	for _, seed := range []string{"", current, "W/" + current, `"x", ` + current, "*", `"0123456789abcdef0123456"`, ",,,", `"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ifMatch string) {
		err := checkIfMatch(ifMatch, current)
		names := ifMatch == ""
		for _, v := range strings.Split(ifMatch, ",") {
			v = strings.TrimSpace(v)
			names = names || v == "*" || strings.TrimPrefix(v, "W/") == current
		}
		if (err == nil) != names {
			t.Fatalf("If-Match %q: err %v", ifMatch, err)
		}
	})
}
