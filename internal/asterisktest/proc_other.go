//go:build !linux

package asterisktest

import "os/exec"

// dieWithTest does nothing where the kernel cannot tie a child's life to
// its parent's; Cleanup still stops it by its PID.
func dieWithTest(*exec.Cmd) {}
