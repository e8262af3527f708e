package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by BareServer.Serve after Close.
var ErrServerClosed = errors.New("loadgen: bare server closed")

// bareCommand is what the bare responder sends: the shape of recgate's last
// command, with no decision behind it. bareCommandPush is the last
// command of a session that pushes a hangup handler, the way recgate names
// it for the dialplan (act=dialplan), so that the generator follows it
// with a hangup session as it does against recgate.
const (
	bareCommand     = "EXEC MSet \"RECGATE_DECISION=off\"\n"
	bareCommandPush = "EXEC MSet \"RECGATE_HANGUP_HANDLER=\\\"recgate-hangup,s,1\\\",RECGATE_DECISION=auto\"\n"
)

// maxEnvLines bounds the environment block the bare responder reads.
const maxEnvLines = 200

// BareServer is a FastAGI server with no logic: it reads the environment
// block, sends a fixed number of commands reading one reply each, and
// closes. Its cost is the protocol's own (TCP, line reads and writes), so it
// is the limit a real server is measured against.
type BareServer struct {
	// Mix is how many commands the sessions send; see Mix.
	Mix Mix
	// Pushes is how many sessions push a hangup handler (at most one
	// each: a Mix of 0 or 1 per session), so that a generator that plays
	// each call's hangup (Config.Hangup) sends as many hangup sessions as
	// against recgate. The zero Mix pushes none.
	Pushes Mix
	// HangupMix is how many commands a hangup session
	// (agi_network_script "hangup") is sent; the zero Mix sends none.
	HangupMix Mix
	// Timeout bounds each session; default 5s.
	Timeout time.Duration
	// MaxSessions caps sessions at once; over it a connection is closed at
	// once. Default 100000.
	MaxSessions int

	readers sync.Pool // *bufio.Reader
	seq     atomic.Int64
	hseq    atomic.Int64
	served  atomic.Int64

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Served is the number of sessions that sent all their commands and read
// every reply.
func (s *BareServer) Served() int64 { return s.served.Load() }

// Serve accepts connections on l until Close; it returns ErrServerClosed
// after Close, or the accept error that stopped it.
func (s *BareServer) Serve(l net.Listener) error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("bare serve: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	limit := s.MaxSessions
	if limit <= 0 {
		limit = maxConcurrency
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.ln = l
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.mu.Unlock()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("bare serve: accept: %w", err)
			}
			// Temporary trouble such as too many open files: back off.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(conn, limit) {
			conn.Close()
			continue
		}
		go func() {
			defer s.untrack(conn)
			if s.session(conn, timeout) == nil {
				s.served.Add(1)
			}
		}()
	}
}

func (s *BareServer) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *BareServer) track(c net.Conn, limit int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= limit {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *BareServer) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Close stops accepting, closes every open session and waits for their
// goroutines. It is safe to call more than once.
func (s *BareServer) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *BareServer) validate() error {
	if err := s.Mix.validate(); err != nil {
		return err
	}
	if s.Pushes != (Mix{}) {
		if err := s.Pushes.validate(); err != nil {
			return fmt.Errorf("pushes: %w", err)
		}
		if s.Pushes.Commands > s.Pushes.Sessions {
			return fmt.Errorf("pushes %s: at most one per session", s.Pushes)
		}
	}
	if s.HangupMix != (Mix{}) {
		if err := s.HangupMix.validate(); err != nil {
			return fmt.Errorf("hangup commands: %w", err)
		}
	}
	return nil
}

// commands returns how many commands the next session sends, and whether
// its last one pushes a hangup handler.
func (s *BareServer) commands(hangup bool) (int, bool) {
	if hangup {
		if s.HangupMix == (Mix{}) {
			return 0, false
		}
		return s.HangupMix.commands(s.hseq.Add(1) - 1), false
	}
	i := s.seq.Add(1) - 1
	n := s.Mix.commands(i)
	return n, n > 0 && s.Pushes != (Mix{}) && s.Pushes.commands(i) == 1
}

func (s *BareServer) session(conn net.Conn, timeout time.Duration) error {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("bare session: %w", err)
	}
	br := getReader(&s.readers, conn)
	defer putReader(&s.readers, br)
	hangup := false
	for lines := 0; ; lines++ {
		if lines == maxEnvLines {
			return fmt.Errorf("bare session: environment over %d lines: %w", maxEnvLines, errProtocol)
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("bare session: read environment: %w", err)
		}
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			break
		}
		if bytes.HasPrefix(line, hangupScript) {
			hangup = true
		}
	}
	n, push := s.commands(hangup)
	for i := range n {
		cmd := bareCommand
		if push && i == n-1 {
			cmd = bareCommandPush
		}
		if _, err := io.WriteString(conn, cmd); err != nil {
			return fmt.Errorf("bare session: send command: %w", err)
		}
		if _, err := br.ReadSlice('\n'); err != nil {
			return fmt.Errorf("bare session: read reply: %w", err)
		}
	}
	return nil
}

// hangupScript starts the environment line of a hangup session.
var hangupScript = []byte("agi_network_script: hangup")

// ListenBare starts a BareServer on an ephemeral loopback port and returns
// it with its address; Close stops it and waits for it. pushes and
// hangups are its Pushes and HangupMix (the zero Mix for none).
func ListenBare(ctx context.Context, mix, pushes, hangups Mix) (*BareServer, string, error) {
	s := &BareServer{Mix: mix, Pushes: pushes, HangupMix: hangups}
	if err := s.validate(); err != nil {
		return nil, "", fmt.Errorf("listen bare: %w", err)
	}
	// Like recgate's FastAGI listener (agi.Listen): no TCP keep-alive.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen bare: %w", err)
	}
	s.ln = ln
	s.wg.Go(func() { s.Serve(ln) }) // returns ErrServerClosed once Close closes ln
	return s, ln.Addr().String(), nil
}
