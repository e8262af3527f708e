package agitest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Replies as Asterisk 22 words them.
const (
	ReplyInvalid = "510 Invalid or unknown command"
	ReplyDead    = "511 Command Not Permitted on a dead channel or intercept routine"
)

// usageReply is the multi-line 520 reply to a command with bad syntax.
func usageReply(usage string) []string {
	return []string{"520-Invalid command syntax.  Proper usage follows:", usage, "520 End of proper usage."}
}

// ParseArgs splits an AGI command line the way res_agi's parse_args does:
// arguments are separated by spaces or tabs outside double quotes, quotes
// group and are removed, and a backslash makes the next character literal
// ("\n" is the letter n, not a newline).
func ParseArgs(line string) []string {
	var (
		args       []string
		cur        []byte
		inWord     bool
		quoted     bool
		escaped    bool
		whitespace = true
	)
	flush := func() {
		if inWord {
			args = append(args, string(cur))
		}
		cur, inWord = cur[:0], false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' && !escaped:
			quoted = !quoted
			if quoted && whitespace {
				inWord, whitespace = true, false
			}
		case (c == ' ' || c == '\t') && !quoted && !escaped:
			if !whitespace {
				flush()
			}
			whitespace = true
		case c == '\\' && !escaped:
			escaped = true
		default:
			if whitespace {
				inWord, whitespace = true, false
			}
			cur = append(cur, c)
			escaped = false
		}
	}
	flush()
	return args
}

// SeparateArgs splits an application's argument string the way Asterisk's
// __ast_app_separate_args does (main/app.c; AST_STANDARD_APP_ARGS is
// delim ',' with removeChars): delim ends an argument unless inside
// parentheses, square brackets or double quotes; with removeChars the
// quotes are dropped and a backslash is dropped and makes the next
// character literal. At most max arguments: the last takes the rest of
// buf unparsed. MSet parses its argument with it into pairs, then each
// pair again with '=' and max 2.
func SeparateArgs(buf string, delim byte, removeChars bool, max int) []string {
	var (
		args                  []string
		paren, bracket        int
		quote, endedWithDelim bool
		b                     = []byte(buf)
		i                     int
	)
	if max < 1 {
		return nil
	}
	for len(args) < max-1 && i < len(b) {
		var cur []byte
		endedWithDelim = false
	scan:
		for ; i < len(b); i++ {
			c := b[i]
			switch {
			case c == '(':
				paren++
			case c == ')':
				if paren > 0 {
					paren--
				}
			case c == '[':
				bracket++
			case c == ']':
				if bracket > 0 {
					bracket--
				}
			case c == '"' && delim != '"':
				quote = !quote
				if removeChars {
					continue
				}
			case c == '\\':
				if removeChars {
					i++
					if i < len(b) {
						cur = append(cur, b[i])
					}
					continue
				}
				cur = append(cur, c)
				i++
				if i < len(b) {
					cur = append(cur, b[i])
				}
				continue
			case c == delim && paren == 0 && !quote && bracket == 0:
				i++
				endedWithDelim = true
				break scan
			}
			cur = append(cur, c)
		}
		args = append(args, string(cur))
	}
	if i < len(b) || endedWithDelim {
		args = append(args, string(b[i:]))
	}
	return args
}

// Asterisk is a Responder that mimics Asterisk 22's res_agi for the
// commands recgate uses, keeping channel variables so that what is set can
// be read back. Configure it before the first command; it is safe for
// concurrent use afterwards.
type Asterisk struct {
	mu   sync.Mutex
	vars map[string]string
	n    int // commands answered

	// Dead answers 511 to every command a dead channel refuses (all but
	// GET/SET VARIABLE, GET FULL VARIABLE, EXEC, VERBOSE, NOOP, DATABASE).
	Dead bool
	// HangupBefore, when n > 0, sends an unsolicited HANGUP line before the
	// reply to the n-th command (1-based); the channel is dead afterwards.
	HangupBefore int
}

// NewAsterisk returns a responder for the channel described by env (full
// keys such as "agi_uniqueid", e.g. Transcript.EnvMap; nil for none), with
// UNIQUEID, CHANNEL(name) and, on a PJSIP channel, CHANNEL(endpoint) set.
func NewAsterisk(env map[string]string) *Asterisk {
	a := &Asterisk{vars: make(map[string]string)}
	if v := env["agi_uniqueid"]; v != "" {
		a.vars["UNIQUEID"] = v
	}
	if ch := env["agi_channel"]; ch != "" {
		a.vars["CHANNEL(name)"] = ch
		if rest, ok := strings.CutPrefix(ch, "PJSIP/"); ok {
			if i := strings.LastIndexByte(rest, '-'); i > 0 {
				a.vars["CHANNEL(endpoint)"] = rest[:i]
			}
		}
	}
	return a
}

// Var returns a channel variable.
func (a *Asterisk) Var(name string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.vars[name]
	return v, ok
}

// SetVar sets a channel variable.
func (a *Asterisk) SetVar(name, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.vars[name] = value
}

// Vars returns a copy of the channel variables.
func (a *Asterisk) Vars() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.vars)
}

// Respond answers one command line; it is a Responder.
func (a *Asterisk) Respond(cmd string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n++
	var out []string
	if a.HangupBefore > 0 && a.n == a.HangupBefore {
		out = append(out, "HANGUP")
		a.Dead = true
	}
	return append(out, a.reply(ParseArgs(cmd))...)
}

// liveOnly are commands res_agi knows but refuses on a dead channel.
var liveOnly = []string{"ANSWER", "HANGUP", "WAIT FOR DIGIT", "STREAM FILE", "CONTROL STREAM FILE",
	"CHANNEL STATUS", "GET DATA", "GET OPTION", "SAY DIGITS", "SAY NUMBER", "SAY ALPHA",
	"SET CONTEXT", "SET EXTENSION", "SET PRIORITY", "SET CALLERID", "SET MUSIC", "GOSUB", "RECORD FILE"}

func (a *Asterisk) reply(argv []string) []string {
	upper := make([]string, len(argv))
	for i, s := range argv {
		upper[i] = strings.ToUpper(s)
	}
	is := func(words ...string) bool {
		return len(upper) >= len(words) && slices.Equal(upper[:len(words)], words)
	}
	switch {
	case is("SET", "VARIABLE"):
		if len(argv) != 4 {
			return usageReply("Sets a variable to the current channel.")
		}
		a.vars[strings.TrimLeft(argv[2], "_")] = argv[3]
		return []string{"200 result=1"}
	case is("GET", "VARIABLE"):
		if len(argv) != 3 {
			return usageReply("Gets a channel variable.")
		}
		if v, ok := a.vars[argv[2]]; ok {
			return []string{"200 result=1 (" + v + ")"}
		}
		return []string{"200 result=0"}
	case is("GET", "FULL", "VARIABLE"):
		if len(argv) < 4 || len(argv) > 5 {
			return usageReply("Evaluates a channel expression.")
		}
		return []string{"200 result=1 (" + a.expand(argv[3]) + ")"}
	case is("EXEC"):
		if len(argv) < 2 {
			return usageReply("Executes a given Application.")
		}
		var args string
		if len(argv) > 2 {
			args = argv[2]
		}
		return []string{a.exec(argv[1], args)}
	case is("VERBOSE"):
		if len(argv) < 2 || len(argv) > 3 {
			return usageReply("Logs a message to the asterisk verbose log.")
		}
		return []string{"200 result=1"}
	case is("NOOP"):
		return []string{"200 result=0"}
	case is("DATABASE"):
		return []string{"200 result=0"}
	}
	for _, c := range liveOnly {
		if is(strings.Fields(c)...) {
			if a.Dead {
				return []string{ReplyDead}
			}
			return []string{"200 result=0"}
		}
	}
	return []string{ReplyInvalid}
}

// exec runs the applications recgate uses; any other answers -2 as a
// missing application does.
func (a *Asterisk) exec(app, args string) string {
	switch strings.ToLower(app) {
	case "mixmonitor":
		file, _, _ := strings.Cut(args, ",")
		a.vars["MIXMONITOR_FILENAME"] = file
		return "200 result=0"
	case "stopmixmonitor", "noop":
		return "200 result=0"
	case "set":
		if k, v, ok := strings.Cut(args, "="); ok {
			a.vars[strings.TrimLeft(k, "_")] = v
		}
		return "200 result=0"
	case "mset":
		for _, pair := range SeparateArgs(args, ',', true, 99) {
			if kv := SeparateArgs(pair, '=', true, 2); len(kv) == 2 {
				a.vars[strings.TrimLeft(kv[0], "_")] = kv[1]
			}
		}
		return "200 result=0"
	}
	return "200 result=-2"
}

// expand substitutes ${NAME} with channel variables (unset: empty).
func (a *Asterisk) expand(expr string) string {
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
		b.WriteString(a.vars[expr[i+2:i+j]])
		expr = expr[i+j+1:]
	}
}

// Replay is a Responder that answers with a transcript's replies, in
// order, checking that each command the server sends means the same as the
// transcript's (the same arguments as res_agi parses them, so quoting may
// differ). Unsolicited HANGUP lines are sent where the transcript has them.
type Replay struct {
	t    *Transcript
	mu   sync.Mutex
	next int
	errs []error
}

// NewReplay returns a Replay of t.
func NewReplay(t *Transcript) *Replay { return &Replay{t: t} }

// Respond answers one command line; it is a Responder. A command that does
// not match the transcript is recorded (see Err) and answered with 510.
func (r *Replay) Respond(cmd string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next >= len(r.t.Exchanges) {
		r.errs = append(r.errs, fmt.Errorf("command %d %q: transcript has only %d commands", r.next+1, cmd, len(r.t.Exchanges)))
		r.next++
		return []string{ReplyInvalid}
	}
	e := r.t.Exchanges[r.next]
	r.next++
	if got, want := ParseArgs(cmd), ParseArgs(e.Command); !slices.Equal(got, want) {
		r.errs = append(r.errs, fmt.Errorf("command %d: got %q (args %q), transcript has %q (args %q)", r.next, cmd, got, e.Command, want))
		return []string{ReplyInvalid}
	}
	var out []string
	if e.HangupBefore || e.HangupMid {
		out = append(out, "HANGUP")
	}
	out = append(out, e.Reply...)
	if r.next == len(r.t.Exchanges) && r.t.TrailingHangup {
		out = append(out, "HANGUP")
	}
	return out
}

// Err reports the commands that did not match and the transcript's
// commands that were never sent.
func (r *Replay) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := slices.Clone(r.errs)
	if r.next < len(r.t.Exchanges) {
		errs = append(errs, fmt.Errorf("%d of %d transcript commands not sent", len(r.t.Exchanges)-r.next, len(r.t.Exchanges)))
	}
	return errors.Join(errs...)
}
