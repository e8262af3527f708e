package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recgate/recgate/internal/asterisktest"
	"github.com/recgate/recgate/internal/wav"
	"github.com/recgate/recgate/rules"
)

// End-to-end tests on a real Asterisk (../shared/asterisk-lab, found
// through RECGATE_ASTERISK_LAB) running dialplan-examples/ as shipped,
// with SIPp playing the phones and the provider, and recgate in-process.
// Every call goes through the examples' own numbering: stations dial 0 +
// number to go out and 100X for each other, the provider delivers the DIDs
// 4930123456700 (main number, IVR), ...701 (1001), ...702 (1002, notice
// first), ...703 (1003).
//
// Each scenario gets its own recgate and its own Asterisk (about a second
// to start), so the scenarios run in parallel and share nothing.
// RECGATE_PBX_EXAMPLES points the tests at another dialplan variant (a
// folder laid out like dialplan-examples/); runPBXScenarios runs them all
// against any asterisktest.Options.

// The stations' rules in the PBX tests.
const pbxRules = `
defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
stations:
  "1001": {name: Anna, kind: sip_phone, outbound: auto, inbound_direct: ondemand, inbound_queue: auto, internal: off}
  "1002": {name: Ben, kind: sip_phone, outbound: ondemand, inbound_direct: auto, inbound_queue: auto, internal: off}
  "1003": {kind: mobile_app, outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
`

// The provider's caller in the tests.
const pbxCustomer = "4917012345678"

// hostileSIPUser is a caller id (the From user) that must change nothing
// Asterisk runs: ${SHELL}, '{', '}', '|', '^', '"' and '\' %-escaped as a
// SIP URI needs them.
const hostileSIPUser = `a,b(c)$x;y'!*~%7B%7D%7C%5E%22%5C..%24%7BSHELL%7D`

// hostileDialled is a number a station dials, after the 0: the same
// without ',', ';', '"' and '\\', on which the example's own Dial() would
// split or quote its arguments (the dialled number goes into Dial as it
// is).
const hostileDialled = `301(x)$y'!*~%7B%7D%7C%5E..%24%7BSHELL%7D`

// safeFileChars are the characters a recording's file name may hold.
const safeFileChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/"

// A recording's duration must be within this of the bridged time the
// scenario scripted: call setup, the RTP jitter buffer and the moment
// MixMonitor attaches make it a little shorter, never much longer.
const (
	durationShortBy = 1500 * time.Millisecond
	durationLongBy  = 700 * time.Millisecond
)

// pbxEnv is one scenario's world: recgate (the e2e harness) and Asterisk.
type pbxEnv struct {
	*harness
	pbx *asterisktest.PBX
}

type pbxOptions struct {
	server   serverOpts
	asterisk asterisktest.Options
	// recgateDown points the dialplan at a closed port: recgate stopped.
	recgateDown bool
}

// pbxScenario is one end-to-end check; it starts its own world with
// startPBX(t, base) so that variants can be compared.
type pbxScenario struct {
	name string
	run  func(t *testing.T, base asterisktest.Options)
}

// TestPBX runs every scenario on the shipped examples (or on the variant
// RECGATE_PBX_EXAMPLES names), both ways the examples can carry out
// recgate's decisions: the dialplan acting on recgate's one-command answer
// (RECGATE_ACT=dialplan, the default) and recgate acting itself
// (RECGATE_ACT=recgate).
func TestPBX(t *testing.T) {
	asterisktest.FindLab(t)
	for _, act := range []string{"dialplan", "recgate"} {
		t.Run(act, func(t *testing.T) {
			runPBXScenarios(t, asterisktest.Options{Examples: os.Getenv("RECGATE_PBX_EXAMPLES"), Globals: map[string]string{"RECGATE_ACT": act}})
		})
	}
}

// pbxParallel is how many scenarios run at once: each is an Asterisk,
// recgate and two or three SIPp; more starve each other on a small
// machine, and a starved SIPp sends its DTMF too late to be a feature.
const pbxParallel = 4

// runPBXScenarios runs the scenarios against base, pbxParallel at a time.
func runPBXScenarios(t *testing.T, base asterisktest.Options) {
	slots := make(chan struct{}, pbxParallel)
	for _, sc := range pbxScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			sc.run(t, base)
		})
	}
}

func startPBX(t *testing.T, base asterisktest.Options, o pbxOptions) *pbxEnv {
	t.Helper()
	lab := asterisktest.FindLab(t)
	h := startServerWith(t, o.server)
	h.importRules(pbxRules)
	opts := base
	opts.Globals = map[string]string{}
	for k, v := range base.Globals {
		opts.Globals[k] = v
	}
	for k, v := range o.asterisk.Globals {
		opts.Globals[k] = v
	}
	opts.RecgateAGI = h.m.AGIAddr()
	if o.recgateDown {
		port, err := asterisktest.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		opts.RecgateAGI = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return &pbxEnv{harness: h, pbx: asterisktest.Start(t, lab, opts)}
}

// station is the calling party of station id (its phone authenticates).
func (e *pbxEnv) station(id, dial string, steps ...asterisktest.Step) asterisktest.Party {
	return asterisktest.Party{Name: id, Dial: dial, User: id, AuthUser: id, AuthSecret: e.pbx.Secrets[id], Steps: steps}
}

// phone is station id's phone answering a call.
func (e *pbxEnv) phone(id string, steps ...asterisktest.Step) asterisktest.Party {
	return asterisktest.Party{Name: id, Port: e.pbx.Phone(id), Steps: steps}
}

// customerCalls is the provider delivering a call for did.
func (e *pbxEnv) customerCalls(did string, steps ...asterisktest.Step) asterisktest.Party {
	return asterisktest.Party{Name: "customer", IP: asterisktest.TrunkIP, Dial: did, User: pbxCustomer, Steps: steps}
}

// customerAnswers is the called party of an outbound call, at the provider.
func (e *pbxEnv) customerAnswers(steps ...asterisktest.Step) asterisktest.Party {
	return asterisktest.Party{Name: "customer", IP: asterisktest.TrunkIP, Port: e.pbx.TrunkPort, Steps: steps}
}

// talk is a call's content for the side that hangs up: audio for d.
func talk(d time.Duration) []asterisktest.Step {
	return []asterisktest.Step{asterisktest.Audio(), asterisktest.Pause(d)}
}

// waitAll waits for every SIPp to complete its script.
func waitAll(t *testing.T, ps ...*asterisktest.SIPp) {
	t.Helper()
	for _, p := range ps {
		if err := p.Wait(45 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// ended waits until recgate has recorded the end of station's call
// (hangup) and returns the station's recordings.
func (e *pbxEnv) ended(station string) []rules.Recording {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var recs []rules.Recording
	for {
		out, errs, code := e.cli("recordings", "list", "--station", station, "--json")
		if code != 0 {
			e.t.Fatalf("recordings list: %s", errs)
		}
		recs = nil
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			e.t.Fatalf("recordings list: %v\n%s", err, out)
		}
		done := len(recs) > 0
		for _, r := range recs {
			done = done && r.EndedAt != nil
		}
		if done {
			return recs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("station %s: no ended recording after 10s: %+v\nrecgate log:\n%s", station, recs, e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// one waits for station's single ended recording.
func (e *pbxEnv) one(station string) rules.Recording {
	e.t.Helper()
	recs := e.ended(station)
	if len(recs) != 1 {
		e.t.Fatalf("station %s: %d recordings, want 1: %+v", station, len(recs), recs)
	}
	return recs[0]
}

// waitState waits until station's single recording is in state.
func (e *pbxEnv) waitState(station string, state rules.RecordingState, d time.Duration) rules.Recording {
	e.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := e.one(station)
		if r.State == state || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noRecording checks that recgate recorded nothing for station and that no
// file exists under the recordings directory.
func (e *pbxEnv) noRecording(station string) {
	e.t.Helper()
	out, _, code := e.cli("recordings", "list", "--station", station, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		e.t.Errorf("station %s: recordings %s, want none", station, out)
	}
	e.noFiles()
}

// noFiles checks that no recording file exists.
func (e *pbxEnv) noFiles() {
	e.t.Helper()
	filepath.WalkDir(e.recDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			e.t.Errorf("unexpected recording file %s", p)
		}
		return nil
	})
}

// checkAudio waits until MixMonitor has closed file and checks that it
// holds real audio for about bridged.
func checkAudio(t *testing.T, file string, bridged time.Duration) wav.Info {
	t.Helper()
	info, err := waitClosed(file, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !info.HasAudio() {
		t.Errorf("%s: no audio (%d of %d samples above silence, peak %d)", file, info.NonSilent, info.Samples, info.Peak)
	}
	if d := info.Duration(); d < bridged-durationShortBy || d > bridged+durationLongBy {
		t.Errorf("%s: %s of audio, want about %s (bridged)", file, d, bridged)
	}
	return info
}

// waitClosed waits until MixMonitor has closed file (see wav.WaitClosed).
func waitClosed(file string, d time.Duration) (wav.Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return wav.WaitClosed(ctx, file, 2*time.Second)
}

// counter sums the series of the counter name whose labels include match.
func counter(t *testing.T, reg *prometheus.Registry, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func wantRecording(t *testing.T, r rules.Recording, station string, dir rules.Direction, mode rules.Mode, trigger rules.Trigger, state rules.RecordingState, answered bool) {
	t.Helper()
	if r.Station != station || r.Direction != dir || r.Mode != mode || r.Trigger != trigger || r.State != state ||
		r.Answered == nil || *r.Answered != answered {
		a := "nil"
		if r.Answered != nil {
			a = fmt.Sprint(*r.Answered)
		}
		t.Errorf("recording %+v (answered %s), want station %s direction %s mode %s trigger %q state %s answered %v",
			r, a, station, dir, mode, trigger, state, answered)
	}
}

var pbxScenarios = []pbxScenario{
	{"outbound_auto", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		callee := e.pbx.Answer(t, e.customerAnswers(asterisktest.Audio()))
		caller := e.pbx.Call(t, e.station("1001", "0301234567", talk(2500*time.Millisecond)...))
		waitAll(t, caller, callee)
		r := e.one("1001")
		wantRecording(t, r, "1001", rules.Outbound, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		checkAudio(t, r.File, 2500*time.Millisecond)
	}},

	{"inbound_direct_star2_twice", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// 1001 (ondemand) answers, talks 1 s, presses *2, and again 1 s
		// later; the customer hangs up 3.5 s after the answer.
		callee := e.pbx.Answer(t, e.phone("1001", asterisktest.Audio(), asterisktest.Pause(time.Second),
			asterisktest.DTMF("*2"), asterisktest.Pause(time.Second), asterisktest.DTMF("*2")))
		caller := e.pbx.Call(t, e.customerCalls("4930123456701", talk(3500*time.Millisecond)...))
		waitAll(t, caller, callee)
		r := e.one("1001")
		wantRecording(t, r, "1001", rules.InboundDirect, rules.OnDemand, rules.TriggerOnDemand, rules.StateEnded, true)
		if r.PressedAt == nil {
			t.Error("no press time recorded")
		}
		// From the first press (1 s + *2 = 1.6 s after the answer) to the end.
		checkAudio(t, r.File, 1900*time.Millisecond)
		if n := counter(t, e.m.Registry, "recgate_ondemand_activations_total", nil); n != 2 {
			t.Errorf("%v *2 presses reached recgate, want 2", n)
		}
	}},

	{"hostile_caller_data", func(t *testing.T, base asterisktest.Options) {
		// Hostile values sent by SIPp, through the examples as shipped.
		// What reaches recgate from outside on a real call is the number
		// a station dials (agi_dnid, the recording's DID): full of what
		// the dialplan and MixMonitor's arguments must never act on ('$',
		// parentheses, a quote, braces, '|', '^', "..", ${SHELL};
		// %-escaped where a SIP URI needs it; see hostileDialled for what
		// it leaves out). The file name takes it; the call is recorded
		// all the same, into a file of safe characters under
		// recording.dir, with real audio. Then a provider's hostile
		// caller id on an inbound call (decided on the station's channel,
		// whose own caller id recgate sees): recorded the same way.
		e := startPBX(t, base, pbxOptions{server: serverOpts{recording: `, file_template: "{{.Date}}/{{.CallerID}}_{{.DID}}_{{.Station}}_{{.UniqueID}}.wav"`}})
		callee := e.pbx.Answer(t, e.customerAnswers(asterisktest.Audio()))
		caller := e.pbx.Call(t, e.station("1001", "0"+hostileDialled, talk(2500*time.Millisecond)...))
		waitAll(t, caller, callee)
		r := e.one("1001")
		wantRecording(t, r, "1001", rules.Outbound, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		if !strings.Contains(r.DID, "(x)$y") {
			t.Errorf("did %q: the dialled value did not reach recgate", r.DID)
		}
		dir := filepath.Join(e.recDir, time.Now().Format("2006/01/02"))
		if !strings.HasPrefix(r.File, dir+"/") || strings.Contains(r.File, "..") ||
			strings.ContainsFunc(r.File, func(c rune) bool { return !strings.ContainsRune(safeFileChars, c) }) {
			t.Errorf("file %q: not a name of safe characters under %s", r.File, dir)
		}
		checkAudio(t, r.File, 2500*time.Millisecond)

		// The provider's caller id on an inbound call.
		callee = e.pbx.Answer(t, e.phone("1002", asterisktest.Audio()))
		party := e.customerCalls("4930123456702", talk(2500*time.Millisecond)...)
		party.User = hostileSIPUser
		caller = e.pbx.Call(t, party)
		waitAll(t, caller, callee)
		r = e.one("1002")
		wantRecording(t, r, "1002", rules.InboundDirect, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		if strings.ContainsFunc(r.File, func(c rune) bool { return !strings.ContainsRune(safeFileChars, c) }) {
			t.Errorf("file %q: not a name of safe characters", r.File)
		}
		checkAudio(t, r.File, r.EndedAt.Sub(*r.StartedAt))
	}},
	{"inbound_direct_auto", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// DID ...702 answers the caller, plays the notice, then rings 1002.
		callee := e.pbx.Answer(t, e.phone("1002", asterisktest.Audio()))
		caller := e.pbx.Call(t, e.customerCalls("4930123456702", talk(3500*time.Millisecond)...))
		start := time.Now()
		waitAll(t, caller, callee)
		r := e.one("1002")
		wantRecording(t, r, "1002", rules.InboundDirect, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		if r.DID != "4930123456702" {
			t.Errorf("did %q, want 4930123456702", r.DID)
		}
		if r.CallerID != pbxCustomer {
			t.Errorf("caller id %q, want the caller's %s (not the station's own)", r.CallerID, pbxCustomer)
		}
		// The notice (a beep without the custom prompt) is before the bridge.
		bridged := r.EndedAt.Sub(*r.StartedAt)
		if bridged > time.Since(start) {
			t.Errorf("recording times %s..%s longer than the call", r.StartedAt, r.EndedAt)
		}
		checkAudio(t, r.File, bridged)
	}},

	{"ivr_queue_member", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// Both members' phones are ready; the queue rings one of them.
		m1 := e.pbx.Answer(t, e.phone("1001", asterisktest.Audio()))
		m2 := e.pbx.Answer(t, e.phone("1002", asterisktest.Audio()))
		// The caller waits for the notice, presses 1 (sales), talks.
		caller := e.pbx.Call(t, e.customerCalls("4930123456700", asterisktest.Pause(1500*time.Millisecond),
			asterisktest.DTMF("1"), asterisktest.Pause(4*time.Second)))
		waitAll(t, caller)
		var member string
		select {
		case <-m1.Done():
			member = "1001"
		case <-m2.Done():
			member = "1002"
		case <-time.After(10 * time.Second):
			t.Fatal("no member's phone finished its call")
		}
		r := e.one(member)
		wantRecording(t, r, member, rules.InboundQueue, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		if r.CallerID != pbxCustomer {
			t.Errorf("caller id %q, want the caller's %s (not the member's own)", r.CallerID, pbxCustomer)
		}
		if r.Queue != "sales" {
			t.Errorf("queue %q, want sales", r.Queue)
		}
		checkAudio(t, r.File, r.EndedAt.Sub(*r.StartedAt))
	}},

	{"station_off", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		callee := e.pbx.Answer(t, e.phone("1003", asterisktest.Audio()))
		caller := e.pbx.Call(t, e.customerCalls("4930123456703", talk(2*time.Second)...))
		waitAll(t, caller, callee)
		if n := counter(t, e.m.Registry, "recgate_decisions_total", map[string]string{"direction": "inbound_direct", "mode": "off"}); n != 1 {
			t.Errorf("%v off decisions, want 1", n)
		}
		e.noRecording("1003")
	}},

	{"unanswered_outbound", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		callee := e.pbx.Answer(t, asterisktest.Party{Name: "customer", IP: asterisktest.TrunkIP, Port: e.pbx.TrunkPort, NoAnswer: true})
		caller := e.pbx.Call(t, asterisktest.Party{Name: "1001", Dial: "0301234567", User: "1001", AuthUser: "1001",
			AuthSecret: e.pbx.Secrets["1001"], CancelAfter: 1500 * time.Millisecond})
		waitAll(t, caller, callee)
		e.one("1001")
		// recgate looks at a leg not answered once MixMonitor has closed
		// its file, a few seconds after the hangup, and removes it empty.
		r := e.waitState("1001", rules.StateRemoved, 10*time.Second)
		wantRecording(t, r, "1001", rules.Outbound, rules.Auto, rules.TriggerAuto, rules.StateRemoved, false)
		e.noFiles()
	}},

	{"customer_presses_star2", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// 1001's rule for direct calls is ondemand: its channel is armed,
		// the provider's leg is not.
		callee := e.pbx.Answer(t, e.phone("1001", asterisktest.Audio()))
		caller := e.pbx.Call(t, e.customerCalls("4930123456701", asterisktest.Audio(), asterisktest.Pause(time.Second),
			asterisktest.DTMF("*2"), asterisktest.Pause(1500*time.Millisecond)))
		waitAll(t, caller, callee)
		r := e.one("1001")
		wantRecording(t, r, "1001", rules.InboundDirect, rules.OnDemand, "", rules.StateNotActivated, true)
		if n := counter(t, e.m.Registry, "recgate_ondemand_activations_total", nil); n != 0 {
			t.Errorf("%v *2 presses reached recgate, want none", n)
		}
		e.noFiles()
	}},

	{"recgate_stopped_fails_open", func(t *testing.T, base asterisktest.Options) {
		// The dialplan's own default records (RECGATE_DEFAULT=auto, the
		// call-centre setting), so the fail-open branch shows in a file.
		e := startPBX(t, base, pbxOptions{recgateDown: true, asterisk: asterisktest.Options{Globals: map[string]string{"RECGATE_DEFAULT": "auto"}}})
		callee := e.pbx.Answer(t, e.customerAnswers(asterisktest.Audio()))
		caller := e.pbx.Call(t, e.station("1001", "0301234567", talk(2500*time.Millisecond)...))
		waitAll(t, caller, callee)
		if !strings.Contains(e.pbx.Output(1<<20), "recgate: no decision for PJSIP/1001") {
			t.Error("no fail-open warning in Asterisk's log")
		}
		files, _ := filepath.Glob(filepath.Join(e.pbx.FailOpenDir, "*", "*", "*", "outbound_*.wav"))
		if len(files) != 1 {
			t.Fatalf("fail-open recordings %v, want one", files)
		}
		checkAudio(t, files[0], 2500*time.Millisecond)
	}},

	{"recgate_at_max_sessions", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{server: serverOpts{agi: ", max_sessions: 1", readTimeout: "60s"}})
		// One session that never sends its environment holds the only slot.
		hold, err := net.Dial("tcp", e.m.AGIAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Close()
		deadline := time.Now().Add(5 * time.Second)
		for e.m.AGI.ActiveSessions() < 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		callee := e.pbx.Answer(t, e.customerAnswers(asterisktest.Audio()))
		caller := e.pbx.Call(t, e.station("1001", "0301234567", talk(2*time.Second)...))
		waitAll(t, caller, callee)
		if n := counter(t, e.m.Registry, "recgate_rejected_connections_total", map[string]string{"reason": "max_sessions"}); n < 1 {
			t.Errorf("%v connections rejected over max_sessions, want at least 1", n)
		}
		if !strings.Contains(e.pbx.Output(1<<20), "recgate: no decision for PJSIP/1001") {
			t.Error("no fail-open warning in Asterisk's log")
		}
		e.noRecording("1001")
	}},

	{"attended_transfer", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// The customer calls 1001 (ondemand, never pressed), 1001 presses
		// *3, dials 1002 (auto), and completes with *5 once 1002 answered;
		// the customer then talks to 1002 and hangs up.
		p1001 := e.pbx.Answer(t, e.phone("1001", asterisktest.Audio(), asterisktest.Pause(500*time.Millisecond),
			asterisktest.DTMF("*3"), asterisktest.Pause(1500*time.Millisecond), asterisktest.DTMF("1002"),
			asterisktest.Pause(1500*time.Millisecond), asterisktest.DTMF("*5")))
		p1002 := e.pbx.Answer(t, e.phone("1002", asterisktest.Audio()))
		caller := e.pbx.Call(t, e.customerCalls("4930123456701", talk(9*time.Second)...))
		waitAll(t, caller, p1001, p1002)
		first := e.one("1001")
		wantRecording(t, first, "1001", rules.InboundDirect, rules.OnDemand, "", rules.StateNotActivated, true)
		r := e.one("1002")
		wantRecording(t, r, "1002", rules.InboundDirect, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		// From 1002's answer to the customer's hangup.
		checkAudio(t, r.File, r.EndedAt.Sub(*r.StartedAt))
	}},

	{"attended_transfer_outbound", func(t *testing.T, base asterisktest.Options) {
		e := startPBX(t, base, pbxOptions{})
		// 1002 (outbound: ondemand, never pressed) calls a customer, presses
		// *3, dials 1001 (outbound: auto) and completes with *5; the
		// customer talks to 1001, then hangs up. 1001 decides with the
		// call's direction, outbound, and its channel has no DIALSTATUS:
		// it was dialled by the transfer, not by a Dial() of its own.
		customer := e.pbx.Answer(t, asterisktest.Party{Name: "customer", IP: asterisktest.TrunkIP, Port: e.pbx.TrunkPort,
			Steps: talk(9 * time.Second), Hangup: true})
		p1001 := e.pbx.Answer(t, e.phone("1001", asterisktest.Audio()))
		p1002 := e.pbx.Call(t, e.station("1002", "0301234567", asterisktest.Audio(), asterisktest.Pause(500*time.Millisecond),
			asterisktest.DTMF("*3"), asterisktest.Pause(1500*time.Millisecond), asterisktest.DTMF("1001"),
			asterisktest.Pause(1500*time.Millisecond), asterisktest.DTMF("*5"), asterisktest.Pause(10*time.Second)))
		waitAll(t, p1002, customer, p1001)
		first := e.one("1002")
		wantRecording(t, first, "1002", rules.Outbound, rules.OnDemand, "", rules.StateNotActivated, true)
		r := e.one("1001")
		wantRecording(t, r, "1001", rules.Outbound, rules.Auto, rules.TriggerAuto, rules.StateEnded, true)
		checkAudio(t, r.File, r.EndedAt.Sub(*r.StartedAt))
	}},
}
