package agi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/recgate/recgate/agi/agitest"
)

const testTimeout = 100 * time.Millisecond

// startServer serves h on a loopback port with short timeouts and closes
// it when the test ends, checking that Serve returned ErrServerClosed.
func startServer(t *testing.T, h Handler, opts ...func(*Server)) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: h, ReadTimeout: time.Second}
	for _, o := range opts {
		o(srv)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return srv, l.Addr().String()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitClosed reads from c until the server closes it and reports how long
// that took.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed by the server within %s: %v", within, err)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newTestMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return NewMetrics(reg), reg
}

// sessionsDone waits until the server has recorded n finished sessions.
func sessionsDone(t *testing.T, m *Metrics, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		total := 0
		ch := make(chan prometheus.Metric, 64)
		go func() { m.Sessions.Collect(ch); close(ch) }()
		for metric := range ch {
			var pb dto.Metric
			if err := metric.Write(&pb); err != nil {
				t.Fatal(err)
			}
			total += int(pb.GetCounter().GetValue())
		}
		if total >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions recorded, want %d", total, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEnvTimeout(t *testing.T) {
	m, _ := newTestMetrics(t)
	called := atomic.Bool{}
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		called.Store(true)
		return nil
	}), func(s *Server) { s.ReadTimeout = testTimeout; s.Metrics = m })

	silent := dial(t, addr)
	start := time.Now()
	waitClosed(t, silent, 2*time.Second)
	if d := time.Since(start); d < testTimeout/2 {
		t.Errorf("closed after %s, before the read timeout", d)
	}
	// A peer dribbling a partial environment is closed too.
	slow := dial(t, addr)
	slow.Write([]byte("agi_network: yes\nagi_chan"))
	waitClosed(t, slow, 2*time.Second)

	sessionsDone(t, m, 2)
	if got := testutil.ToFloat64(m.Sessions.WithLabelValues("other", "timeout")); got != 2 {
		t.Errorf("timeout sessions = %v, want 2", got)
	}
	if called.Load() {
		t.Error("handler called without an environment")
	}
}

func TestCommandTimeout(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	errc := make(chan error, 2)
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		start := time.Now()
		_, _, err := s.GetVariable(ctx, "X")
		if time.Since(start) > 10*testTimeout {
			t.Errorf("GetVariable took %s with ReadTimeout %s", time.Since(start), testTimeout)
		}
		errc <- err
		// A broken session fails fast without touching the wire.
		_, _, err2 := s.GetVariable(ctx, "Y")
		errc <- err2
		return err
	}), func(s *Server) { s.ReadTimeout = testTimeout })
	c := dial(t, addr)
	c.Write(tr.EnvBlock(nil))
	// Never reply.
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want ErrTimeout", err)
	}
	if err := <-errc; !errors.Is(err, ErrTimeout) {
		t.Errorf("second err = %v, want ErrTimeout", err)
	}
	waitClosed(t, c, 2*time.Second)
}

func TestContextDeadline(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	errc := make(chan error, 1)
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, _, err := s.GetVariable(ctx, "X")
		errc <- err
		return err
	}), func(s *Server) { s.ReadTimeout = time.Minute })
	c := dial(t, addr)
	c.Write(tr.EnvBlock(nil))
	err := <-errc
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) {
		t.Errorf("err = %v, want context.DeadlineExceeded and ErrTimeout", err)
	}
}

func TestContextCancel(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	errc := make(chan error, 1)
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(10*time.Millisecond, cancel)
		_, _, err := s.GetVariable(ctx, "X")
		errc <- err
		return err
	}), func(s *Server) { s.ReadTimeout = time.Minute })
	c := dial(t, addr)
	c.Write(tr.EnvBlock(nil))
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestMaxSessions(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	m, _ := newTestMetrics(t)
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		started <- struct{}{}
		<-release
		return s.SetVariable(ctx, "DONE", "1")
	}), func(s *Server) { s.MaxSessions = 2; s.Metrics = m })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var peers []*agitest.Peer
	for range 2 {
		p, err := agitest.Dial(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.SendEnv(tr.EnvBlock(nil))
		<-started
		peers = append(peers, p)
	}
	if got := testutil.ToFloat64(m.SessionsActive); got != 2 {
		t.Errorf("active = %v, want 2", got)
	}
	// Over the cap: closed at once, before any environment is sent.
	over := dial(t, addr)
	waitClosed(t, over, time.Second)
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues("max_sessions")); got != 1 {
		t.Errorf("rejected max_sessions = %v, want 1", got)
	}
	close(release)
	for _, p := range peers {
		if err := p.Serve(ctx, agitest.NewAsterisk(nil).Respond); err != nil {
			t.Fatal(err)
		}
		if cmds := p.Commands(); len(cmds) != 1 {
			t.Errorf("under-cap session commands = %q", cmds)
		}
	}
	sessionsDone(t, m, 2)
	if got := testutil.ToFloat64(m.Sessions.WithLabelValues("other", "ok")); got != 2 {
		t.Errorf("ok sessions = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.SessionsActive); got != 0 {
		t.Errorf("active = %v after the sessions, want 0", got)
	}
}

func TestAllowList(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	m, _ := newTestMetrics(t)
	srv, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error { return nil }),
		func(s *Server) { s.Metrics = m })

	srv.SetAllow([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	c := dial(t, addr)
	waitClosed(t, c, time.Second)
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues("not_allowed")); got != 1 {
		t.Errorf("rejected not_allowed = %v, want 1", got)
	}

	srv.SetAllow([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	runPeer(t, addr, tr.EnvBlock(nil), agitest.NewAsterisk(nil).Respond)
	srv.SetAllow(nil) // back to loopback
	runPeer(t, addr, tr.EnvBlock(nil), agitest.NewAsterisk(nil).Respond)
	sessionsDone(t, m, 2)
	if got := testutil.ToFloat64(m.Rejected.WithLabelValues("not_allowed")); got != 1 {
		t.Errorf("rejected not_allowed = %v, want still 1", got)
	}
}

func TestAllowed(t *testing.T) {
	var s Server
	tests := []struct {
		allow []string
		peer  string
		want  bool
	}{
		{nil, "127.0.0.1:1", true},
		{nil, "127.9.9.9:1", true},
		{nil, "[::1]:1", true},
		{nil, "[::ffff:127.0.0.1]:1", true},
		{nil, "10.0.0.1:1", false},
		{nil, "[fe80::1%lo]:1", false},
		{[]string{"10.0.0.0/8"}, "10.1.2.3:1", true},
		{[]string{"10.0.0.0/8"}, "127.0.0.1:1", false},
		{[]string{"10.0.0.0/8"}, "[::ffff:10.0.0.1]:1", true},
		{[]string{"fe80::/10"}, "[fe80::1%lo]:1", true},
		// IPv4-mapped entries mean their IPv4 prefix (peers are unmapped).
		{[]string{"::ffff:127.0.0.1/128"}, "127.0.0.1:1", true},
		{[]string{"::ffff:127.0.0.1/128"}, "[::ffff:127.0.0.1]:1", true},
		{[]string{"::ffff:10.0.0.0/104"}, "10.9.8.7:1", true},
		{[]string{"::ffff:10.0.0.0/104"}, "11.0.0.1:1", false},
	}
	for _, tt := range tests {
		var prefixes []netip.Prefix
		for _, p := range tt.allow {
			prefixes = append(prefixes, netip.MustParsePrefix(p))
		}
		s.SetAllow(prefixes)
		addr := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.peer))
		if got := s.allowed(addr); got != tt.want {
			t.Errorf("allow %v, peer %s: allowed = %v, want %v", tt.allow, tt.peer, got, tt.want)
		}
	}
	if !s.allowed(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}) {
		t.Error("unix peer refused")
	}
}

func TestPanicRecovered(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	m, _ := newTestMetrics(t)
	var logs syncBuffer
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		if s.Request().Param("boom") != "" {
			panic("handler exploded")
		}
		return s.SetVariable(ctx, "OK", "1")
	}), func(s *Server) {
		s.Metrics = m
		s.Requests = []string{"decide"}
		s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	cmds := runPeer(t, addr, tr.EnvBlock(map[string]string{"agi_network_script": "decide?boom=1"}), agitest.NewAsterisk(nil).Respond)
	if len(cmds) != 0 {
		t.Errorf("commands = %q", cmds)
	}
	cmds = runPeer(t, addr, tr.EnvBlock(map[string]string{"agi_network_script": "decide"}), agitest.NewAsterisk(nil).Respond)
	if len(cmds) != 1 {
		t.Errorf("session after the panic: commands = %q", cmds)
	}
	sessionsDone(t, m, 2)
	if got := testutil.ToFloat64(m.Sessions.WithLabelValues("decide", "panic")); got != 1 {
		t.Errorf("panic sessions = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Sessions.WithLabelValues("decide", "ok")); got != 1 {
		t.Errorf("ok sessions = %v, want 1", got)
	}
	if out := logs.String(); !strings.Contains(out, "handler exploded") || !strings.Contains(out, "server_test.go") {
		t.Errorf("panic log lacks the value or the stack:\n%s", out)
	}
}

func TestMalformedInputKeepsServing(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	m, _ := newTestMetrics(t)
	var logs syncBuffer
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error { return nil }),
		func(s *Server) { s.Metrics = m; s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	inputs := []string{
		"\x00\x01\x02\x03garbage\n\n",
		"GET / HTTP/1.1\r\n\r\n",
		"agi_network: yes\n" + strings.Repeat("agi_arg_1: x\n", 3) + "\n",
		"agi_callerid: " + strings.Repeat("A", 20000) + "\n\n",
		"agi_x: \x1b]0;evil\x07\n\n",
	}
	for _, in := range inputs {
		c := dial(t, addr)
		c.Write([]byte(in))
		waitClosed(t, c, 2*time.Second)
	}
	runPeer(t, addr, tr.EnvBlock(nil), agitest.NewAsterisk(nil).Respond)
	sessionsDone(t, m, len(inputs)+1)
	if got := testutil.ToFloat64(m.Sessions.WithLabelValues("other", "bad_input")); got != float64(len(inputs)) {
		t.Errorf("bad_input sessions = %v, want %d", got, len(inputs))
	}
	if out := logs.String(); strings.Contains(out, "\x1b") || strings.Contains(out, "\x00") {
		t.Errorf("log carries raw control characters from the peer:\n%q", out)
	}
}

func TestShutdownWaitsForSessions(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	srv, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		close(started)
		<-release
		err := s.SetVariable(ctx, "X", "1")
		finished.Store(true)
		return err
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := agitest.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SendEnv(tr.EnvBlock(nil))
	<-started

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	// The listener closes: new connections fail.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v while a session was in flight", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := p.Serve(ctx, agitest.NewAsterisk(nil).Respond); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if !finished.Load() {
		t.Error("Shutdown returned before the session finished")
	}
	if len(p.Commands()) != 1 {
		t.Errorf("in-flight session's command not served: %q", p.Commands())
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	if err := srv.ListenAndServe("127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe after Shutdown = %v", err)
	}
}

func TestShutdownForcesCloseAfterContext(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	started := make(chan struct{})
	handlerErr := make(chan error, 1)
	srv, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		close(started)
		_, _, err := s.GetVariable(ctx, "NEVER") // the peer never answers
		handlerErr <- err
		return err
	}), func(s *Server) { s.ReadTimeout = time.Minute })
	c := dial(t, addr)
	c.Write(tr.EnvBlock(nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-handlerErr:
		if err == nil {
			t.Error("handler's command succeeded on a force-closed session")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler still blocked after the forced close")
	}
	waitClosed(t, c, time.Second)
}

func TestClose(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	started := make(chan struct{})
	ctxDone := make(chan struct{})
	srv, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		close(started)
		<-ctx.Done()
		close(ctxDone)
		return ctx.Err()
	}))
	c := dial(t, addr)
	c.Write(tr.EnvBlock(nil))
	<-started
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctxDone:
	case <-time.After(5 * time.Second):
		t.Fatal("session context not cancelled by Close")
	}
	waitClosed(t, c, time.Second)
	if err := srv.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := srv.Serve(newListener(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close = %v", err)
	}
}

func newListener(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// flakyListener fails its first Accepts with a temporary error.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept: too many open files" }
func (tempErr) Temporary() bool { return true }
func (tempErr) Timeout() bool   { return false }

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

func TestAcceptBackoff(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	l := &flakyListener{Listener: newListener(t)}
	l.failures.Store(3)
	srv := &Server{Handler: HandlerFunc(func(ctx context.Context, s *Session) error { return nil })}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	runPeer(t, l.Addr().String(), tr.EnvBlock(nil), agitest.NewAsterisk(nil).Respond)
	srv.Close()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if l.failures.Load() >= 0 {
		t.Error("temporary errors not retried")
	}
}

func TestServeErrors(t *testing.T) {
	var s Server
	if err := s.Serve(newListener(t)); err == nil {
		t.Error("Serve without a Handler succeeded")
	}
}

func TestMetricsExposition(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	m, reg := newTestMetrics(t)
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		if s.Request().Script == "hangup" {
			_, _, err := s.GetVariable(ctx, "X")
			return err
		}
		return nil
	}), func(s *Server) { s.Metrics = m; s.Requests = []string{"decide", "hangup"} })
	runPeer(t, addr, tr.EnvBlock(map[string]string{"agi_network_script": "decide?direction=outbound"}), agitest.NewAsterisk(nil).Respond)
	runPeer(t, addr, tr.EnvBlock(map[string]string{"agi_network_script": "probe"}), agitest.NewAsterisk(nil).Respond)
	runPeer(t, addr, tr.EnvBlock(map[string]string{"agi_network_script": "hangup"}), func(string) []string { return []string{agitest.ReplyDead} })
	sessionsDone(t, m, 3)

	want := `
# HELP recgate_agi_sessions_total FastAGI sessions served, by request path (bounded set, else other) and result.
# TYPE recgate_agi_sessions_total counter
recgate_agi_sessions_total{request="decide",result="bad_input"} 0
recgate_agi_sessions_total{request="decide",result="error"} 0
recgate_agi_sessions_total{request="decide",result="hangup"} 0
recgate_agi_sessions_total{request="decide",result="ok"} 1
recgate_agi_sessions_total{request="decide",result="panic"} 0
recgate_agi_sessions_total{request="decide",result="timeout"} 0
recgate_agi_sessions_total{request="hangup",result="bad_input"} 0
recgate_agi_sessions_total{request="hangup",result="error"} 0
recgate_agi_sessions_total{request="hangup",result="hangup"} 1
recgate_agi_sessions_total{request="hangup",result="ok"} 0
recgate_agi_sessions_total{request="hangup",result="panic"} 0
recgate_agi_sessions_total{request="hangup",result="timeout"} 0
recgate_agi_sessions_total{request="other",result="bad_input"} 0
recgate_agi_sessions_total{request="other",result="error"} 0
recgate_agi_sessions_total{request="other",result="hangup"} 0
recgate_agi_sessions_total{request="other",result="ok"} 1
recgate_agi_sessions_total{request="other",result="panic"} 0
recgate_agi_sessions_total{request="other",result="timeout"} 0
# HELP recgate_rejected_connections_total FastAGI connections closed at once, by reason (not_allowed, max_sessions).
# TYPE recgate_rejected_connections_total counter
recgate_rejected_connections_total{reason="max_sessions"} 0
recgate_rejected_connections_total{reason="not_allowed"} 0
# HELP recgate_agi_sessions_active FastAGI sessions being served now.
# TYPE recgate_agi_sessions_active gauge
recgate_agi_sessions_active 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"recgate_agi_sessions_total", "recgate_rejected_connections_total", "recgate_agi_sessions_active"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestPooledSessionsStartClean: zaf/agi sessions are pooled and rebound
// per connection; nothing of one session (a HANGUP seen, a broken wire,
// a half-read reply) may show in the next.
func TestPooledSessionsStartClean(t *testing.T) {
	type seen struct {
		hungUp bool
		value  string
		err    error
	}
	results := make(chan seen, 1)
	h := HandlerFunc(func(ctx context.Context, s *Session) error {
		v, _, err := s.GetVariable(ctx, "X")
		results <- seen{s.HungUp(), v, err}
		return nil
	})
	_, addr := startServer(t, h)
	for i, hangup := range []bool{true, false, true, false, false} {
		c := dial(t, addr)
		fmt.Fprintf(c, "agi_network: yes\nagi_network_script: s%d\nagi_uniqueid: %d\n\n", i, i)
		br := bufio.NewReader(c)
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if hangup {
			fmt.Fprint(c, "HANGUP\n")
		}
		fmt.Fprintf(c, "200 result=1 (v%d)\n", i)
		got := <-results
		if got.err != nil || got.hungUp != hangup || got.value != fmt.Sprintf("v%d", i) {
			t.Errorf("session %d: HungUp %v, value %q, err %v; want %v, v%d, nil", i, got.hungUp, got.value, got.err, hangup, i)
		}
		waitClosed(t, c, time.Second)
	}
}
