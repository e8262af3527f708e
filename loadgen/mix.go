package loadgen

import (
	"fmt"
	"math/big"
	"strings"
)

// maxMixSessions bounds Mix.Sessions so that the arithmetic in commands
// stays within int64: (Sessions)·(64·Sessions) < 2^63.
const maxMixSessions = 100_000_000

// Mix is the number of commands the bare responder sends, as an exact
// fraction: Commands commands over every Sessions consecutive sessions,
// spread evenly. Session i sends floor((i+1)·C/S) − floor(i·C/S), so any
// run of S consecutive sessions sends exactly C commands whatever came
// before it (a warm-up, say). A fraction in floating point would not: the
// bare run could send one command fewer than the recgate run it is
// compared with.
type Mix struct {
	Commands int64
	Sessions int64
}

// MixOf returns the mix of a run that sent commands over sessions,
// reduced so that its arithmetic stays in range.
func MixOf(commands, sessions int64) (Mix, error) {
	if sessions <= 0 || commands < 0 {
		return Mix{}, fmt.Errorf("commands per session %d/%d: want a positive number of sessions", commands, sessions)
	}
	g := gcd(commands, sessions)
	m := Mix{Commands: commands / g, Sessions: sessions / g}
	if m.Sessions > maxMixSessions {
		// Too fine a fraction for exact spreading; the nearest one with
		// a bounded denominator is as like-for-like as a run can tell.
		return ParseMix(fmt.Sprintf("%.6f", float64(commands)/float64(sessions)))
	}
	if err := m.validate(); err != nil {
		return Mix{}, err
	}
	return m, nil
}

// ParseMix reads a mix written as an integer ("3"), a decimal ("2.01",
// read exactly as 201/100) or a fraction ("402/200").
func ParseMix(s string) (Mix, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return Mix{}, fmt.Errorf("commands per session %q: want a number such as 3, 2.5 or 402/200", s)
	}
	if !r.Num().IsInt64() || !r.Denom().IsInt64() || r.Denom().Int64() > maxMixSessions {
		return Mix{}, fmt.Errorf("commands per session %q: too fine a fraction", s)
	}
	m := Mix{Commands: r.Num().Int64(), Sessions: r.Denom().Int64()}
	if err := m.validate(); err != nil {
		return Mix{}, err
	}
	return m, nil
}

// String writes the mix as ParseMix reads it.
func (m Mix) String() string {
	if m.Sessions == 1 {
		return fmt.Sprint(m.Commands)
	}
	return fmt.Sprintf("%d/%d", m.Commands, m.Sessions)
}

// PerSession is the mean number of commands per session.
func (m Mix) PerSession() float64 {
	if m.Sessions == 0 {
		return 0
	}
	return float64(m.Commands) / float64(m.Sessions)
}

func (m Mix) validate() error {
	if m.Sessions <= 0 || m.Sessions > maxMixSessions || m.Commands < 0 || m.Commands > defaultMaxCommands*m.Sessions {
		return fmt.Errorf("commands per session %d/%d: want 0..%d with 1..%d sessions", m.Commands, m.Sessions, defaultMaxCommands, maxMixSessions)
	}
	return nil
}

// commands is how many commands session i (counted from 0) sends.
func (m Mix) commands(i int64) int {
	j := i % m.Sessions // the pattern repeats every Sessions sessions
	return int((j+1)*m.Commands/m.Sessions - j*m.Commands/m.Sessions)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}
