package ami

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeAMI is an AMI server on loopback: it sends the banner, then answers
// each action with respond (nil: no answer at all).
type fakeAMI struct {
	ln      net.Listener
	banner  string
	respond func(action Message, w *bufio.Writer)
}

// hangUp, as a respond function's first write, makes the fake close the
// connection after writing the rest.
const hangUp = "\x00hangup"

func startFake(t *testing.T, respond func(Message, *bufio.Writer), banner ...string) *fakeAMI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAMI{ln: ln, banner: "Asterisk Call Manager/9.0.0", respond: respond}
	if len(banner) > 0 {
		f.banner = banner[0]
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return f
}

func (f *fakeAMI) serve(conn net.Conn) {
	defer conn.Close()
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s\r\n", f.banner)
	w.Flush()
	r := bufio.NewReader(conn)
	for {
		m, err := readMessage(r)
		if err != nil {
			return
		}
		if f.respond != nil {
			var out strings.Builder
			bw := bufio.NewWriter(&out)
			f.respond(m, bw)
			bw.Flush()
			text, closeAfter := strings.CutPrefix(out.String(), hangUp)
			w.WriteString(text)
			if w.Flush() != nil || closeAfter {
				return
			}
		}
	}
}

func reply(w *bufio.Writer, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(w, "%s: %s\r\n", kv[i], kv[i+1])
	}
	w.WriteString("\r\n")
}

// asterisk answers like Asterisk 22: Login checks the secret; Originate
// emits a UserEvent before its response.
func asterisk(m Message, w *bufio.Writer) {
	id := m.Get("ActionID")
	switch m.Get("Action") {
	case "Login":
		if m.Get("Secret") != "s3cret" {
			reply(w, "Response", "Error", "ActionID", id, "Message", "Authentication failed")
			return
		}
		reply(w, "Response", "Success", "ActionID", id, "Message", "Authentication accepted")
		reply(w, "Event", "FullyBooted", "Privilege", "system,all", "Status", "Fully Booted")
	case "Originate":
		vars := []string{}
		for _, f := range m.Fields {
			if f.Key == "Variable" {
				vars = append(vars, f.Value)
			}
		}
		reply(w, "Event", "UserEvent", "UserEvent", "RecgateTestcall", "Channel", m.Get("Channel"), "Vars", strings.Join(vars, ";"))
		reply(w, "Response", "Success", "ActionID", id, "Message", "Originate successfully queued")
	case "Logoff":
		reply(w, "Response", "Goodbye", "ActionID", id, "Message", "Thanks for all the fish.")
	default:
		reply(w, "Response", "Error", "ActionID", id, "Message", "Invalid/unknown command")
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestLoginOriginateEvents(t *testing.T) {
	f := startFake(t, asterisk)
	c, err := Dial(ctxT(t, 2*time.Second), f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Banner() != "Asterisk Call Manager/9.0.0" {
		t.Errorf("banner %q", c.Banner())
	}
	if err := c.Login(ctxT(t, 2*time.Second), "recgate", "s3cret"); err != nil {
		t.Fatal(err)
	}
	act := NewMessage("Action", "Originate", "Channel", "Local/1001@recgate-testcall-phone/n")
	act.Add("Variable", "__A=1")
	act.Add("Variable", "__B=2")
	resp, err := c.Action(ctxT(t, 2*time.Second), act)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get("message") != "Originate successfully queued" {
		t.Errorf("response %v", resp)
	}
	var got []string
	timeout := time.After(2 * time.Second)
	for len(got) < 2 {
		select {
		case ev := <-c.Events():
			got = append(got, ev.Get("Event")+"/"+ev.Get("Vars"))
		case <-timeout:
			t.Fatalf("events so far %v", got)
		}
	}
	if want := []string{"FullyBooted/", "UserEvent/__A=1;__B=2"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("events %v, want %v", got, want)
	}
	if err := c.Logoff(ctxT(t, 2*time.Second)); err != nil {
		t.Errorf("logoff: %v", err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		respond func(Message, *bufio.Writer)
		banner  string
		dialErr string
		err     func(error) bool
	}{
		{"bad secret", asterisk, "", "", func(err error) bool {
			var e *Error
			return errors.As(err, &e) && e.Message == "Authentication failed"
		}},
		{"no response", func(Message, *bufio.Writer) {}, "", "", func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded)
		}},
		{"connection dropped", func(_ Message, w *bufio.Writer) { w.WriteString(hangUp + "Response: Succ") }, "", "", func(err error) bool {
			return err != nil && !errors.Is(err, context.DeadlineExceeded)
		}},
		{"not AMI", asterisk, "SSH-2.0-OpenSSH_9.2", "not an AMI server", nil},
		{"over-long line", func(_ Message, w *bufio.Writer) { w.WriteString(strings.Repeat("x", 2*maxLine)) }, "", "", func(err error) bool {
			return err != nil && !errors.Is(err, context.DeadlineExceeded)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			banner := []string{}
			if tt.banner != "" {
				banner = append(banner, tt.banner)
			}
			f := startFake(t, tt.respond, banner...)
			c, err := Dial(ctxT(t, 2*time.Second), f.ln.Addr().String())
			if tt.dialErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.dialErr) {
					t.Fatalf("dial error %v, want %q", err, tt.dialErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Login(ctxT(t, 300*time.Millisecond), "recgate", "wrong")
			if !tt.err(err) {
				t.Errorf("unexpected error %v", err)
			}
		})
	}
}

func TestDialStalledServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			defer conn.Close()
			time.Sleep(2 * time.Second) // never sends the banner
		}
	}()
	start := time.Now()
	if _, err := Dial(ctxT(t, 200*time.Millisecond), ln.Addr().String()); err == nil {
		t.Fatal("dial to a silent server succeeded")
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("dial took %s past its deadline", time.Since(start))
	}
}

func TestActionRefusesInjection(t *testing.T) {
	f := startFake(t, asterisk)
	c, err := Dial(ctxT(t, 2*time.Second), f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Action(ctxT(t, time.Second), NewMessage("Action", "Originate", "Channel", "x\r\nAction: Command"))
	if err == nil {
		t.Fatal("a value with CR LF was sent")
	}
	if _, err := c.Action(ctxT(t, time.Second), NewMessage("Channel", "x")); err == nil {
		t.Fatal("an action without Action was sent")
	}
}

func TestCloseFailsPending(t *testing.T) {
	f := startFake(t, func(Message, *bufio.Writer) {})
	c, err := Dial(ctxT(t, 2*time.Second), f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Action(ctxT(t, 5*time.Second), NewMessage("Action", "Ping"))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("pending action: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending action not failed by Close")
	}
	if _, ok := <-c.Events(); ok {
		t.Error("events channel open after Close")
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add("Response: Success\r\nActionID: 1\r\n\r\n")
	f.Add("Event: UserEvent\r\nUserEvent: X\r\nno colon here\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := readMessage(bufio.NewReader(strings.NewReader(s)))
		if err == nil && len(m.Fields) == 0 {
			t.Fatal("empty message without error")
		}
	})
}
