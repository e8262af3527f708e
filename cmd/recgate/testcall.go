package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/ami"
	"github.com/recgate/recgate/internal/wav"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// The dialplan testcall relies on: the contexts recgate.conf ships
// (dialplan-examples/recgate.conf, "recgate testcall") and the event
// [recgate-testcall-report] sends.
const (
	testcallContext      = "recgate-testcall"
	testcallPhoneContext = "recgate-testcall-phone"
	testcallFarContext   = "recgate-testcall-far"
	testcallEvent        = "RecgateTestcall"
)

// testcallResult is what testcall found (--json).
type testcallResult struct {
	Station   string          `json:"station"`
	Direction rules.Direction `json:"direction"`
	// Expected and ExpectedRule are what the rules say now (explain).
	Expected     rules.Mode `json:"expected"`
	ExpectedRule string     `json:"expected_rule"`
	// What the station's channel carried at hangup.
	UniqueID string `json:"uniqueid,omitempty"`
	Decision string `json:"decision"`
	Rule     string `json:"rule,omitempty"`
	OnDemand string `json:"ondemand,omitempty"`
	FailOpen string `json:"failopen,omitempty"`
	File     string `json:"file,omitempty"`
	// Recording is recgate's metadata for the channel, if any.
	Recording *rules.Recording `json:"recording,omitempty"`
	// Audio is the file's check, if there is a file.
	Audio    *testcallAudio `json:"audio,omitempty"`
	Pass     bool           `json:"pass"`
	Problems []string       `json:"problems,omitempty"`
	// Note says what a passing check may hide: a station recgate does not
	// know, decided by the defaults.
	Note string `json:"note,omitempty"`
}

type testcallAudio struct {
	Seconds  float64 `json:"seconds"`
	HasAudio bool    `json:"has_audio"`
	Peak     int     `json:"peak"`
}

// errTestcallFailed makes a failed check exit non-zero after the report.
var errTestcallFailed = errors.New("testcall: FAIL")

func newTestcallCmd(a *app) *cobra.Command {
	var (
		asJSON  bool
		seconds int
	)
	cmd := &cobra.Command{
		Use:   "testcall STATION [DIRECTION]",
		Short: "Place a test call on the PBX (AMI) that exercises STATION's rule, and check the decision and the recording",
		Long: `Originates a call over AMI (ami.address, ami.username, ami.secret) through the
[recgate-testcall] contexts of dialplan-examples/recgate.conf: Local channels
play the station's phone and the other party, both sending a tone, through
the same hooks as real calls; for an ondemand rule the "phone" presses *2.
It waits for the call to end, then reports what recgate decided and which
rule decided it, the recording file and whether it holds audio, and PASS or
FAIL (exit status 0 or 1). DIRECTION (` + strings.Join(directionNames(), ", ") + `)
defaults to outbound. Run it where recgate's store and the recordings are
readable (usually the Asterisk host).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return &usageError{fmt.Errorf("usage: %s STATION [DIRECTION]", cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if seconds < 2 || seconds > 60 {
				return rules.Errorf(rules.EINVALID, "--seconds must be between 2 and 60, got %d", seconds)
			}
			if err := rules.ValidateStationID(args[0]); err != nil {
				return rules.Errorf(rules.EINVALID, "%v", err)
			}
			d := rules.Outbound
			if len(args) == 2 {
				var err error
				if d, err = rules.ParseDirection(args[1]); err != nil {
					return rules.Errorf(rules.EINVALID, "%v", err)
				}
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if cfg.AMI.Username == "" || cfg.AMI.Secret == "" {
				return rules.Errorf(rules.EINVALID, "testcall needs ami.username and ami.secret (recgate.yaml, or RECGATE_AMI_SECRET)")
			}
			st, err := store.Open(cmd.Context(), cfg.Store.Path)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := testcall(cmd.Context(), cfg, st, args[0], d, time.Duration(seconds)*time.Second)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(a.env.Stdout, res); err != nil {
					return err
				}
			} else {
				printTestcall(a.env.Stdout, res)
			}
			if !res.Pass {
				return errTestcallFailed
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&seconds, "seconds", 4, "how long the test call lasts (2-60)")
	return cmd
}

// testcall places the call and checks its outcome. An error means the
// check could not be made (AMI, store); a failed check is res.Pass false.
func testcall(ctx context.Context, cfg *Config, st *store.Store, station string, d rules.Direction, length time.Duration) (*testcallResult, error) {
	rs, err := st.LoadRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("testcall: rules: %w", err)
	}
	expected, _ := rs.Explain(station, d)
	res := &testcallResult{Station: station, Direction: d, Expected: expected.Mode, ExpectedRule: expected.Rule}
	if rs.Stations[station] == nil {
		res.Note = fmt.Sprintf("station %s is not configured: the defaults decide (add it: recgate station add %s)", station, station)
	}

	timeout := cfg.AMI.Timeout
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := ami.Dial(dctx, cfg.AMI.Address)
	if err != nil {
		return nil, rules.Errorf(rules.EUNAVAILABLE, "testcall: %v", err)
	}
	defer c.Close()
	if err := c.Login(dctx, cfg.AMI.Username, cfg.AMI.Secret); err != nil {
		return nil, rules.Errorf(rules.EUNAVAILABLE, "testcall: login as %s: %v", cfg.AMI.Username, err)
	}

	id, err := testcallID()
	if err != nil {
		return nil, err
	}
	press := "no"
	if expected.Mode == rules.OnDemand {
		press = "yes"
	}
	channel := "Local/" + station + "@" + testcallPhoneContext + "/n"
	if d == rules.InboundDirect || d == rules.InboundQueue {
		channel = "Local/customer@" + testcallFarContext + "/n"
	}
	orig := ami.NewMessage(
		"Action", "Originate",
		"Channel", channel,
		"Context", testcallContext,
		"Exten", string(d),
		"Priority", "1",
		"CallerID", `"recgate testcall" <0>`,
		"Timeout", strconv.FormatInt(timeout.Milliseconds(), 10),
		"Async", "false",
	)
	orig.Add("Variable", "__RECGATE_TESTCALL="+id)
	orig.Add("Variable", "__RECGATE_TESTCALL_STATION="+station)
	orig.Add("Variable", "__RECGATE_TESTCALL_PRESS="+press)
	orig.Add("Variable", "__RECGATE_TESTCALL_SECONDS="+strconv.Itoa(int(length.Seconds())))
	octx, ocancel := context.WithTimeout(ctx, 2*timeout)
	_, err = c.Action(octx, orig)
	ocancel()
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("the PBX did not place the call: %v (are recgate.conf's [%s] contexts loaded?)", err, testcallContext))
		return res, nil
	}

	ev, err := waitTestcallEvent(ctx, c, id, length+timeout)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
		return res, nil
	}
	res.UniqueID, res.Decision, res.Rule = ev.Get("Uniqueid"), ev.Get("Decision"), ev.Get("Rule")
	res.OnDemand, res.FailOpen, res.File = ev.Get("Ondemand"), ev.Get("Failopen"), ev.Get("File")
	checkTestcall(ctx, st, res, timeout)
	res.Pass = len(res.Problems) == 0
	return res, nil
}

// waitTestcallEvent waits for the report of test call id.
func waitTestcallEvent(ctx context.Context, c *ami.Client, id string, d time.Duration) (ami.Message, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return ami.Message{}, errors.New("the AMI connection closed before the call ended")
			}
			if ev.Get("Event") == "UserEvent" && ev.Get("UserEvent") == testcallEvent && ev.Get("TestID") == id {
				return ev, nil
			}
		case <-timer.C:
			return ami.Message{}, fmt.Errorf("no %s event within %s: is the AMI account allowed to read \"user\" events?", testcallEvent, d)
		case <-ctx.Done():
			return ami.Message{}, ctx.Err()
		}
	}
}

// checkTestcall compares the outcome with the rules and checks the
// recording recgate kept for the station's channel.
func checkTestcall(ctx context.Context, st *store.Store, res *testcallResult, timeout time.Duration) {
	problem := func(format string, args ...any) { res.Problems = append(res.Problems, fmt.Sprintf(format, args...)) }
	switch {
	case res.Decision == "" || res.Decision == "error" || res.FailOpen != "":
		problem("recgate did not decide (RECGATE_DECISION %q, the dialplan applied its fail-open default %q): is recgate serving at the dialplan's RECGATE address?", res.Decision, res.FailOpen)
		return
	case res.Decision != string(res.Expected):
		problem("recgate decided %s (rule %s), the rules say %s (rule %s)", res.Decision, res.Rule, res.Expected, res.ExpectedRule)
	}
	wantFile := res.Expected == rules.Auto || res.Expected == rules.OnDemand
	if res.Expected == rules.OnDemand && res.OnDemand != "started" {
		problem("*2 did not start the recording (RECGATE_ONDEMAND %q)", res.OnDemand)
	}
	if !wantFile {
		if res.File != "" {
			problem("a recording was started (%s) although the rule is %s", res.File, res.Expected)
		}
		return
	}
	deadline := time.Now().Add(timeout)
	for {
		rec, err := st.RecordingByUniqueID(ctx, res.UniqueID)
		if err == nil && rec.EndedAt != nil {
			res.Recording = rec
			break
		}
		if time.Now().After(deadline) {
			problem("recgate has no ended recording for channel %s: %v", res.UniqueID, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res.File == "" {
		res.File = res.Recording.File
	}
	wctx, cancel := context.WithDeadline(ctx, deadline.Add(2*time.Second))
	defer cancel()
	info, err := wav.WaitClosed(wctx, res.File, 2*time.Second)
	if err != nil {
		problem("recording not readable here (run testcall where the recordings are): %v", err)
		return
	}
	res.Audio = &testcallAudio{Seconds: info.Duration().Seconds(), HasAudio: info.HasAudio(), Peak: info.Peak}
	if !info.HasAudio() {
		problem("the recording holds no audio (%.1f s, peak %d)", res.Audio.Seconds, info.Peak)
	}
}

func testcallID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("testcall: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func printTestcall(w io.Writer, r *testcallResult) {
	verdict := "FAIL"
	if r.Pass {
		verdict = "PASS"
	}
	fmt.Fprintf(w, "testcall %s %s: %s\n", r.Station, r.Direction, verdict)
	fmt.Fprintf(w, "  rules say  %s (rule %s)\n", r.Expected, r.ExpectedRule)
	if r.Decision != "" || r.FailOpen != "" {
		line := fmt.Sprintf("  decided    %s (rule %s)", orDash(r.Decision), orDash(r.Rule))
		if r.FailOpen != "" {
			line += ", fail-open default " + r.FailOpen
		}
		fmt.Fprintln(w, line)
	}
	if r.OnDemand != "" {
		fmt.Fprintf(w, "  *2         %s\n", r.OnDemand)
	}
	if r.File != "" {
		fmt.Fprintf(w, "  file       %s\n", r.File)
	}
	if r.Audio != nil {
		fmt.Fprintf(w, "  audio      %.1f s, %s (peak %d)\n", r.Audio.Seconds, map[bool]string{true: "holds audio", false: "silent"}[r.Audio.HasAudio], r.Audio.Peak)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  problem    %s\n", p)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "  note       %s\n", r.Note)
	}
}
