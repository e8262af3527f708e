package agi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	zagi "github.com/zaf/agi"

	"github.com/recgate/recgate/agi/agitest"
)

func loadTranscript(t testing.TB, name string) *agitest.Transcript {
	t.Helper()
	tr, err := agitest.LoadTranscript(filepath.Join("testdata", "transcripts", name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// outcome is what a Session method returned for one command.
type outcome struct {
	value  string
	ok     bool
	result int
	err    error
}

// sendLike sends cmd (a transcript command line) through the Session
// method that produces it, or raw for commands the Session does not offer.
func sendLike(ctx context.Context, s *Session, cmd string) outcome {
	argv := agitest.ParseArgs(cmd)
	words := strings.ToUpper(strings.Join(argv, " "))
	switch {
	case strings.HasPrefix(words, "SET VARIABLE ") && len(argv) == 4:
		return outcome{err: s.SetVariable(ctx, argv[2], argv[3])}
	case strings.HasPrefix(words, "GET VARIABLE ") && len(argv) == 3:
		v, ok, err := s.GetVariable(ctx, argv[2])
		return outcome{value: v, ok: ok, err: err}
	case strings.HasPrefix(words, "GET FULL VARIABLE ") && len(argv) == 4:
		v, ok, err := s.GetFullVariable(ctx, argv[3])
		return outcome{value: v, ok: ok, err: err}
	case strings.HasPrefix(words, "EXEC ") && len(argv) <= 3:
		var args string
		if len(argv) == 3 {
			args = argv[2]
		}
		res, err := s.Exec(ctx, argv[1], args)
		return outcome{result: res, err: err}
	case strings.HasPrefix(words, "VERBOSE ") && len(argv) == 3:
		level, _ := strconv.Atoi(argv[2])
		return outcome{err: s.Verbose(ctx, argv[1], level)}
	}
	rep, err := s.roundTrip(ctx, "raw", func(zs *zagi.Session) (zagi.Reply, error) { return zs.RawCommand(cmd) })
	return outcome{value: rep.Dat, ok: rep.Res == 1, result: rep.Res, err: err}
}

// expected derives the outcome from the transcript's reply, shaped the way
// sendLike reports it.
func expected(cmd string, reply []string) outcome {
	first := reply[0]
	switch {
	case strings.HasPrefix(first, "510"):
		return outcome{err: ErrInvalidCommand}
	case strings.HasPrefix(first, "511"):
		return outcome{err: ErrDeadChannel}
	case strings.HasPrefix(first, "520"):
		return outcome{err: ErrUsage}
	}
	num, data, _ := strings.Cut(strings.TrimPrefix(first, "200 result="), " ")
	res, _ := strconv.Atoi(num)
	words := strings.ToUpper(strings.Join(agitest.ParseArgs(cmd), " "))
	switch {
	case strings.HasPrefix(words, "SET VARIABLE "), strings.HasPrefix(words, "VERBOSE "):
		return outcome{}
	case strings.HasPrefix(words, "GET VARIABLE "), strings.HasPrefix(words, "GET FULL VARIABLE "):
		return outcome{value: strings.TrimSuffix(strings.TrimPrefix(data, "("), ")"), ok: res == 1}
	case strings.HasPrefix(words, "EXEC "):
		return outcome{result: res}
	}
	return outcome{value: data, ok: res == 1, result: res}
}

// TestTranscriptReplay sends every transcript's commands through the
// Session API to a fake Asterisk that answers exactly with the transcript,
// and checks each outcome, the HANGUP handling and that the commands sent
// mean what the transcript's do.
func TestTranscriptReplay(t *testing.T) {
	files, _ := filepath.Glob("testdata/transcripts/*.raw")
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			tr := loadTranscript(t, name)
			hangup := tr.TrailingHangup
			for _, e := range tr.Exchanges {
				hangup = hangup || e.HangupBefore || e.HangupMid
			}
			type step struct {
				got, want outcome
				cmd       string
			}
			steps := make(chan []step, 1)
			sess := make(chan [2]any, 1)
			_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
				var out []step
				for _, e := range tr.Exchanges {
					out = append(out, step{sendLike(ctx, s, e.Command), expected(e.Command, e.Reply), e.Command})
				}
				steps <- out
				sess <- [2]any{s.HungUp(), s.Commands()}
				return nil
			}))
			replay := agitest.NewReplay(tr)
			runPeer(t, addr, tr.EnvBlock(nil), replay.Respond)
			for _, st := range <-steps {
				if st.want.err != nil {
					if !errors.Is(st.got.err, st.want.err) {
						t.Errorf("%s: err = %v, want %v", st.cmd, st.got.err, st.want.err)
					}
					continue
				}
				st.got.err = nil
				if st.got != st.want {
					t.Errorf("%s: got %+v, want %+v", st.cmd, st.got, st.want)
				}
			}
			if err := replay.Err(); err != nil {
				t.Error(err)
			}
			got := <-sess
			if got[0] != hangup || got[1] != len(tr.Exchanges) {
				t.Errorf("HungUp, Commands = %v, %v; want %v, %d", got[0], got[1], hangup, len(tr.Exchanges))
			}
		})
	}
}

// runPeer dials addr, sends env and answers with respond until the server
// closes the connection; it returns the commands received.
func runPeer(t *testing.T, addr string, env []byte, respond agitest.Responder) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := agitest.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendEnv(env); err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(ctx, respond); err != nil {
		t.Fatalf("peer: %v", err)
	}
	return p.Commands()
}

// serveOne runs handler for one session against a fake Asterisk and
// returns the commands the peer received and the handler's error.
func serveOne(t *testing.T, env []byte, respond agitest.Responder, handler HandlerFunc) ([]string, error) {
	t.Helper()
	errc := make(chan error, 1)
	_, addr := startServer(t, HandlerFunc(func(ctx context.Context, s *Session) error {
		err := handler(ctx, s)
		errc <- err
		return err
	}))
	cmds := runPeer(t, addr, env, respond)
	return cmds, <-errc
}

func TestHangupMidCommandNoDesync(t *testing.T) {
	tr := loadTranscript(t, "0002-hold.raw")
	ast := agitest.NewAsterisk(tr.EnvMap())
	ast.SetVar("RECDECISION", "preset")
	ast.HangupBefore = 2
	var values []string
	_, err := serveOne(t, tr.EnvBlock(nil), ast.Respond, func(ctx context.Context, s *Session) error {
		for _, name := range []string{"RECDECISION", "UNIQUEID", "CHANNEL(name)"} {
			v, _, err := s.GetVariable(ctx, name)
			if err != nil {
				return err
			}
			values = append(values, v)
		}
		if !s.HungUp() {
			return errors.New("HungUp() = false after HANGUP")
		}
		if _, err := s.roundTrip(ctx, "answer", func(zs *zagi.Session) (zagi.Reply, error) { return zs.Answer() }); !errors.Is(err, ErrDeadChannel) {
			return fmt.Errorf("ANSWER after hangup: err = %v, want ErrDeadChannel", err)
		}
		return s.SetVariable(ctx, "AFTER", "1")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"preset", "1795511727.3", "Local/101@test-00000001;2"}
	if !slices.Equal(values, want) {
		t.Errorf("values = %q, want %q (a desync shifts them)", values, want)
	}
	if v, _ := ast.Var("AFTER"); v != "1" {
		t.Errorf("AFTER = %q after hangup, want 1", v)
	}
}

func TestHangupRightAfterEnv(t *testing.T) {
	tr := loadTranscript(t, "0002-hold.raw")
	env := append(tr.EnvBlock(nil), "HANGUP\n"...)
	ast := agitest.NewAsterisk(tr.EnvMap())
	_, err := serveOne(t, env, ast.Respond, func(ctx context.Context, s *Session) error {
		v, ok, err := s.GetVariable(ctx, "UNIQUEID")
		if err != nil || !ok || v != "1795511727.3" || !s.HungUp() {
			return fmt.Errorf("GetVariable = %q, %v, %v; HungUp %v", v, ok, err, s.HungUp())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCommandErrors(t *testing.T) {
	tr := loadTranscript(t, "0004-dead.raw")
	tests := []struct {
		name  string
		reply []string
		want  error
	}{
		{"510", []string{agitest.ReplyInvalid}, ErrInvalidCommand},
		{"511", []string{agitest.ReplyDead}, ErrDeadChannel},
		{"520 one line", []string{"520 Invalid command syntax."}, ErrUsage},
		{"520 multi-line", []string{"520-Invalid command syntax.  Proper usage follows:", "Usage: x", " more", "520 End of proper usage."}, ErrUsage},
		{"garbage", []string{"hello"}, ErrMalformed},
		{"unknown status", []string{"300 result=1"}, ErrMalformed},
		{"200 without result", []string{"200 foo"}, ErrMalformed},
		{"binary", []string{"\x00\x01\x02"}, ErrMalformed},
		{"only hangups", slices.Repeat([]string{"HANGUP"}, maxHangupLines+2), ErrMalformed},
		{"endless 520", append([]string{"520-x"}, slices.Repeat([]string{"y"}, maxUsageLines+1)...), ErrMalformed},
		{"long line", []string{"200 result=1 (" + strings.Repeat("x", maxReplyLen) + ")"}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			respond := func(cmd string) []string {
				n++
				if n == 1 {
					return tt.reply
				}
				return []string{"200 result=1 (after)"}
			}
			_, err := serveOne(t, tr.EnvBlock(nil), respond, func(ctx context.Context, s *Session) error {
				_, _, err := s.GetVariable(ctx, "X")
				if !errors.Is(err, tt.want) {
					return fmt.Errorf("first: err = %v, want %v", err, tt.want)
				}
				if !strings.HasPrefix(err.Error(), "get variable X: ") {
					return fmt.Errorf("error %q not prefixed with the command", err)
				}
				// A protocol error that leaves the stream in sync keeps the
				// session usable; a malformed stream breaks it for good.
				v, _, err := s.GetVariable(ctx, "Y")
				if errors.Is(tt.want, ErrMalformed) {
					if !errors.Is(err, ErrMalformed) {
						return fmt.Errorf("after malformed reply: err = %v, want ErrMalformed", err)
					}
					return nil
				}
				if err != nil || v != "after" {
					return fmt.Errorf("second command = %q, %v; want the next reply (desync?)", v, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExecNotFound(t *testing.T) {
	tr := loadTranscript(t, "0001-probe.raw")
	ast := agitest.NewAsterisk(tr.EnvMap())
	var res []int
	_, err := serveOne(t, tr.EnvBlock(nil), ast.Respond, func(ctx context.Context, s *Session) error {
		for _, app := range []string{"NoSuchApp", "MixMonitor", "MSet"} {
			r, err := s.Exec(ctx, app, "/tmp/x.wav,b")
			if err != nil {
				return err
			}
			res = append(res, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res, []int{-2, 0, 0}) {
		t.Errorf("results = %v, want [-2 0 0]", res)
	}
	if v, _ := ast.Var("MIXMONITOR_FILENAME"); v != "/tmp/x.wav" {
		t.Errorf("MIXMONITOR_FILENAME = %q", v)
	}
}

// TestEscaping checks the exact bytes on the wire: no value, however
// hostile, adds a command or an argument.
func TestEscaping(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	hostile := "a\"b\\c\nEXEC System \"rm -rf /\"\r\x00\x1b$"
	ast := agitest.NewAsterisk(tr.EnvMap())
	cmds, err := serveOne(t, tr.EnvBlock(nil), ast.Respond, func(ctx context.Context, s *Session) error {
		if err := s.SetVariable(ctx, "__RECGATE_CID", hostile); err != nil {
			return err
		}
		if _, err := s.Exec(ctx, "MixMonitor", hostile); err != nil {
			return err
		}
		if err := s.Verbose(ctx, hostile, 3); err != nil {
			return err
		}
		if _, _, err := s.GetFullVariable(ctx, `${CALLERID(name)} "x"`); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clean := `a\"b\\cEXEC System \"rm -rf /\"$`
	want := []string{
		`SET VARIABLE "__RECGATE_CID" "` + clean + `"`,
		`EXEC MixMonitor "` + clean + `"`,
		`VERBOSE "` + clean + `" 3`,
		`GET FULL VARIABLE "${CALLERID(name)} \"x\""`,
	}
	if !slices.Equal(cmds, want) {
		t.Fatalf("wire:\n%s\nwant:\n%s", strings.Join(cmds, "\n"), strings.Join(want, "\n"))
	}
	// Asterisk reads the value back as one argument, unchanged but for
	// the dropped control characters.
	if v, _ := ast.Var("RECGATE_CID"); v != "a\"b\\cEXEC System \"rm -rf /\"$" {
		t.Errorf("Asterisk stored %q", v)
	}
	if argv := agitest.ParseArgs(cmds[1]); len(argv) != 3 {
		t.Errorf("EXEC parsed into %d arguments: %q", len(argv), argv)
	}
}

func TestInvalidArguments(t *testing.T) {
	tr := loadTranscript(t, "0016-arm.raw")
	ast := agitest.NewAsterisk(tr.EnvMap())
	calls := []struct {
		name string
		call func(context.Context, *Session) error
	}{
		{"name with space", func(ctx context.Context, s *Session) error { return s.SetVariable(ctx, "A B", "x") }},
		{"name with newline", func(ctx context.Context, s *Session) error { _, _, err := s.GetVariable(ctx, "A\nEXEC x"); return err }},
		{"name with quote", func(ctx context.Context, s *Session) error { _, _, err := s.GetVariable(ctx, `A"`); return err }},
		{"name with ${", func(ctx context.Context, s *Session) error { _, _, err := s.GetVariable(ctx, "${X}"); return err }},
		{"empty name", func(ctx context.Context, s *Session) error { return s.SetVariable(ctx, "", "x") }},
		{"app with space", func(ctx context.Context, s *Session) error { _, err := s.Exec(ctx, "Mix Monitor", ""); return err }},
		{"app with quote", func(ctx context.Context, s *Session) error { _, err := s.Exec(ctx, `System"`, ""); return err }},
		{"expr with newline", func(ctx context.Context, s *Session) error { _, _, err := s.GetFullVariable(ctx, "${A}\n"); return err }},
		{"verbose level", func(ctx context.Context, s *Session) error { return s.Verbose(ctx, "x", 9) }},
		{"command too long", func(ctx context.Context, s *Session) error {
			return s.SetVariable(ctx, "X", strings.Repeat("y", maxCommandLen))
		}},
	}
	cmds, err := serveOne(t, tr.EnvBlock(nil), ast.Respond, func(ctx context.Context, s *Session) error {
		for _, c := range calls {
			if err := c.call(ctx, s); !errors.Is(err, ErrInvalidArgument) {
				return fmt.Errorf("%s: err = %v, want ErrInvalidArgument", c.name, err)
			}
		}
		// Refused commands leave the session usable.
		return s.SetVariable(ctx, "OK", "1")
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`SET VARIABLE "OK" "1"`}; !slices.Equal(cmds, want) {
		t.Errorf("wire = %q, want only %q", cmds, want)
	}
	// The longest command Asterisk reads as one line still goes through.
	longest := strings.Repeat("y", maxCommandLen-len(`SET VARIABLE "X" ""`)-1)
	cmds, err = serveOne(t, tr.EnvBlock(nil), ast.Respond, func(ctx context.Context, s *Session) error {
		return s.SetVariable(ctx, "X", longest)
	})
	if err != nil || len(cmds) != 1 || len(cmds[0])+1 != maxCommandLen {
		t.Errorf("longest command: err %v, %d commands", err, len(cmds))
	}
}
