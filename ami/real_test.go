package ami

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/recgate/recgate/internal/asterisktest"
)

// TestRealAsterisk logs in to a real Asterisk 22 with the account of
// dialplan-examples/manager.conf, is refused what that account may not do,
// originates a call and receives the UserEvent the dialplan sends.
func TestRealAsterisk(t *testing.T) {
	lab := asterisktest.FindLab(t)
	closed, err := asterisktest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens at recgate's address: the call fails open, which is
	// all this test needs from the dialplan.
	pbx := asterisktest.Start(t, lab, asterisktest.Options{RecgateAGI: fmt.Sprintf("127.0.0.1:%d", closed)})

	c, err := Dial(ctxT(t, 5*time.Second), pbx.AMIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var e *Error
	if err := c.Login(ctxT(t, 5*time.Second), pbx.AMIUser, "wrong"); !errors.As(err, &e) {
		t.Fatalf("login with a wrong secret: %v, want an AMI error", err)
	}

	c, err = Dial(ctxT(t, 5*time.Second), pbx.AMIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(ctxT(t, 5*time.Second), pbx.AMIUser, pbx.AMISecret); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action(ctxT(t, 5*time.Second), NewMessage("Action", "Command", "Command", "core show version")); !errors.As(err, &e) {
		t.Errorf("Command with an originate-only account: %v, want refused", err)
	}
	orig := NewMessage("Action", "Originate", "Channel", "Local/1003@recgate-testcall-phone/n",
		"Context", "recgate-testcall", "Exten", "outbound", "Priority", "1", "Async", "false", "Timeout", "5000")
	orig.Add("Variable", "__RECGATE_TESTCALL=ami-test")
	orig.Add("Variable", "__RECGATE_TESTCALL_STATION=1003")
	orig.Add("Variable", "__RECGATE_TESTCALL_PRESS=no")
	orig.Add("Variable", "__RECGATE_TESTCALL_SECONDS=2")
	if _, err := c.Action(ctxT(t, 10*time.Second), orig); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Get("UserEvent") == "RecgateTestcall" {
				if ev.Get("TestID") != "ami-test" || ev.Get("Failopen") != "off" {
					t.Errorf("event %v", ev)
				}
				return
			}
		case <-timeout:
			t.Fatal("no RecgateTestcall event")
		}
	}
}
