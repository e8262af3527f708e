// Package agitest is a fake Asterisk for testing FastAGI servers: it parses
// the .raw session transcripts captured from Asterisk 22, dials a server as
// Asterisk does, sends an environment block and answers the server's
// commands, either by replaying a transcript or with a responder that
// mimics Asterisk 22's replies.
package agitest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Transcript is one recorded FastAGI session.
type Transcript struct {
	// Env holds the environment lines ("agi_key: value") in order, without
	// the empty line that ends the block.
	Env []string
	// Exchanges are the commands the server sent and Asterisk's replies.
	Exchanges []Exchange
	// TrailingHangup is set when Asterisk sent HANGUP after the last reply.
	TrailingHangup bool
}

// Exchange is one command and its reply.
type Exchange struct {
	Command string   // the command line, without ">>> "
	Reply   []string // the reply lines, HANGUP lines excluded
	// HangupBefore is set when an unsolicited HANGUP arrived while the
	// session was idle, before this command was sent.
	HangupBefore bool
	// HangupMid is set when HANGUP arrived after this command was sent and
	// before its reply.
	HangupMid bool
}

// LoadTranscript reads the transcript file at path.
func LoadTranscript(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load transcript: %w", err)
	}
	defer f.Close()
	tr, err := ParseTranscript(f)
	if err != nil {
		return nil, fmt.Errorf("load transcript %s: %w", path, err)
	}
	return tr, nil
}

// ParseTranscript reads the .raw format: the environment block ended by an
// empty line, then ">>> COMMAND" lines each followed by the reply line(s),
// with unsolicited "HANGUP" lines where Asterisk sent them.
func ParseTranscript(r io.Reader) (*Transcript, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	t := &Transcript{}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			break
		}
		if !strings.HasPrefix(line, "agi_") || !strings.Contains(line, ":") {
			return nil, fmt.Errorf("parse transcript: line %d: environment line %q is not agi_<key>: <value>", n, line)
		}
		t.Env = append(t.Env, line)
	}
	if len(t.Env) == 0 {
		return nil, errors.New("parse transcript: no environment block")
	}
	var cur *Exchange
	hangup := false
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ">>> "):
			if cur != nil && len(cur.Reply) == 0 {
				return nil, fmt.Errorf("parse transcript: line %d: command %q has no reply", n, cur.Command)
			}
			t.Exchanges = append(t.Exchanges, Exchange{Command: line[4:], HangupBefore: hangup})
			cur = &t.Exchanges[len(t.Exchanges)-1]
			hangup = false
		case line == "HANGUP":
			if cur != nil && len(cur.Reply) == 0 {
				cur.HangupMid = true
			} else {
				hangup = true
			}
		case cur == nil:
			return nil, fmt.Errorf("parse transcript: line %d: reply %q before any command", n, line)
		default:
			cur.Reply = append(cur.Reply, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse transcript: %w", err)
	}
	if cur != nil && len(cur.Reply) == 0 {
		return nil, fmt.Errorf("parse transcript: command %q has no reply", cur.Command)
	}
	t.TrailingHangup = hangup
	return t, nil
}

// EnvMap returns the environment as a map keyed by the full key
// ("agi_channel").
func (t *Transcript) EnvMap() map[string]string {
	m := make(map[string]string, len(t.Env))
	for _, line := range t.Env {
		k, v, _ := strings.Cut(line, ":")
		m[k] = strings.TrimPrefix(v, " ")
	}
	return m
}

// EnvBlock returns the environment block as Asterisk sends it, ended by
// the empty line, with the values of the keys in overrides (full keys such
// as "agi_network_script") replaced; override keys the transcript lacks are
// added, in sorted order, before the empty line.
func (t *Transcript) EnvBlock(overrides map[string]string) []byte {
	var b strings.Builder
	seen := make(map[string]bool, len(overrides))
	for _, line := range t.Env {
		k, _, _ := strings.Cut(line, ":")
		if v, ok := overrides[k]; ok {
			seen[k] = true
			fmt.Fprintf(&b, "%s: %s\n", k, v)
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var extra []string
	for k := range overrides {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		fmt.Fprintf(&b, "%s: %s\n", k, overrides[k])
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// Commands returns the command lines of the transcript in order.
func (t *Transcript) Commands() []string {
	cmds := make([]string, len(t.Exchanges))
	for i, e := range t.Exchanges {
		cmds[i] = e.Command
	}
	return cmds
}
