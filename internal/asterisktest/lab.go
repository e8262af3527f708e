// Package asterisktest runs a real Asterisk (and SIPp phones) for tests:
// the lab in ../shared/asterisk-lab, found through RECGATE_ASTERISK_LAB,
// started in a temporary directory on free loopback ports with the
// project's dialplan-examples/ loaded as shipped (only the documented
// knobs substituted). Every process it starts is stopped by its PID and
// every directory it makes is removed when the test ends, failed or not.
package asterisktest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// LabEnv names the environment variable that points at the lab.
const LabEnv = "RECGATE_ASTERISK_LAB"

// RequireAllEnv, set to 1, turns every "missing outside program" skip
// into a failure (CI sets it).
const RequireAllEnv = "RECGATE_TEST_REQUIRE_ALL"

// Lab is an unpacked Asterisk 22 + SIPp folder (see its README).
type Lab struct {
	Dir string
}

// Asterisk is the daemon's path.
func (l *Lab) Asterisk() string { return filepath.Join(l.Dir, "sbin", "asterisk") }

// SIPp is SIPp's path.
func (l *Lab) SIPp() string { return filepath.Join(l.Dir, "bin", "sipp") }

// Modules is Asterisk's module directory.
func (l *Lab) Modules() string { return filepath.Join(l.Dir, "lib", "asterisk", "modules") }

// Documentation is the XML documentation Asterisk needs to start.
func (l *Lab) Documentation() string {
	return filepath.Join(l.Dir, "var", "lib", "asterisk", "documentation")
}

// PCAP is a file of share/sipp/pcap (g711a.pcap, dtmf_2833_star.pcap, ...).
func (l *Lab) PCAP(name string) string { return filepath.Join(l.Dir, "share", "sipp", "pcap", name) }

// FindLab returns the lab named by RECGATE_ASTERISK_LAB. When it is unset
// or not a lab the test is skipped with one line saying how to get it, or
// fails when RECGATE_TEST_REQUIRE_ALL=1.
func FindLab(tb testing.TB) *Lab {
	tb.Helper()
	lab, why := LookupLab()
	if lab == nil {
		Missing(tb, why)
	}
	return lab
}

// LookupLab is FindLab without a test: the lab, or why there is none.
func LookupLab() (*Lab, string) {
	dir := os.Getenv(LabEnv)
	if dir == "" {
		return nil, "no Asterisk lab: set " + LabEnv + " to ../shared/asterisk-lab (absolute path) to run the PBX tests"
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "no Asterisk lab: " + err.Error()
	}
	l := &Lab{Dir: abs}
	for _, p := range []string{l.Asterisk(), l.SIPp(), l.Documentation()} {
		if _, err := os.Stat(p); err != nil {
			return nil, "no Asterisk lab at " + LabEnv + "=" + dir + ": " + err.Error()
		}
	}
	if out, err := exec.Command(l.SIPp(), "-v").CombinedOutput(); err != nil && !strings.Contains(string(out), "SIPp v") {
		return nil, "SIPp of the Asterisk lab does not run (apt-get install -y libpcap0.8): " + strings.TrimSpace(string(out))
	}
	return l, ""
}

// Missing skips the test with why, or fails it when RECGATE_TEST_REQUIRE_ALL=1.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(RequireAllEnv) == "1" {
		tb.Fatal(why + " (" + RequireAllEnv + "=1)")
	}
	tb.Skip(why)
}
