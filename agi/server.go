package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the Server fields left zero.
const (
	DefaultAddr        = "127.0.0.1:4573"
	DefaultReadTimeout = 5 * time.Second
	DefaultMaxSessions = 10000
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown or
// Close.
var ErrServerClosed = errors.New("agi: server closed")

// Handler serves one FastAGI session. The session's connection is closed
// when ServeAGI returns. ctx is cancelled when the server force-closes the
// session (Close, or Shutdown whose context expired).
type Handler interface {
	ServeAGI(ctx context.Context, s *Session) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, s *Session) error

// ServeAGI calls f(ctx, s).
func (f HandlerFunc) ServeAGI(ctx context.Context, s *Session) error { return f(ctx, s) }

// Server is a FastAGI server, shaped like net/http.Server: set the fields,
// then call Serve or ListenAndServe; stop it with Shutdown or Close. The
// fields must not change once Serve has been called; the allow list may
// change at any time through SetAllow.
//
// Asterisk has no read timeout on a FastAGI session, so the server never
// accepts and stalls: a connection over MaxSessions or from outside the
// allow list is closed at once.
type Server struct {
	// Handler serves every session. Required.
	Handler Handler
	// ReadTimeout bounds the arrival of the whole environment block and
	// each command round trip. Zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxSessions caps the sessions served at once. Zero means
	// DefaultMaxSessions.
	MaxSessions int
	// Requests is the bounded set of request paths (Request.Script) used
	// as the request label of the sessions metric; others count as "other".
	Requests []string
	// Logger receives one line per failed session, refused connection or
	// recovered panic. Nil discards.
	Logger *slog.Logger
	// Metrics, if not nil, records sessions and refused connections.
	Metrics *Metrics
	// BaseContext, if not nil, returns the base context of the sessions
	// accepted on a listener. It must not return nil.
	BaseContext func(net.Listener) context.Context

	allow   atomic.Pointer[[]netip.Prefix]
	active  atomic.Int64
	readers sync.Pool // *bufio.Reader
	zagis   sync.Pool // *zagiConn

	initOnce sync.Once
	requests map[string]struct{}

	mu        sync.Mutex
	shutdown  bool
	done      chan struct{} // closed when shutdown starts
	idle      chan struct{} // closed when shut down and no session remains
	listeners map[*net.Listener]struct{}
	sessions  map[*serverConn]struct{}
}

// serverConn is one accepted connection and the way to force it closed.
type serverConn struct {
	conn   net.Conn
	cancel context.CancelFunc
}

// SetAllow replaces the prefixes whose peers may connect. A nil or empty
// list restores the default: loopback only (127.0.0.0/8 and ::1/128). It is
// safe to call while the server runs (a configuration reload); the new list
// applies to the next connection accepted. Peers on non-IP listeners (Unix
// sockets) are not subject to the list.
func (s *Server) SetAllow(prefixes []netip.Prefix) {
	if len(prefixes) == 0 {
		s.allow.Store(nil)
		return
	}
	list := make([]netip.Prefix, len(prefixes))
	for i, p := range prefixes {
		list[i] = unmapPrefix(p).Masked()
	}
	s.allow.Store(&list)
}

// unmapPrefix turns an IPv4-mapped prefix such as ::ffff:127.0.0.1/128
// into the IPv4 prefix it means (127.0.0.1/32): peers are matched
// unmapped, so the mapped form would never match.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

func (s *Server) allowed(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return true
	}
	ip := ta.AddrPort().Addr().Unmap().WithZone("")
	list := s.allow.Load()
	if list == nil {
		return ip.IsLoopback()
	}
	for _, p := range *list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) init() {
	s.requests = make(map[string]struct{}, len(s.Requests))
	for _, r := range s.Requests {
		s.requests[r] = struct{}{}
	}
	s.Metrics.initRequests(slices.Clone(s.Requests))
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) readTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return DefaultReadTimeout
}

func (s *Server) maxSessions() int64 {
	if s.MaxSessions > 0 {
		return int64(s.MaxSessions)
	}
	return DefaultMaxSessions
}

// ListenAndServe listens on the TCP address addr (DefaultAddr when empty)
// and calls Serve. It returns ErrServerClosed after Shutdown or Close.
func (s *Server) ListenAndServe(addr string) error {
	if s.isShutdown() {
		return ErrServerClosed
	}
	if addr == "" {
		addr = DefaultAddr
	}
	l, err := Listen(context.Background(), addr)
	if err != nil {
		return fmt.Errorf("agi: listen: %w", err)
	}
	return s.Serve(l)
}

// Listen opens a TCP listener suited to FastAGI: TCP keep-alive is off on
// accepted connections (a session lasts milliseconds and every read and
// write has a deadline, so keep-alive only costs four setsockopt calls per
// call setup).
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}

// Serve accepts connections on l and serves each in its own goroutine
// until Shutdown or Close, then returns ErrServerClosed. Temporary accept
// errors (such as running out of file descriptors) are retried with
// back-off; any other accept error is returned. Serve closes l.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		l.Close()
		return errors.New("agi: serve: nil Handler")
	}
	s.initOnce.Do(s.init)
	if !s.trackListener(&l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrackListener(&l)

	base := context.Background()
	if s.BaseContext != nil {
		if base = s.BaseContext(l); base == nil {
			return errors.New("agi: serve: BaseContext returned nil")
		}
	}
	done := s.doneChan()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isShutdown() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return fmt.Errorf("agi: accept: %w", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.logger().Warn("agi accept failed; retrying", "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		s.accept(base, c)
	}
}

// accept refuses c at once or starts its session.
func (s *Server) accept(base context.Context, c net.Conn) {
	// A refusal is counted before the connection is closed: a peer (a test,
	// an alert's probe) that sees the close must find it counted.
	if !s.allowed(c.RemoteAddr()) {
		s.Metrics.rejected(rejectNotAllowed)
		c.Close()
		s.logger().Warn("agi connection refused: peer not in agi.allow", "remote", c.RemoteAddr().String())
		return
	}
	if s.active.Add(1) > s.maxSessions() {
		s.active.Add(-1)
		s.Metrics.rejected(rejectMaxSessions)
		c.Close()
		s.logger().Warn("agi connection refused: max sessions reached", "remote", c.RemoteAddr().String(), "max_sessions", s.maxSessions())
		return
	}
	ctx, cancel := context.WithCancel(base)
	sc := &serverConn{conn: c, cancel: cancel}
	if !s.trackSession(sc) {
		s.active.Add(-1)
		cancel()
		c.Close()
		return
	}
	s.Metrics.sessionStarted()
	go s.serveSession(ctx, sc)
}

// serveSession reads the environment, runs the handler and always closes
// the connection, recovering a panic so that other sessions go on.
func (s *Server) serveSession(ctx context.Context, sc *serverConn) {
	start := time.Now()
	// Most sessions log nothing here: build the logger only when needed.
	log := func() *slog.Logger { return s.logger().With("remote", sc.conn.RemoteAddr().String()) }
	request, result := requestOther, resultOK
	var br *bufio.Reader
	var panicked bool
	defer func() {
		if p := recover(); p != nil {
			result = resultPanic
			log().Error("agi session panicked", "request", request, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		sc.cancel()
		// Counted and its slot freed before the connection closes: a
		// peer that sees the close and looks at the metrics, or connects
		// again at once under agi.max_sessions, finds the session over.
		s.Metrics.sessionDone(request, result)
		s.untrackSession(sc)
		sc.conn.Close()
		if br != nil {
			br.Reset(nil)
			s.readers.Put(br)
		}
	}()

	br = s.reader(sc.conn)
	req, err := s.readEnv(ctx, sc.conn, br)
	if err != nil {
		result = resultOf(err)
		if l, level, ok := s.resultLogger(sc.conn, result); ok {
			l.Log(ctx, level, "agi session ended before the request", "err", err)
		}
		return
	}
	request = s.requestLabel(req.Script)
	z, err := s.zagiConn()
	if err != nil {
		result = resultError
		log().Error("agi session setup failed", "err", err)
		return
	}
	sess := newSession(sc.conn, br, req, s.readTimeout(), z, ctx.Done())
	defer func() {
		// Last, after the session's final log line read it: a Session
		// must not be used once ServeAGI has returned. A broken one (or
		// one whose handler panicked) is not reused.
		if sess.broken == nil && !panicked {
			z.bind(nil, nil)
			s.zagis.Put(z)
		}
	}()
	panicked = true
	err = s.Handler.ServeAGI(ctx, sess)
	panicked = false
	result = resultOf(err)
	if l, level, ok := s.resultLogger(sc.conn, result); ok {
		l.Log(ctx, level, "agi session done",
			"request", request, "script", req.Script, "uniqueid", req.UniqueID, "channel", req.Channel,
			"commands", sess.Commands(), "hungup", sess.HungUp(), "duration", time.Since(start), "err", err)
	}
}

// readEnv reads the environment block within the read timeout.
func (s *Server) readEnv(ctx context.Context, c net.Conn, br *bufio.Reader) (*Request, error) {
	deadline := time.Now().Add(s.readTimeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("read environment: %w", ioError(err))
	}
	return readRequest(br)
}

// ActiveSessions returns the number of sessions being served now.
func (s *Server) ActiveSessions() int64 { return s.active.Load() }

// zagiConn takes a pooled zaf/agi session, or makes one.
func (s *Server) zagiConn() (*zagiConn, error) {
	if z, ok := s.zagis.Get().(*zagiConn); ok {
		return z, nil
	}
	return newZagiConn()
}

func (s *Server) reader(c net.Conn) *bufio.Reader {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(c)
		return br
	}
	// Small: the environment block is ~700 bytes and replies are short;
	// longer lines are assembled by readLine up to its limit.
	return bufio.NewReaderSize(c, 1024)
}

func (s *Server) requestLabel(script string) string {
	if _, ok := s.requests[script]; ok {
		return script
	}
	return requestOther
}

// resultOf maps a session's error to its result label.
func resultOf(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrMalformed):
		return resultBadInput
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return resultTimeout
	case errors.Is(err, ErrClosed), errors.Is(err, ErrDeadChannel):
		return resultHangup
	}
	return resultError
}

// resultLogger returns the logger and level for a session that ended with
// result, or ok false when that level is disabled, so that the common
// case (a good session at info) builds no log arguments at all.
func (s *Server) resultLogger(c net.Conn, result string) (*slog.Logger, slog.Level, bool) {
	level := slog.LevelDebug
	switch result {
	case resultError, resultBadInput, resultTimeout:
		level = slog.LevelWarn
	}
	l := s.logger()
	if !l.Enabled(context.Background(), level) {
		return nil, 0, false
	}
	return l.With("remote", c.RemoteAddr().String(), "result", result), level, true
}

// Shutdown stops the server gracefully: it closes the listeners, waits for
// the sessions in flight to finish until ctx is done, then force-closes the
// rest (cancelling their contexts and closing their connections) and
// returns ctx.Err(). Calling it again, or after Close, is safe.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.beginShutdown()
	select {
	case <-s.idleChan():
		return err
	case <-ctx.Done():
		s.closeSessions()
		return ctx.Err()
	}
}

// Close stops the server at once: it closes the listeners and every
// session's connection and cancels the sessions' contexts. It does not wait
// for the handlers to return.
func (s *Server) Close() error {
	err := s.beginShutdown()
	s.closeSessions()
	return err
}

func (s *Server) beginShutdown() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.shutdown {
		s.shutdown = true
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
		s.idle = make(chan struct{})
		if len(s.sessions) == 0 {
			close(s.idle)
		}
	}
	var err error
	for l := range s.listeners {
		if cerr := (*l).Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = fmt.Errorf("agi: close listener: %w", cerr)
		}
		delete(s.listeners, l)
	}
	return err
}

func (s *Server) closeSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.sessions {
		sc.cancel()
		sc.conn.Close()
	}
}

func (s *Server) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

func (s *Server) doneChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

func (s *Server) idleChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

func (s *Server) trackListener(l *net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrackListener(l *net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.listeners[l]; ok {
		(*l).Close()
		delete(s.listeners, l)
	}
}

func (s *Server) trackSession(sc *serverConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	if s.sessions == nil {
		s.sessions = make(map[*serverConn]struct{})
	}
	s.sessions[sc] = struct{}{}
	return true
}

func (s *Server) untrackSession(sc *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sc)
	s.active.Add(-1)
	if s.shutdown && len(s.sessions) == 0 {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
}

// isTemporary reports an accept error worth retrying, as net/http does.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}
