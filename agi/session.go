package agi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	zagi "github.com/zaf/agi"
)

// Errors a Session returns, wrapped with the command that failed; test
// them with errors.Is.
var (
	// ErrDeadChannel is Asterisk's 511: the command is not permitted on a
	// dead channel (after a hangup, or in a hangup handler).
	ErrDeadChannel = errors.New("agi: command not permitted on a dead channel")
	// ErrInvalidCommand is Asterisk's 510: invalid or unknown command.
	ErrInvalidCommand = errors.New("agi: invalid or unknown command")
	// ErrUsage is Asterisk's 520: invalid command syntax.
	ErrUsage = errors.New("agi: invalid command syntax")
	// ErrClosed means the peer went away (EOF, reset) or the server closed
	// the connection.
	ErrClosed = errors.New("agi: connection closed")
	// ErrTimeout means a read or write did not complete within the read
	// timeout or the context's deadline.
	ErrTimeout = errors.New("agi: timeout")
	// ErrMalformed means the peer sent something that is not AGI:
	// over-long lines, binary garbage, a reply without a status code.
	ErrMalformed = errors.New("agi: malformed input")
	// ErrInvalidArgument means a command was refused before it was sent:
	// a variable or application name with characters that could change
	// the command, or a command longer than Asterisk reads in one line.
	ErrInvalidArgument = errors.New("agi: invalid argument")
)

// maxCommandLen is the longest command line, "\n" included, that Asterisk
// reads as one command: res_agi reads into a 2048-byte buffer with fgets and
// runs whatever is left over as a second command.
const maxCommandLen = 2047

// maxHangupLines bounds the unsolicited HANGUP lines skipped in one reply.
const maxHangupLines = 8

// maxUsageLines bounds the lines of a multi-line 520 reply.
const maxUsageLines = 64

// Session is one FastAGI connection: the request environment and the
// commands a handler sends on it. A Session is not safe for concurrent use;
// its methods must be called from the handler's goroutine.
//
// Every command has a deadline: the earlier of its context's deadline and
// the server's ReadTimeout from when it is sent. After a connection-level
// failure (timeout, peer gone, malformed reply) the session is broken and
// every later command returns the same error without touching the wire; an
// error wrapping ErrMalformed always breaks the session.
type Session struct {
	req     *Request
	conn    net.Conn
	timeout time.Duration
	base    <-chan struct{} // Done of the session's own context
	z       *zagiConn
	wire    *wire
	zs      *zagi.Session
	cmds    int
	broken  error
}

// zagiConn is a zaf/agi session bound to a wire. Creating one costs a
// bufio.Scanner buffer (zaf/agi's Init) and two bufio buffers, so they are
// pooled by the server and rebound to each new connection.
type zagiConn struct {
	zs   *zagi.Session
	wire *wire
	rw   *bufio.ReadWriter
}

// newZagiConn initialises a zaf/agi session over a fresh wire. zaf/agi's
// Init parses the environment with a bufio.Scanner; the wire yields a lone
// "\n" first, so Init sees an empty environment and reads nothing from the
// connection. The real environment is parsed by readRequest.
func newZagiConn() (*zagiConn, error) {
	w := &wire{primed: true}
	z := &zagiConn{zs: new(zagi.Session), wire: w}
	z.rw = bufio.NewReadWriter(bufio.NewReaderSize(w, 256), bufio.NewWriterSize(w, 512))
	if err := z.zs.Init(z.rw); err != nil {
		return nil, fmt.Errorf("init session: %w", err)
	}
	if w.primed {
		return nil, errors.New("init session: zaf/agi did not consume the empty environment")
	}
	return z, nil
}

// bind points z at a new connection, dropping any state of the last one.
func (z *zagiConn) bind(conn net.Conn, br *bufio.Reader) {
	*z.wire = wire{conn: conn, br: br, cmd: z.wire.cmd[:0]}
	z.rw.Reader.Reset(z.wire)
	z.rw.Writer.Reset(z.wire)
}

// newSession wraps conn, whose environment was already read from br, with
// the zaf/agi session z; base is the Done channel of the session's context.
func newSession(conn net.Conn, br *bufio.Reader, req *Request, timeout time.Duration, z *zagiConn, base <-chan struct{}) *Session {
	z.bind(conn, br)
	return &Session{req: req, conn: conn, timeout: timeout, base: base, z: z, wire: z.wire, zs: z.zs}
}

// Request returns the environment Asterisk sent for this session.
func (s *Session) Request() *Request { return s.req }

// HungUp reports whether Asterisk sent an unsolicited HANGUP line: the
// channel is gone. Commands allowed on a dead channel (GET/SET VARIABLE,
// EXEC, VERBOSE) still work; others fail with ErrDeadChannel.
func (s *Session) HungUp() bool { return s.wire.hungUp }

// Commands returns the number of command round trips made so far.
func (s *Session) Commands() int { return s.cmds }

// GetVariable reads a channel variable (GET VARIABLE). ok is false when
// the variable is not set (200 result=0).
//
// A value that itself contains a newline cannot be told apart from the
// next reply (Asterisk does not escape it); the session then fails with
// ErrMalformed at the next command rather than misreading a reply.
func (s *Session) GetVariable(ctx context.Context, name string) (value string, ok bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, fmt.Errorf("get variable: %w", err)
	}
	rep, err := s.roundTrip(ctx, "get variable "+name, func(zs *zagi.Session) (zagi.Reply, error) {
		return zs.GetVariable(name)
	})
	if err != nil {
		return "", false, err
	}
	return rep.Dat, rep.Res == 1, nil
}

// GetFullVariable evaluates an expression such as ${CHANNEL(linkedid)}
// (GET FULL VARIABLE). ok is false when Asterisk answers 200 result=0.
func (s *Session) GetFullVariable(ctx context.Context, expr string) (string, bool, error) {
	if expr == "" || !isPrintable(expr) {
		return "", false, fmt.Errorf("get full variable %q: %w: empty or not printable", expr, ErrInvalidArgument)
	}
	rep, err := s.roundTrip(ctx, "get full variable "+expr, func(zs *zagi.Session) (zagi.Reply, error) {
		return zs.GetFullVariable(expr)
	})
	if err != nil {
		return "", false, err
	}
	return rep.Dat, rep.Res == 1, nil
}

// SetVariable sets a channel variable (SET VARIABLE). The value is quoted
// and escaped: '"' and '\' are backslash-escaped and control characters
// (CR, LF, tab…) and invalid UTF-8 are dropped, so no value can add a
// command or an argument.
func (s *Session) SetVariable(ctx context.Context, name, value string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("set variable: %w", err)
	}
	escaped := escapeValue(sanitize(value))
	_, err := s.roundTrip(ctx, "set variable "+name, func(zs *zagi.Session) (zagi.Reply, error) {
		return zs.SetVariable(name, escaped)
	})
	return err
}

// Exec runs a dialplan application (EXEC app "args") and returns what it
// answered; -2 means Asterisk has no such application. args are sent as
// one quoted, escaped argument (control characters dropped). Asterisk
// expands ${…} in args only when the channel has AGIEXECFULL=yes: never
// pass caller data in args.
func (s *Session) Exec(ctx context.Context, app, args string) (result int, err error) {
	if err := checkApp(app); err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	args = sanitize(args)
	rep, err := s.roundTrip(ctx, "exec "+app, func(zs *zagi.Session) (zagi.Reply, error) {
		return zs.Exec(app, args)
	})
	if err != nil {
		return 0, err
	}
	return rep.Res, nil
}

// Verbose logs msg in Asterisk's verbose log at level 1 to 4 (VERBOSE).
func (s *Session) Verbose(ctx context.Context, msg string, level int) error {
	if level < 1 || level > 4 {
		return fmt.Errorf("verbose: %w: level %d not in 1..4", ErrInvalidArgument, level)
	}
	escaped := escapeValue(sanitize(msg))
	_, err := s.roundTrip(ctx, "verbose", func(zs *zagi.Session) (zagi.Reply, error) {
		return zs.Verbose(escaped, level)
	})
	return err
}

// roundTrip runs one zaf/agi command under a deadline and maps the reply
// status the wire saw to this package's errors.
func (s *Session) roundTrip(ctx context.Context, op string, cmd func(*zagi.Session) (zagi.Reply, error)) (zagi.Reply, error) {
	if s.broken != nil {
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, s.broken)
	}
	if err := ctx.Err(); err != nil {
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, err)
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetDeadline(deadline); err != nil {
		s.broken = ioError(err)
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, s.broken)
	}
	// A context other than the session's own may be cancelled at any
	// time: wake a blocked read or write then (the session breaks). The
	// session's own context needs no watcher: the server closes the
	// connection when it cancels it.
	stop := func() bool { return false }
	if done := ctx.Done(); done != nil && done != s.base {
		stop = context.AfterFunc(ctx, func() {
			_ = s.conn.SetDeadline(time.Unix(1, 0))
		})
	}
	s.wire.startCommand()
	rep, zerr := cmd(s.zs)
	stop()

	if werr := s.wire.err; werr != nil {
		if errors.Is(werr, ErrInvalidArgument) {
			// Refused before anything was sent: the session stays usable.
			s.wire.err = nil
			return zagi.Reply{}, fmt.Errorf("%s: %w", op, werr)
		}
		if isTimeout(werr) {
			// The deadline was the context's, or the context was
			// cancelled and woke the read: say so.
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
				werr = ctxErr
			} else if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				werr = fmt.Errorf("%w: %w", werr, context.DeadlineExceeded)
			}
		}
		s.broken = werr
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, werr)
	}
	s.cmds++
	switch s.wire.code {
	case 200:
		if zerr != nil {
			s.broken = fmt.Errorf("%w: %v", ErrMalformed, zerr)
			return zagi.Reply{}, fmt.Errorf("%s: %w", op, s.broken)
		}
		return rep, nil
	case 510:
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, ErrInvalidCommand)
	case 511:
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, ErrDeadChannel)
	case 520:
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, ErrUsage)
	default:
		s.broken = fmt.Errorf("%w: unexpected reply status %d", ErrMalformed, s.wire.code)
		return zagi.Reply{}, fmt.Errorf("%s: %w", op, s.broken)
	}
}

// wire sits between zaf/agi and the connection. zaf/agi writes a command
// into it (buffered, nothing sent); its first read then checks and sends the
// command and reads the reply, handing zaf/agi exactly one reply line:
// unsolicited HANGUP lines are dropped (and remembered), a multi-line "520-"
// reply is folded into one "520 " line, and line length is bounded. zaf/agi
// therefore never finds stray buffered data and never desynchronises.
type wire struct {
	conn    net.Conn
	br      *bufio.Reader
	cmd     []byte // the command zaf/agi wrote, not yet sent
	pending []byte // the reply line (with "\n") not yet read by zaf/agi
	primed  bool   // yield one "\n" to zaf/agi's Init
	hungUp  bool   // an unsolicited HANGUP line was seen
	code    int    // status of the last reply
	err     error  // the failure of the current command, if any
}

func (w *wire) startCommand() {
	w.cmd = w.cmd[:0]
	w.pending = nil
	w.code = 0
	w.err = nil
}

// Write buffers the command; it is sent by the next Read. It never fails
// so that zaf/agi's bufio.Writer never holds a sticky error; an over-long
// command is refused by Read instead.
func (w *wire) Write(p []byte) (int, error) {
	if len(w.cmd) <= maxCommandLen {
		w.cmd = append(w.cmd, p...)
	}
	return len(p), nil
}

// Read hands zaf/agi the reply to the command written before it.
func (w *wire) Read(p []byte) (int, error) {
	if w.primed {
		w.primed = false
		p[0] = '\n'
		return 1, nil
	}
	if len(w.pending) == 0 {
		if w.err == nil {
			w.err = w.exchange()
		}
		if w.err != nil {
			return 0, w.err
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

// exchange sends the buffered command and reads one logical reply line
// into pending.
func (w *wire) exchange() error {
	if len(w.cmd) > 0 {
		if err := checkCommand(w.cmd); err != nil {
			w.cmd = w.cmd[:0]
			return err
		}
		_, err := w.conn.Write(w.cmd)
		w.cmd = w.cmd[:0]
		if err != nil {
			return ioError(err)
		}
	}
	line, code, err := w.readReply()
	if err != nil {
		return err
	}
	w.code = code
	w.pending = append(line, '\n')
	return nil
}

// readReply reads the next reply line, skipping unsolicited HANGUP lines
// and folding a multi-line 520 reply, and returns it with its status code.
func (w *wire) readReply() ([]byte, int, error) {
	for hangups := 0; ; hangups++ {
		line, err := readLine(w.br, maxReplyLen)
		if err != nil {
			return nil, 0, err
		}
		if string(line) == "HANGUP" {
			w.hungUp = true
			if hangups == maxHangupLines {
				return nil, 0, fmt.Errorf("%w: too many HANGUP lines", ErrMalformed)
			}
			continue
		}
		code, cont, ok := replyStatus(line)
		if !ok {
			return nil, 0, fmt.Errorf("%w: reply %q has no status code", ErrMalformed, truncate(line))
		}
		if !cont {
			return append([]byte(nil), line...), code, nil
		}
		if code != 520 {
			return nil, 0, fmt.Errorf("%w: unexpected multi-line reply %q", ErrMalformed, truncate(line))
		}
		return w.foldUsage(line)
	}
}

// foldUsage reads the rest of a "520-…" reply up to its "520 …" line and
// returns "520 " and the first line's text.
func (w *wire) foldUsage(first []byte) ([]byte, int, error) {
	folded := append([]byte("520 "), first[4:]...)
	for range maxUsageLines {
		line, err := readLine(w.br, maxReplyLen)
		if err != nil {
			return nil, 0, err
		}
		if code, cont, ok := replyStatus(line); ok && code == 520 && !cont {
			return folded, 520, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: 520 usage reply longer than %d lines", ErrMalformed, maxUsageLines)
}

// replyStatus parses the three-digit status at the start of a reply line;
// cont is true for a continued ("520-") line.
func replyStatus(line []byte) (code int, cont bool, ok bool) {
	if len(line) < 3 {
		return 0, false, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		code = code*10 + int(c-'0')
	}
	if len(line) == 3 {
		return code, false, true
	}
	switch line[3] {
	case ' ':
		return code, false, true
	case '-':
		return code, true, true
	}
	return 0, false, false
}

// checkCommand verifies the invariant every command on the wire must keep:
// one line, ended by its only "\n", printable, short enough for Asterisk to
// read it as one command.
func checkCommand(cmd []byte) error {
	if len(cmd) > maxCommandLen {
		return fmt.Errorf("%w: command longer than %d bytes", ErrInvalidArgument, maxCommandLen)
	}
	if len(cmd) == 0 || cmd[len(cmd)-1] != '\n' {
		return fmt.Errorf("%w: command not ended by a newline", ErrInvalidArgument)
	}
	for _, c := range cmd[:len(cmd)-1] {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character in command", ErrInvalidArgument)
		}
	}
	return nil
}

// checkName validates a variable name such as RECGATE_DECISION,
// __DYNAMIC_FEATURES or CHANNEL(hangup_handler_push): printable ASCII
// without spaces, quotes, backslashes or ${}.
func checkName(name string) error {
	if name == "" || len(name) > 256 {
		return fmt.Errorf("%w: variable name must be 1 to 256 bytes", ErrInvalidArgument)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"'\\`${}", c) >= 0 {
			return fmt.Errorf("%w: variable name %q", ErrInvalidArgument, name)
		}
	}
	return nil
}

// checkApp validates an application name: ASCII letters, digits and '_'.
func checkApp(app string) error {
	if app == "" || len(app) > 64 {
		return fmt.Errorf("%w: application name must be 1 to 64 bytes", ErrInvalidArgument)
	}
	for i := 0; i < len(app); i++ {
		c := app[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%w: application name %q", ErrInvalidArgument, app)
		}
	}
	return nil
}

// sanitize drops what must never reach Asterisk inside an argument: control
// characters (CR and LF would end the command), other non-printable runes
// and invalid UTF-8. What remains is what strconv.Quote leaves unescaped
// except '"' and '\'.
func sanitize(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r != utf8.RuneError && strconv.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// escapeValue backslash-escapes '"' and '\' for a double-quoted argument,
// the way res_agi's parse_args reads it (it takes "\x" as a literal x).
func escapeValue(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// truncate shortens a peer-sent line for an error message.
func truncate(line []byte) string {
	const max = 64
	if len(line) > max {
		return string(line[:max]) + "…"
	}
	return string(line)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
