//go:build linux

package asterisktest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProcessesDieWithTheTest runs this test binary as a child that starts
// a process the way the harness starts Asterisk and SIPp, then exits
// without running any Cleanup (as on a -timeout panic or an interrupt):
// the process must not outlive it.
func TestProcessesDieWithTheTest(t *testing.T) {
	if os.Getenv("ASTERISKTEST_ORPHAN_CHILD") == "1" {
		cmd := exec.Command("sleep", "60")
		dieWithTest(cmd)
		if err := cmd.Start(); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString(strconv.Itoa(cmd.Process.Pid) + "\n")
		os.Exit(0)
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep(1) on this machine")
	}
	child := exec.Command(os.Args[0], "-test.run=^TestProcessesDieWithTheTest$")
	child.Env = append(os.Environ(), "ASTERISKTEST_ORPHAN_CHILD=1")
	out, err := child.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("child printed %q, not a PID", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			exec.Command("kill", "-9", strconv.Itoa(pid)).Run()
			t.Fatalf("process %d outlived the test process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting to be reaped does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) STATE ...: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
