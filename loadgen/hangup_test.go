package loadgen

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recgate/recgate/agi"
)

// sessionLog is a FastAGI handler shaped like recgate: decide pushes a
// hangup handler on every other station (both ways recgate can: itself,
// or by naming it for the dialplan), hangup reads DIALSTATUS on outbound
// legs only; it logs the unique ids it saw.
type sessionLog struct {
	mu      sync.Mutex
	decides map[string]bool // uniqueid → pushed
	hangups map[string]string
}

func (l *sessionLog) ServeAGI(ctx context.Context, s *agi.Session) error {
	req := s.Request()
	switch req.Script {
	case "decide":
		push := strings.HasSuffix(req.Channel[:strings.LastIndexByte(req.Channel, '-')], "1") ||
			strings.HasSuffix(req.Channel[:strings.LastIndexByte(req.Channel, '-')], "3")
		l.mu.Lock()
		l.decides[req.UniqueID] = push
		l.mu.Unlock()
		if !push {
			_, err := s.Exec(ctx, "MSet", "RECGATE_HANGUP_HANDLER=,RECGATE_DECISION=off")
			return err
		}
		if req.Param("act") == "dialplan" {
			_, err := s.Exec(ctx, "MSet", `RECGATE_HANGUP_HANDLER="recgate-hangup,s,1",RECGATE_DECISION=auto`)
			return err
		}
		if err := s.SetVariable(ctx, "CHANNEL(hangup_handler_push)", "recgate-hangup,s,1"); err != nil {
			return err
		}
		_, err := s.Exec(ctx, "MSet", "RECGATE_DECISION=auto")
		return err
	case "hangup":
		status := "(not read)"
		switch {
		case strings.HasSuffix(req.UniqueID, "1"):
			v, _, err := s.GetVariable(ctx, "DIALSTATUS")
			if err != nil {
				return err
			}
			status = v
		case strings.HasSuffix(req.UniqueID, "2"):
			v, _, err := s.GetFullVariable(ctx, "${DIALSTATUS}|${CHANNEL(state)}")
			if err != nil {
				return err
			}
			status = v
		}
		l.mu.Lock()
		l.hangups[req.UniqueID] = status
		l.mu.Unlock()
	}
	return nil
}

func TestRunSendsHangupSessions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		act    string
		hangup bool
		open   bool
	}{
		{"recgate pushes", "", true, false},
		{"dialplan pushes", "dialplan", true, false},
		{"open loop", "dialplan", true, true},
		{"no hangups", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &sessionLog{decides: map[string]bool{}, hangups: map[string]string{}}
			srv := &agi.Server{Handler: l}
			ln := listen(t)
			go srv.Serve(ln)
			defer srv.Close()
			sc := DefaultScenario()
			sc.Stations, sc.Act = 10, tc.act
			cfg := Config{Target: ln.Addr().String(), Scenario: sc, Concurrency: 4, Sessions: 200, Timeout: 2 * time.Second, Hangup: tc.hangup}
			if tc.open {
				cfg.Rate = 2000
			}
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Sessions != 200 || res.Errors.Total() != 0 || res.HangupErrors.Total() != 0 {
				t.Fatalf("sessions %d errors %+v hangup errors %+v", res.Sessions, res.Errors, res.HangupErrors)
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			pushed := 0
			for uid, p := range l.decides {
				_, hung := l.hangups[uid]
				if p {
					pushed++
				}
				if hung != (p && tc.hangup) {
					t.Errorf("call %s: pushed %v, hangup session %v", uid, p, hung)
				}
			}
			if pushed == 0 || pushed == 200 {
				t.Fatalf("%d of 200 decides pushed: the test needs both kinds", pushed)
			}
			if !tc.hangup {
				if res.Pushed != 0 || res.Hangups != 0 {
					t.Errorf("pushed %d hangups %d without Hangup", res.Pushed, res.Hangups)
				}
				return
			}
			if res.Pushed != int64(pushed) || res.Hangups != int64(pushed) || len(l.hangups) != pushed {
				t.Errorf("result pushed %d hangups %d, server saw %d pushed and %d hangups", res.Pushed, res.Hangups, pushed, len(l.hangups))
			}
			for uid, status := range l.hangups {
				if status != "(not read)" && status != "ANSWER" && status != "ANSWER|Up" {
					t.Errorf("hangup %s read %q, want the call answered", uid, status)
				}
			}
		})
	}
}

// TestRunIDsFresh: every call of a run has its own unique id, and no two
// runs against one server share one.
func TestRunIDsFresh(t *testing.T) {
	l := &sessionLog{decides: map[string]bool{}, hangups: map[string]string{}}
	srv := &agi.Server{Handler: l}
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	total := 0
	for range 3 {
		cfg := Config{Target: ln.Addr().String(), Scenario: DefaultScenario(), Concurrency: 20, Sessions: 300, Timeout: 2 * time.Second}
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		total += int(res.Sessions)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if total != 900 || len(l.decides) != total {
		t.Errorf("%d sessions, %d distinct unique ids", total, len(l.decides))
	}
}

// TestBareMirrorsHangups: the bare responder pushes a hangup handler on
// as many sessions as it is told and answers hangup sessions with their
// own number of commands, so the generator plays as many hangup sessions
// against it as against recgate.
func TestBareMirrorsHangups(t *testing.T) {
	s, addr, err := ListenBare(context.Background(), Mix{Commands: 3, Sessions: 2}, Mix{Commands: 1, Sessions: 2}, Mix{Commands: 1, Sessions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := Run(context.Background(), Config{Target: addr, Scenario: DefaultScenario(), Concurrency: 4, Sessions: 400, Timeout: 2 * time.Second, Hangup: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 400 || res.Commands != 600 || res.Errors.Total() != 0 {
		t.Fatalf("sessions %d commands %d errors %+v", res.Sessions, res.Commands, res.Errors)
	}
	if res.Pushed != 200 || res.Hangups != 200 || res.HangupCommands != 200 || res.HangupErrors.Total() != 0 {
		t.Errorf("pushed %d hangups %d hangup commands %d errors %+v, want 200 each", res.Pushed, res.Hangups, res.HangupCommands, res.HangupErrors)
	}
	if _, _, err := ListenBare(context.Background(), Mix{Commands: 1, Sessions: 1}, Mix{Commands: 3, Sessions: 2}, Mix{}); err == nil {
		t.Error("ListenBare took more than one push per session")
	}
}

func TestResultAdd(t *testing.T) {
	a := &Result{Mode: ModeClosed, Sessions: 10, Commands: 20, Elapsed: time.Second, Latency: NewHistogram(),
		Errors: Errors{Timeout: 1}, Pushed: 4, Hangups: 3, HangupCommands: 2, HangupErrors: Errors{Other: 1}}
	a.Latency.Record(time.Millisecond)
	b := &Result{Mode: ModeClosed, Sessions: 30, Commands: 30, Elapsed: time.Second, Latency: NewHistogram(),
		Errors: Errors{Timeout: 2, Refused: 1}, Pushed: 6, Hangups: 6, HangupCommands: 6}
	b.Latency.Record(3 * time.Millisecond)
	var sum Result
	sum.Add(a)
	sum.Add(b)
	if sum.Mode != ModeClosed || sum.Sessions != 40 || sum.Commands != 50 || sum.Elapsed != 2*time.Second ||
		sum.SessionsPerSecond() != 20 || sum.Errors != (Errors{Timeout: 3, Refused: 1}) ||
		sum.Pushed != 10 || sum.Hangups != 9 || sum.HangupCommands != 8 || sum.HangupErrors != (Errors{Other: 1}) {
		t.Errorf("sum %+v", sum)
	}
	if n := sum.Latency.Summary().Count; n != 2 {
		t.Errorf("latency count %d, want 2", n)
	}
}
