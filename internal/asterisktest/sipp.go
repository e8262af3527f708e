package asterisktest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// Step is one thing a party does once the call is up.
type Step struct {
	kind  string // "audio", "pause", "dtmf"
	pause time.Duration
	digit string
}

// Audio starts playing the lab's PCMA recording (g711a.pcap, 7 s) on the
// call's RTP stream; a later DTMF replaces it, a later Audio restarts it.
func Audio() Step { return Step{kind: "audio"} }

// Pause waits d.
func Pause(d time.Duration) Step { return Step{kind: "pause", pause: d} }

// DTMF sends digits (0-9, *, #) as RFC 4733 events, 500 ms apart, and
// restarts the audio afterwards.
func DTMF(digits string) Step { return Step{kind: "dtmf", digit: digits} }

// Party is one SIPp process: a phone or the provider's side of a call.
type Party struct {
	// Name labels the party in logs ("1001", "trunk").
	Name string
	// IP and Port are the party's own SIP address (PBXIP for stations,
	// TrunkIP for the provider).
	IP   string
	Port int
	// Caller: Dial is the request-URI user Asterisk receives (an
	// extension: "1002", "04930...", a DID); User the From user; AuthUser
	// and AuthSecret answer Asterisk's digest challenge (stations).
	Dial, User, AuthUser, AuthSecret string
	// Steps run once the call is answered (after the ACK). A caller
	// then hangs up (BYE); a callee waits for the BYE unless Hangup is
	// set. Either side accepts the other's BYE at any step.
	Steps []Step
	// Callee: Hangup sends BYE after Steps.
	Hangup bool
	// Callee: Ring is how long it rings before answering; NoAnswer makes
	// it ring until the caller gives up (CANCEL).
	Ring     time.Duration
	NoAnswer bool
	// Caller: CancelAfter gives up (CANCEL) after ringing this long.
	CancelAfter time.Duration

	// Load: Calls is how many calls the process places or answers
	// (default 1), Rate the callers' calls per second (default 10),
	// Timeout how long the process may run (default 60s). MeasureRinging
	// records, per call, the time from the (authenticated) INVITE to the
	// 180 Ringing: Ringing returns them.
	Calls          int
	Rate           float64
	Timeout        time.Duration
	MeasureRinging bool
}

// SIPp is a running SIPp process.
type SIPp struct {
	party Party
	cmd   *exec.Cmd
	dir   string
	out   bytes.Buffer
	mu    sync.Mutex
	done  chan struct{}
	err   error
}

// Answer starts a SIPp that answers one call as callee party (its Port
// is Asterisk's static contact for it). It is stopped by its PID when the
// test ends.
func (p *PBX) Answer(tb testing.TB, party Party) *SIPp {
	tb.Helper()
	return p.sipp(tb, party, false)
}

// Call starts a SIPp that places one call to Asterisk as caller party.
func (p *PBX) Call(tb testing.TB, party Party) *SIPp {
	tb.Helper()
	return p.sipp(tb, party, true)
}

func (p *PBX) sipp(tb testing.TB, party Party, caller bool) *SIPp {
	tb.Helper()
	if party.IP == "" {
		party.IP = PBXIP
	}
	if party.Port == 0 {
		port, err := FreePorts(1)
		if err != nil {
			tb.Fatal(err)
		}
		party.Port = port
	}
	rtp, err := FreePorts(8)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	xml, err := Scenario(party, caller, p.Lab)
	if err != nil {
		tb.Fatal(err)
	}
	sf := filepath.Join(dir, "scenario.xml")
	if err := os.WriteFile(sf, []byte(xml), 0o644); err != nil {
		tb.Fatal(err)
	}
	calls, timeout := max(party.Calls, 1), party.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	args := []string{
		"-sf", sf, "-i", party.IP, "-mi", party.IP, "-p", fmt.Sprint(party.Port),
		"-min_rtp_port", fmt.Sprint(rtp), "-max_rtp_port", fmt.Sprint(rtp + 7),
		"-m", fmt.Sprint(calls), "-aa", "-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())), "-timeout_error",
		"-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
	}
	if calls == 1 {
		args = append(args, "-trace_msg", "-message_file", filepath.Join(dir, "messages.log"))
	}
	if party.Rate > 0 {
		args = append(args, "-r", fmt.Sprint(party.Rate))
	}
	if party.MeasureRinging {
		args = append(args, "-trace_rtt", "-rtt_freq", "1", "-timer_resol", "1")
	}
	if caller {
		args = append(args, "-s", party.Dial)
		if party.AuthUser != "" {
			args = append(args, "-au", party.AuthUser, "-ap", party.AuthSecret)
		}
		args = append(args, p.SIPAddr())
	}
	s := &SIPp{party: party, dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(p.Lab.SIPp(), args...)
	dieWithTest(s.cmd)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{mu: &s.mu, b: &s.out}, &lockedWriter{mu: &s.mu, b: &s.out}
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("sipp %s: %v", party.Name, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
		if tb.Failed() {
			tb.Logf("sipp %s: %s", party.Name, s.Log())
		}
	})
	if !caller {
		// SIPp binds its port before reading the scenario's first message;
		// give it that moment so Asterisk does not ring a closed port.
		waitUDPBound(party.IP, party.Port, 3*time.Second)
	}
	return s
}

// Wait waits until SIPp exits (at most d) and returns an error unless it
// completed its call as scripted.
func (s *SIPp) Wait(d time.Duration) error {
	select {
	case <-s.done:
	case <-time.After(d):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("sipp %s: still running after %s; killed", s.party.Name, d)
	}
	if s.err != nil {
		return fmt.Errorf("sipp %s: %v", s.party.Name, s.err)
	}
	return nil
}

// Done is closed when the process has exited.
func (s *SIPp) Done() <-chan struct{} { return s.done }

// Log is SIPp's unexpected-message log and the tail of its SIP trace.
func (s *SIPp) Log() string {
	var b strings.Builder
	if e, err := os.ReadFile(filepath.Join(s.dir, "errors.log")); err == nil {
		b.Write(e)
	}
	if m, err := os.ReadFile(filepath.Join(s.dir, "messages.log")); err == nil {
		if len(m) > 4000 {
			m = m[len(m)-4000:]
		}
		b.WriteString("\n--- SIP trace (tail) ---\n")
		b.Write(m)
	}
	return b.String()
}

// waitUDPBound waits until something holds the UDP port (binding it fails).
func waitUDPBound(ip string, port int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !udpFree(ip, port) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Scenario renders the SIPp scenario XML that plays party.
func Scenario(party Party, caller bool, lab *Lab) (string, error) {
	var steps []string
	for _, st := range party.Steps {
		switch st.kind {
		case "audio":
			steps = append(steps, playPCAP(lab.PCAP("g711a.pcap")))
		case "pause":
			steps = append(steps, fmt.Sprintf(`<pause milliseconds="%d"/>`, st.pause.Milliseconds()))
		case "dtmf":
			// The lab's digit captures share one RTP stream (SSRC) whose
			// timestamps are not in key order, and Asterisk drops a digit
			// older than the last one of the same stream. A burst of the
			// audio capture (another SSRC) between two digits makes
			// Asterisk reset its DTMF state, as a new stream does.
			for i, d := range st.digit {
				name := string(d)
				switch d {
				case '*':
					name = "star"
				case '#':
					name = "pound"
				}
				// 250 ms of audio leave room for a late play thread on a
				// loaded machine: a burst that sends nothing merges two
				// digits into one stream again.
				if i > 0 {
					steps = append(steps, playPCAP(lab.PCAP("g711a.pcap")), `<pause milliseconds="250"/>`)
				}
				steps = append(steps, playPCAP(lab.PCAP("dtmf_2833_"+name+".pcap")), `<pause milliseconds="250"/>`)
			}
			steps = append(steps, playPCAP(lab.PCAP("g711a.pcap")))
		default:
			return "", fmt.Errorf("asterisktest: unknown step %q", st.kind)
		}
	}
	data := struct {
		Party
		Caller              bool
		Steps               string
		RingMS, CancMS      int64
		InviteCSeq, ByeCSeq int
	}{party, caller, strings.Join(steps, "\n  "), party.Ring.Milliseconds(), party.CancelAfter.Milliseconds(), 1, 2}
	if party.MeasureRinging && (!caller || party.CancelAfter > 0) {
		return "", errors.New("asterisktest: MeasureRinging is for callers that wait for an answer")
	}
	if party.AuthUser != "" {
		data.InviteCSeq, data.ByeCSeq = 2, 3
	}
	var b bytes.Buffer
	if err := scenarioTmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

func playPCAP(path string) string {
	return fmt.Sprintf(`<nop><action><exec play_pcap_audio="%s"/></action></nop>`, path)
}

const sdp = `v=0
      o=sipp 53655765 2353687637 IN IP4 [media_ip]
      s=-
      c=IN IP4 [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv`

var scenarioTmpl = template.Must(template.New("scenario").Parse(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="recgate {{.Name}}">
{{- if .Caller}}
  <send retrans="500"{{if and .MeasureRinging (not .AuthUser)}} start_rtd="1"{{end}}>
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{{.User}}@[local_ip]:[local_port]>
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ` + sdp + `
    ]]>
  </send>
  <recv response="100" optional="true"/>
{{- if .AuthUser}}
  <recv response="401" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500"{{if .MeasureRinging}} start_rtd="1"{{end}}>
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:{{.User}}@[local_ip]:[local_port]>
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE
      [authentication]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      ` + sdp + `
    ]]>
  </send>
  <recv response="100" optional="true"/>
{{- end}}
{{- if .CancMS}}
  <recv response="183" optional="true"/>
  <recv response="180"/>
  <pause milliseconds="{{.CancMS}}"/>
  <send>
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: {{.InviteCSeq}} CANCEL
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{.InviteCSeq}} ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{{- else}}
{{- if .MeasureRinging}}
  <recv response="180" rtd="1"/>
  <recv response="183" optional="true"/>
  <!-- Matched whenever the other side hangs up while this one still
       plays its steps. -->
  <recv request="BYE" optional="global" next="bye"/>
  <recv response="200" rrs="true"/>
{{- else}}
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <!-- Matched whenever the other side hangs up while this one still
       plays its steps. -->
  <recv request="BYE" optional="global" next="bye"/>
  <recv response="200" rrs="true" rtd="true"/>
{{- end}}
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{.InviteCSeq}} ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
{{- end}}
{{- else}}
{{- if .NoAnswer}}
  <recv request="INVITE" crlf="true">
    <action><ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invcseq"/></action>
  </recv>
{{- else}}
  <recv request="INVITE" crlf="true"{{if .Hangup}} rrs="true"{{end}}/>
{{- end}}
  <send>
    <![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Content-Length: 0
    ]]>
  </send>
{{- if .NoAnswer}}
  <recv request="CANCEL"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <send>
    <![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq:[$invcseq]
      Content-Length: 0
    ]]>
  </send>
  <recv request="ACK"/>
{{- else}}
  <pause milliseconds="{{.RingMS}}"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port]>
      Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE
      Content-Type: application/sdp
      Content-Length: [len]

      ` + sdp + `
    ]]>
  </send>
  <!-- Matched whenever the other side hangs up while this one still
       plays its steps. -->
  <recv request="BYE" optional="global" next="bye"/>
{{- if .Hangup}}
  <recv request="ACK" rtd="true" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="me"/>
    </action>
  </recv>
{{- else}}
  <recv request="ACK" rtd="true" crlf="true"/>
{{- end}}
{{- end}}
{{- end}}
{{- if not (or .CancMS .NoAnswer)}}
  {{.Steps}}
{{- if .Caller}}
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{{.User}}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {{.ByeCSeq}} BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" next="end"/>
{{- else if .Hangup}}
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From:[$me]
      To:[$peer]
      Call-ID: [call_id]
      CSeq: 1 BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true" next="end"/>
{{- else}}
  <recv request="BYE"/>
{{- end}}
  <label id="bye"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
  <label id="end"/>
  <pause milliseconds="1"/>
{{- end}}
</scenario>
`))

// Ringing returns the measured times from INVITE to 180 Ringing, one per
// call that rang, once the process has exited (MeasureRinging).
func (s *SIPp) Ringing() ([]time.Duration, error) {
	files, err := filepath.Glob(filepath.Join(s.dir, "*_rtt.csv"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("sipp %s: no response-time trace", s.party.Name)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		return nil, fmt.Errorf("sipp %s: %w", s.party.Name, err)
	}
	var out []time.Duration
	for _, line := range strings.Split(string(b), "\n") {
		// Date_ms;response_time_ms;rtd_no
		f := strings.Split(strings.TrimSpace(line), ";")
		if len(f) < 2 {
			continue
		}
		ms, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue // the header
		}
		out = append(out, time.Duration(ms*float64(time.Millisecond)))
	}
	return out, nil
}
