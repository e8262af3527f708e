package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of one session on the Asterisk side.
const (
	maxLine            = 8 << 10 // longest command line accepted
	defaultMaxCommands = 64      // commands accepted in one session
)

// Errors counts failed sessions by cause.
type Errors struct {
	Refused  int64 `json:"refused"`  // the connection was refused
	Timeout  int64 `json:"timeout"`  // connect, read or write passed its deadline
	Protocol int64 `json:"protocol"` // a line too long, too many commands, no command line
	Closed   int64 `json:"closed"`   // the server closed before sending any command
	Other    int64 `json:"other"`    // any other I/O error (reset, …)
}

// Total is the number of failed sessions.
func (e Errors) Total() int64 { return e.Refused + e.Timeout + e.Protocol + e.Closed + e.Other }

func (e Errors) plus(o Errors) Errors {
	return Errors{Refused: e.Refused + o.Refused, Timeout: e.Timeout + o.Timeout, Protocol: e.Protocol + o.Protocol,
		Closed: e.Closed + o.Closed, Other: e.Other + o.Other}
}

// errorCounter is Errors updated from many goroutines.
type errorCounter struct{ refused, timeout, protocol, closed, other atomic.Int64 }

func (c *errorCounter) add(err error) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		c.refused.Add(1)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		c.timeout.Add(1)
	case errors.Is(err, errProtocol):
		c.protocol.Add(1)
	case errors.Is(err, errClosedEarly):
		c.closed.Add(1)
	default:
		c.other.Add(1)
	}
}

func (c *errorCounter) snapshot() Errors {
	return Errors{Refused: c.refused.Load(), Timeout: c.timeout.Load(), Protocol: c.protocol.Load(), Closed: c.closed.Load(), Other: c.other.Load()}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var (
	errProtocol    = errors.New("protocol error")
	errClosedEarly = errors.New("server closed the connection before any command")
)

// getReader returns a reader of maxLine bytes on r from pool.
func getReader(pool *sync.Pool, r io.Reader) *bufio.Reader {
	br, _ := pool.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(nil, maxLine)
	}
	br.Reset(r)
	return br
}

// putReader returns br to pool, dropping its connection.
func putReader(pool *sync.Pool, br *bufio.Reader) {
	br.Reset(nil)
	pool.Put(br)
}

// peer is the Asterisk side of sessions: how it dials and how long it waits.
type peer struct {
	dialer      *net.Dialer
	target      string
	timeout     time.Duration // whole-session deadline, connect included
	maxCommands int
	readers     sync.Pool // *bufio.Reader
}

func newPeer(target string, timeout time.Duration, maxCommands int) *peer {
	d := loopbackDialer()
	d.Timeout = timeout
	if maxCommands <= 0 {
		maxCommands = defaultMaxCommands
	}
	return &peer{dialer: d, target: target, timeout: timeout, maxCommands: maxCommands}
}

// holdSpec makes a session answer its first command only at release, after
// calling held once that command has arrived.
type holdSpec struct {
	release time.Time
	held    func()
}

// exchange says how one session is played.
type exchange struct {
	hold *holdSpec   // delay the first reply (memory test); nil for none
	vars channelVars // the channel's variables when the session starts
	// mayBeEmpty makes a session the server closes without sending a
	// command a success: a hangup session on a leg that needs no reading.
	mayBeEmpty bool
}

// session runs one FastAGI session: connect, send env, answer every command
// until the server closes the connection. It returns the number of commands
// answered and the channel's variables as the commands left them; a
// session that ends with EOF after at least one command (or none, with
// x.mayBeEmpty) is a success.
func (p *peer) session(ctx context.Context, env []byte, x exchange) (int, channelVars, error) {
	deadline := time.Now().Add(p.timeout)
	if x.hold != nil {
		deadline = x.hold.release.Add(p.timeout)
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := p.dialer.DialContext(dctx, "tcp", p.target)
	if err != nil {
		return 0, nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, nil, fmt.Errorf("set deadline: %w", err)
	}
	if _, err := conn.Write(env); err != nil {
		return 0, nil, fmt.Errorf("send environment: %w", err)
	}
	br := getReader(&p.readers, conn)
	defer putReader(&p.readers, br)
	vars := x.vars
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
		case errors.Is(err, io.EOF) && len(line) == 0:
			if n == 0 && !x.mayBeEmpty {
				return 0, vars, errClosedEarly
			}
			return n, vars, nil
		case errors.Is(err, bufio.ErrBufferFull):
			return n, vars, fmt.Errorf("read command: line over %d bytes: %w", maxLine, errProtocol)
		case errors.Is(err, io.EOF):
			return n, vars, fmt.Errorf("read command: line cut short: %w", errProtocol)
		default:
			return n, vars, fmt.Errorf("read command: %w", err)
		}
		n++
		if n > p.maxCommands {
			return n, vars, fmt.Errorf("read command: more than %d commands: %w", p.maxCommands, errProtocol)
		}
		if n == 1 && x.hold != nil {
			x.hold.held()
			if err := sleepUntil(ctx, x.hold.release); err != nil {
				return n, vars, fmt.Errorf("hold: %w", err)
			}
		}
		cmd := strings.TrimRight(string(line), "\r\n")
		if _, err := io.WriteString(conn, vars.reply(cmd)+"\n"); err != nil {
			return n, vars, fmt.Errorf("send reply: %w", err)
		}
	}
}

// pushedHangupHandler reports whether the session's commands pushed a
// hangup handler on the channel, either way recgate can: itself (SET
// VARIABLE CHANNEL(hangup_handler_push)) or by naming it for the dialplan
// to push (RECGATE_HANGUP_HANDLER, act=dialplan). Asterisk then runs the
// hangup request when the call ends.
func (v channelVars) pushedHangupHandler() bool {
	return v["CHANNEL(hangup_handler_push)"] != "" || v["RECGATE_HANGUP_HANDLER"] != ""
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// channelVars is the channel's variables as one session's commands leave them.
type channelVars map[string]string

// reply returns the one line Asterisk 22 answers to cmd (see the
// transcripts): SET VARIABLE stores, GET VARIABLE reads, EXEC runs (MSet
// stores its pairs), VERBOSE logs, anything else is unknown.
func (v *channelVars) reply(cmd string) string {
	word, rest, _ := strings.Cut(cmd, " ")
	switch strings.ToUpper(word) {
	case "SET":
		sub, rest, _ := strings.Cut(rest, " ")
		if !strings.EqualFold(sub, "VARIABLE") {
			break
		}
		name, value, _ := strings.Cut(rest, " ")
		v.set(strings.TrimLeft(unquote(name), "_"), unquote(value))
		return "200 result=1"
	case "GET":
		sub, name, _ := strings.Cut(rest, " ")
		if strings.EqualFold(sub, "FULL") {
			// GET FULL VARIABLE <expression>: ${NAME} substituted.
			word, expr, _ := strings.Cut(name, " ")
			if !strings.EqualFold(word, "VARIABLE") {
				break
			}
			return "200 result=1 (" + v.expand(unquote(expr)) + ")"
		}
		if !strings.EqualFold(sub, "VARIABLE") {
			break
		}
		if val, ok := (*v)[unquote(name)]; ok {
			return "200 result=1 (" + val + ")"
		}
		return "200 result=0"
	case "EXEC":
		app, args, _ := strings.Cut(rest, " ")
		if strings.EqualFold(app, "MSet") {
			for _, pair := range splitPairs(unquote(args)) {
				if name, val, ok := strings.Cut(pair, "="); ok && name != "" {
					v.set(strings.TrimLeft(name, "_"), val)
				}
			}
		}
		return "200 result=0"
	case "VERBOSE":
		return "200 result=1"
	}
	return "510 Invalid or unknown command"
}

// expand substitutes every ${NAME} in expr with the variable's value
// (empty when unset), as Asterisk does for GET FULL VARIABLE.
func (v channelVars) expand(expr string) string {
	var b strings.Builder
	for {
		i := strings.Index(expr, "${")
		if i < 0 {
			b.WriteString(expr)
			return b.String()
		}
		j := strings.IndexByte(expr[i:], '}')
		if j < 0 {
			b.WriteString(expr)
			return b.String()
		}
		b.WriteString(expr[:i])
		b.WriteString(v[expr[i+2:i+j]])
		expr = expr[i+j+1:]
	}
}

func (v *channelVars) set(name, value string) {
	if name == "" {
		return
	}
	if *v == nil {
		*v = make(channelVars, 8)
	}
	(*v)[name] = value
}

// splitPairs splits MSet's argument as Asterisk's argument parser does
// for the values recgate sends: a comma inside double quotes or
// parentheses does not split, and the quotes are removed.
func splitPairs(s string) []string {
	var (
		out   []string
		cur   []byte
		quote bool
		paren int
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quote = !quote
			continue
		case c == '(':
			paren++
		case c == ')' && paren > 0:
			paren--
		case c == ',' && !quote && paren == 0:
			out = append(out, string(cur))
			cur = cur[:0]
			continue
		}
		cur = append(cur, s[i])
	}
	return append(out, string(cur))
}

// unquote removes the double quotes around an AGI argument and its
// backslash escapes, as Asterisk's argument parser does.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
