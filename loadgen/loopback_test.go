package loadgen

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:4573", true},
		{"127.8.9.10:4573", true},
		{"[::1]:4573", true},
		{"localhost:4573", true},
		{"10.0.0.1:4573", false},
		{"192.168.1.10:4573", false},
		{"0.0.0.0:4573", false},
		{"[::]:4573", false},
		{"example.com:4573", false},
		{"pbx.internal:4573", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
	}
	for _, tt := range tests {
		err := CheckLoopback(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:9573/metrics", true},
		{"http://localhost/metrics", true},
		{"http://[::1]:9573/metrics", true},
		{"http://10.1.2.3:9573/metrics", false},
		{"https://prometheus.example.com/metrics", false},
		{"ftp://127.0.0.1/metrics", false},
	}
	for _, tt := range tests {
		if err := CheckLoopbackURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("CheckLoopbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{"10.0.0.1:4573", "203.0.113.5:4573", "pbx.example.com:4573"} {
		cfg := Config{Target: target, Scenario: DefaultScenario(), Concurrency: 1, Sessions: 1, Timeout: 100 * time.Millisecond}
		res, err := Run(context.Background(), cfg)
		if err == nil || res != nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Run against %s: result %v, err %v; want a loopback refusal and no result", target, res, err)
		}
		_, err = Hold(context.Background(), HoldConfig{Target: target, Scenario: DefaultScenario(), Sessions: 1, HoldFor: time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Hold against %s: err %v; want a loopback refusal", target, err)
		}
	}
	if _, err := ScrapeHistogram(context.Background(), "http://198.51.100.7:9573/metrics", "x"); err == nil {
		t.Error("ScrapeHistogram of a non-loopback URL: no error")
	}
}

func TestDialerRefusesNonLoopbackAfterResolution(t *testing.T) {
	d := loopbackDialer()
	d.Timeout = 100 * time.Millisecond
	_, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:4573")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("dial 192.0.2.1: %v; want refusal before connecting", err)
	}
}
