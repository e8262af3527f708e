package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/internal/asterisktest"
	"github.com/recgate/recgate/rules"
)

func TestLoadConfigAMI(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, "ami: {address: \"10.0.0.5:5038\", username: ops, timeout: 3s}\n"), []string{"RECGATE_AMI_SECRET=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (AMIConfig{Address: "10.0.0.5:5038", Username: "ops", Secret: "s3cret", Timeout: 3 * time.Second}); cfg.AMI != want {
		t.Errorf("ami = %+v, want %+v", cfg.AMI, want)
	}
	for body, want := range map[string]string{
		"ami: {address: nope}\n":  "ami.address",
		"ami: {timeout: 0s}\n":    "ami.timeout",
		"ami: {adress: x:1}\n":    "adress",
		"ami: {timeout: later}\n": "timeout",
	} {
		if _, err := LoadConfig(writeConfig(t, body), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: LoadConfig = %v, want an error naming %s", body, err, want)
		}
	}
}

func TestTestcallUsage(t *testing.T) {
	h := startServer(t, "")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"testcall"}, exitInvalid, "usage"},
		{[]string{"testcall", "1001", "sideways"}, exitInvalid, "direction"},
		{[]string{"testcall", "10 01"}, exitInvalid, "station"},
		{[]string{"testcall", "1001", "--seconds", "1"}, exitInvalid, "--seconds"},
		{[]string{"testcall", "1001"}, exitInvalid, "ami.secret"},
	} {
		_, errs, code := h.cli(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d %q, want %d naming %q", tt.args, code, errs, tt.code, tt.want)
		}
	}
	// Nothing listens where AMI should be: unavailable, not a FAIL.
	var out, errs syncBuffer
	code := Run(context.Background(), []string{"--config", h.cfgPath, "testcall", "1001"}, Env{Stdout: &out, Stderr: &errs,
		Environ: []string{"RECGATE_AMI_ADDRESS=127.0.0.1:1", "RECGATE_AMI_SECRET=x", "RECGATE_AMI_TIMEOUT=1s"}})
	if code != exitUnavailable {
		t.Errorf("AMI down: exit %d (%s), want %d", code, errs.String(), exitUnavailable)
	}
}

// testcallOn runs `recgate testcall` against the PBX's shipped AMI account.
func (e *pbxEnv) testcall(args ...string) (testcallResult, string, int) {
	e.t.Helper()
	var out, errs syncBuffer
	code := Run(context.Background(), append([]string{"--config", e.cfgPath, "testcall", "--json"}, args...), Env{
		Stdout: &out, Stderr: &errs,
		Environ: []string{"RECGATE_AMI_ADDRESS=" + e.pbx.AMIAddr(), "RECGATE_AMI_USERNAME=" + e.pbx.AMIUser, "RECGATE_AMI_SECRET=" + e.pbx.AMISecret},
	})
	var res testcallResult
	if out.String() != "" {
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			e.t.Fatalf("testcall %v: %v\n%s", args, err, out.String())
		}
	}
	return res, errs.String(), code
}

// TestTestcall runs `recgate testcall` on the real Asterisk with the
// shipped recgate.conf and manager.conf, for each mode and both kinds of
// call flow.
func TestTestcall(t *testing.T) {
	asterisktest.FindLab(t)
	e := startPBX(t, asterisktest.Options{Examples: ""}, pbxOptions{})
	tests := []struct {
		station   string
		direction rules.Direction
		mode      rules.Mode
	}{
		{"1001", rules.Outbound, rules.Auto},
		{"1002", rules.Outbound, rules.OnDemand},
		{"1003", rules.Outbound, rules.Off},
		{"1001", rules.InboundDirect, rules.OnDemand},
		{"1002", rules.InboundQueue, rules.Auto},
	}
	for _, tt := range tests {
		t.Run(tt.station+"_"+string(tt.direction), func(t *testing.T) {
			t.Parallel()
			res, errs, code := e.testcall(tt.station, string(tt.direction), "--seconds", "3")
			if code != exitOK || !res.Pass {
				t.Fatalf("exit %d %s: %+v\nrecgate log:\n%s", code, errs, res, e.logs.String())
			}
			if res.Decision != string(tt.mode) || res.Expected != tt.mode || res.Rule != "station:"+tt.station {
				t.Errorf("decided %s by %s (expected %s), want %s by station:%s", res.Decision, res.Rule, res.Expected, tt.mode, tt.station)
			}
			if tt.mode == rules.Off {
				if res.File != "" || res.Audio != nil {
					t.Errorf("off: file %q audio %+v", res.File, res.Audio)
				}
				return
			}
			if res.Audio == nil || !res.Audio.HasAudio || res.Audio.Seconds < 1 {
				t.Errorf("audio %+v, want a recording with audio", res.Audio)
			}
			if res.Recording == nil || res.Recording.Station != tt.station || res.Recording.Direction != tt.direction {
				t.Errorf("recording %+v", res.Recording)
			}
			if tt.mode == rules.OnDemand && (res.OnDemand != "started" || res.Recording.Trigger != rules.TriggerOnDemand) {
				t.Errorf("*2: %q, trigger %q", res.OnDemand, res.Recording.Trigger)
			}
		})
	}
	// A station recgate does not know (a typo, most often) is decided by
	// the defaults: the check passes, and says so.
	t.Run("unknown_station", func(t *testing.T) {
		t.Parallel()
		res, errs, code := e.testcall("1099", "outbound", "--seconds", "2")
		if code != exitOK || !res.Pass || res.Rule != "default" {
			t.Fatalf("exit %d %s: %+v", code, errs, res)
		}
		if !strings.Contains(res.Note, "station 1099 is not configured") {
			t.Errorf("note %q does not say the station is unknown", res.Note)
		}
	})
}

// TestTestcallFailsWhenRecgateIsDown: the call goes through (fail-open),
// and testcall says FAIL with exit status 1.
func TestTestcallFailsWhenRecgateIsDown(t *testing.T) {
	asterisktest.FindLab(t)
	e := startPBX(t, asterisktest.Options{}, pbxOptions{recgateDown: true})
	res, _, code := e.testcall("1001", "outbound", "--seconds", "2")
	if code != exitInternal || res.Pass {
		t.Fatalf("exit %d, %+v; want FAIL", code, res)
	}
	if len(res.Problems) == 0 || !strings.Contains(res.Problems[0], "did not decide") {
		t.Errorf("problems %q", res.Problems)
	}
}
