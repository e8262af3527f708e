package loadgen

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/agi"
)

func TestReplies(t *testing.T) {
	// One session's commands in order: the replies depend on what earlier
	// commands stored, as on a real channel.
	steps := []struct{ cmd, want string }{
		{"GET VARIABLE DYNAMIC_FEATURES", "200 result=0"},
		{`SET VARIABLE __DYNAMIC_FEATURES "recgate_ondemand"`, "200 result=1"},
		{"GET VARIABLE DYNAMIC_FEATURES", "200 result=1 (recgate_ondemand)"},
		{`SET VARIABLE CHANNEL(hangup_handler_push) "recgate-hangup,s,1"`, "200 result=1"},
		{`EXEC MixMonitor "/var/spool/asterisk/monitor/2026/11/24/1001_outbound_1.2.wav,b"`, "200 result=0"},
		{`EXEC MSet "RECGATE_DECISION=auto,RECGATE_RULE=group:sales,RECGATE_ANNOUNCE=no"`, "200 result=0"},
		{"GET VARIABLE RECGATE_DECISION", "200 result=1 (auto)"},
		{"GET VARIABLE RECGATE_RULE", "200 result=1 (group:sales)"},
		{`SET VARIABLE QUOTED "say \"hi\" \\o/"`, "200 result=1"},
		{"GET VARIABLE QUOTED", `200 result=1 (say "hi" \o/)`},
		{`EXEC Playback "beep"`, "200 result=0"},
		{`VERBOSE "probe says hi" 1`, "200 result=1"},
		{"ANSWERME", "510 Invalid or unknown command"},
		{"SET CALLERID 1001", "510 Invalid or unknown command"},
		{"", "510 Invalid or unknown command"},
	}
	var v channelVars
	for _, s := range steps {
		if got := v.reply(s.cmd); got != s.want {
			t.Errorf("reply(%q) = %q, want %q", s.cmd, got, s.want)
		}
	}
}

// The environment block has every key Asterisk 22 sends, in its order (as in
// the captured transcript), ends with the empty line, and parses with
// recgate's own FastAGI layer into the call it describes.
func TestEnvBlockMatchesAsterisk(t *testing.T) {
	raw, err := os.ReadFile("../agi/testdata/transcripts/0016-arm.raw")
	if err != nil {
		t.Fatal(err)
	}
	var wantKeys []string
	for l := range strings.SplitSeq(string(raw), "\n") {
		if l == "" {
			break
		}
		k, _, _ := strings.Cut(l, ":")
		if !strings.HasPrefix(k, "agi_arg_") {
			wantKeys = append(wantKeys, k)
		}
	}
	for _, dir := range allDirections() {
		sc := Scenario{Path: "decide", Direction: dir, Stations: 10, Distribution: DistUniform, Seed: 7}
		c := newCaller(sc, 3, 1795511818, "r1")
		k := c.next()
		var b strings.Builder
		envBlock(&b, "127.0.0.1:4573", sc, k)
		block := b.String()
		if !strings.HasSuffix(block, "\n\n") {
			t.Fatalf("%s: block does not end with the empty line", dir)
		}
		var keys []string
		for l := range strings.SplitSeq(strings.TrimSuffix(block, "\n\n"), "\n") {
			key, _, ok := strings.Cut(l, ": ")
			if !ok {
				t.Errorf("%s: line %q is not \"key: value\"", dir, l)
			}
			keys = append(keys, key)
		}
		if strings.Join(keys, ",") != strings.Join(wantKeys, ",") {
			t.Errorf("%s: keys\n %v\nwant\n %v", dir, keys, wantKeys)
		}
		if !strings.Contains(block, "agi_network_script: decide?direction="+dir+"&linkedid=") ||
			!strings.Contains(block, "agi_request: agi://127.0.0.1:4573/decide?direction="+dir) ||
			!strings.Contains(block, "agi_channel: PJSIP/"+k.station+"-") {
			t.Errorf("%s: block\n%s", dir, block)
		}
	}
}

func TestStationsDrawnFromPopulation(t *testing.T) {
	for _, dist := range []string{DistUniform, DistZipf} {
		sc := Scenario{Path: "decide", Direction: DirectionMix, Stations: 50, Distribution: dist, Seed: 1}
		c := newCaller(sc, 0, 1, "r")
		seen := map[string]int{}
		dirs := map[string]int{}
		for range 5000 {
			k := c.next()
			seen[k.station]++
			dirs[k.direction]++
			if k.station < "1000" || k.station > "1049" || len(k.station) != 4 {
				t.Fatalf("%s: station %s outside 1000..1049", dist, k.station)
			}
		}
		if len(dirs) != 4 {
			t.Errorf("%s: mix drew directions %v", dist, dirs)
		}
		switch dist {
		case DistUniform:
			if len(seen) != 50 {
				t.Errorf("uniform: %d of 50 stations drawn in 5000 calls", len(seen))
			}
		case DistZipf:
			if seen["1000"] < 5*seen["1049"]+100 {
				t.Errorf("zipf: station 1000 drawn %d times, 1049 %d: not skewed", seen["1000"], seen["1049"])
			}
		}
	}
	// The same seed draws the same calls.
	sc := Scenario{Path: "decide", Direction: DirectionMix, Stations: 1000, Distribution: DistZipf, Seed: 42}
	a, b := newCaller(sc, 2, 5, "r"), newCaller(sc, 2, 5, "r")
	for range 100 {
		if x, y := a.next(), b.next(); x != y {
			t.Fatalf("same seed, different calls: %+v %+v", x, y)
		}
	}
}

// The generator against recgate's own FastAGI server with a handler shaped
// like decide: the environment parses, the station and direction arrive,
// replies are read by the server, and each session's commands are counted.
func TestAgainstAGIServer(t *testing.T) {
	got := make(chan string, 64)
	srv := &agi.Server{Handler: agi.HandlerFunc(func(ctx context.Context, s *agi.Session) error {
		req := s.Request()
		got <- req.Param("direction") + " " + req.Channel
		if _, ok, err := s.GetVariable(ctx, "DYNAMIC_FEATURES"); err != nil || ok {
			t.Errorf("GET DYNAMIC_FEATURES: ok %v err %v", ok, err)
		}
		if err := s.SetVariable(ctx, "CHANNEL(hangup_handler_push)", "recgate-hangup,s,1"); err != nil {
			return err
		}
		if res, err := s.Exec(ctx, "MSet", "RECGATE_DECISION=ondemand,RECGATE_STATION=1001"); err != nil || res != 0 {
			t.Errorf("MSet: %d %v", res, err)
		}
		return nil
	})}
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	sc := DefaultScenario()
	sc.Direction = DirectionInboundQueue
	res, err := Run(context.Background(), Config{Target: ln.Addr().String(), Scenario: sc, Concurrency: 4, Sessions: 40, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 40 || res.Errors.Total() != 0 || res.CommandsPerSession() != 3 {
		t.Fatalf("sessions %d errors %+v commands/session %g", res.Sessions, res.Errors, res.CommandsPerSession())
	}
	line := <-got
	if !strings.HasPrefix(line, "inbound_queue PJSIP/1") {
		t.Errorf("server saw %q", line)
	}
}

func TestBareServerReadsEnvAndSendsK(t *testing.T) {
	_, addr := startBare(t, "2")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	envBlock(&b, addr, DefaultScenario(), newCaller(DefaultScenario(), 0, 1, "r").next())
	// Nothing comes before the whole block has arrived.
	half := len(b.String()) / 2
	c.Write([]byte(b.String()[:half]))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if l, err := br.ReadString('\n'); err == nil {
		t.Fatalf("command %q before the environment ended", l)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte(b.String()[half:]))
	for i := range 2 {
		l, err := br.ReadString('\n')
		if err != nil || l != bareCommand {
			t.Fatalf("command %d: %q %v", i, l, err)
		}
		c.Write([]byte("200 result=0\n"))
	}
	if l, err := br.ReadString('\n'); err == nil {
		t.Fatalf("third command %q; want the connection closed", l)
	}
}
