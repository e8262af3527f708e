//go:build linux

package asterisktest

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes cmd's process receive SIGKILL when the test process
// ends, however it ends: a go test -timeout panic or an interrupt runs no
// Cleanup, and an Asterisk or SIPp left behind would hold its ports.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
