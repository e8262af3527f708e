package agi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits on what a peer may send. Asterisk 22's res_agi sends 22 fixed
// lines (about 700 bytes; channel names are at most 80 bytes, uniqueids
// 150) plus one agi_arg_N line per AGI() argument; the longest line is
// agi_request or agi_network_script, the AGI() URL the dialplan wrote.
// Anything far beyond these is hostile or broken, and a block is held in
// memory while its session runs.
const (
	maxEnvLineLen = 2 << 10  // bytes in one environment line: res_agi's own command buffer
	maxEnvBytes   = 16 << 10 // bytes in the whole environment block
	maxEnvLines   = 22 + 128 // the fixed lines and at most res_agi's MAX_ARGS arguments
	maxReplyLen   = 8 << 10  // bytes in one reply line (a GET VARIABLE value)
	maxArgs       = 64       // agi_arg_N values
	maxParams     = 64       // key=value pairs in the request query
)

// Request is the AGI environment Asterisk sends when a session starts.
//
// The named fields mirror the agi_* keys Asterisk 22 sends; Env holds every
// key (without the agi_ prefix), including ones this struct does not name.
type Request struct {
	Env map[string]string // every agi_* key, without the prefix

	Channel      string // agi_channel, e.g. PJSIP/1001-0000002a
	UniqueID     string // agi_uniqueid
	CallerID     string // agi_callerid ("unknown" when absent)
	CallerIDName string // agi_calleridname ("unknown" when absent)
	DNID         string // agi_dnid
	RDNIS        string // agi_rdnis
	Context      string // agi_context
	Extension    string // agi_extension
	Priority     string // agi_priority
	Type         string // agi_type, the channel technology (PJSIP, Local…)
	Language     string // agi_language
	Version      string // agi_version, the Asterisk version
	AccountCode  string // agi_accountcode
	URL          string // agi_request, e.g. agi://127.0.0.1:4573/decide?x=1

	// Script is the request path: agi_network_script without its query
	// and without a leading '/', e.g. "decide".
	Script string
	// Args are agi_arg_1..agi_arg_N in order.
	Args []string

	params []param // the query of agi_network_script, decoded
}

type param struct{ key, value string }

// Param returns the named request argument, or "" when it is absent.
//
// It looks first in the URL query of agi_network_script
// (decide?direction=outbound&queue=sales, %-decoded, '+' as space) and then
// in the AGI arguments of the form key=value (agi_arg_N, taken literally).
// The query wins when both name the same key; within each source the first
// occurrence wins.
func (r *Request) Param(name string) string {
	if v, ok := r.lookupParam(name); ok {
		return v
	}
	return ""
}

// LookupParam is Param that also reports whether the argument was given.
func (r *Request) LookupParam(name string) (string, bool) {
	return r.lookupParam(name)
}

func (r *Request) lookupParam(name string) (string, bool) {
	for _, p := range r.params {
		if p.key == name {
			return p.value, true
		}
	}
	for _, a := range r.Args {
		k, v, ok := strings.Cut(a, "=")
		if ok && k == name {
			return v, true
		}
	}
	return "", false
}

// readRequest reads and parses the environment block from br: lines of the
// form "agi_<key>: <value>" ended by an empty line. Every limit violation or
// malformed line is an error wrapping ErrMalformed; a peer that goes away
// gives an error wrapping ErrClosed.
func readRequest(br *bufio.Reader) (*Request, error) {
	// The block is gathered first and converted to one string, so every
	// key and value below is a substring of it: one allocation for the
	// whole environment instead of two per line.
	var blockBuf [2048]byte
	var endsBuf [48]int
	block, ends := blockBuf[:0], endsBuf[:0]
	for n := 0; ; n++ {
		line, err := readLine(br, maxEnvLineLen)
		if err != nil {
			return nil, fmt.Errorf("read environment: %w", err)
		}
		if len(line) == 0 {
			if n == 0 {
				return nil, fmt.Errorf("read environment: %w: empty environment block", ErrMalformed)
			}
			break
		}
		if n >= maxEnvLines {
			return nil, fmt.Errorf("read environment: %w: more than %d lines", ErrMalformed, maxEnvLines)
		}
		// Refuse what is plainly not AGI (an HTTP request, binary) at
		// once; the full check of each line follows below.
		if !bytes.HasPrefix(line, []byte("agi_")) || bytes.IndexByte(line, ':') < 0 {
			_, _, err := splitEnvLine(string(line))
			return nil, fmt.Errorf("read environment line %d: %w", n+1, err)
		}
		if len(block)+len(line) > maxEnvBytes {
			return nil, fmt.Errorf("read environment: %w: more than %d bytes", ErrMalformed, maxEnvBytes)
		}
		block = append(block, line...)
		ends = append(ends, len(block))
	}
	text := string(block)
	env := make(map[string]string, len(ends))
	var args []string
	for i, start := 0, 0; i < len(ends); i++ {
		line := text[start:ends[i]]
		start = ends[i]
		key, value, err := splitEnvLine(line)
		if err != nil {
			return nil, fmt.Errorf("read environment line %d: %w", i+1, err)
		}
		if _, dup := env[key]; dup {
			return nil, fmt.Errorf("read environment line %d: %w: duplicate key %q", i+1, ErrMalformed, key)
		}
		env[key] = value
		if num, ok := strings.CutPrefix(key, "arg_"); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n != len(args)+1 {
				return nil, fmt.Errorf("read environment line %d: %w: argument %q out of order", i+1, ErrMalformed, key)
			}
			if n > maxArgs {
				return nil, fmt.Errorf("read environment: %w: more than %d arguments", ErrMalformed, maxArgs)
			}
			args = append(args, value)
		}
	}
	script, params, err := parseScript(env["network_script"])
	if err != nil {
		return nil, fmt.Errorf("read environment: %w", err)
	}
	return &Request{
		Env:          env,
		Channel:      env["channel"],
		UniqueID:     env["uniqueid"],
		CallerID:     env["callerid"],
		CallerIDName: env["calleridname"],
		DNID:         env["dnid"],
		RDNIS:        env["rdnis"],
		Context:      env["context"],
		Extension:    env["extension"],
		Priority:     env["priority"],
		Type:         env["type"],
		Language:     env["language"],
		Version:      env["version"],
		AccountCode:  env["accountcode"],
		URL:          env["request"],
		Script:       script,
		Args:         args,
		params:       params,
	}, nil
}

// splitEnvLine splits "agi_<key>: <value>". Keys are ASCII letters, digits
// and '_'; values may hold any byte but control characters (tab allowed).
func splitEnvLine(line string) (key, value string, err error) {
	rest, ok := strings.CutPrefix(line, "agi_")
	if !ok {
		return "", "", fmt.Errorf("%w: line does not start with agi_", ErrMalformed)
	}
	k, v, ok := strings.Cut(rest, ":")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%w: line is not agi_<key>: <value>", ErrMalformed)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return "", "", fmt.Errorf("%w: bad character in key %q", ErrMalformed, k)
		}
	}
	if v != "" {
		if v[0] != ' ' {
			return "", "", fmt.Errorf("%w: no space after ':' in key %q", ErrMalformed, k)
		}
		v = v[1:]
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return "", "", fmt.Errorf("%w: control character in value of %q", ErrMalformed, k)
		}
	}
	return k, v, nil
}

// readLine returns the next line from br without its "\n" or "\r\n". The
// slice is valid until the next read. Lines over max bytes are an error
// wrapping ErrMalformed; EOF or a reset, even mid-line, wraps ErrClosed.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= max {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > max {
		return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, max)
	}
	if err != nil {
		return nil, ioError(err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// ioError classifies a read or write error: the peer going away wraps
// ErrClosed, an expired deadline wraps ErrTimeout.
func ioError(err error) error {
	switch {
	case isTimeout(err):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrClosed
	default:
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
}

// parseScript splits agi_network_script ("decide?direction=outbound") into
// the path without a leading '/' and its decoded query parameters.
// Parameters with an invalid %-escape are an error wrapping ErrMalformed.
func parseScript(s string) (string, []param, error) {
	s = strings.TrimPrefix(s, "/")
	path, query, _ := strings.Cut(s, "?")
	var params []param
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" {
			continue
		}
		if len(params) == maxParams {
			return "", nil, fmt.Errorf("request query: %w: more than %d parameters", ErrMalformed, maxParams)
		}
		k, v, _ := strings.Cut(pair, "=")
		key, ok1 := unescapeQuery(k)
		value, ok2 := unescapeQuery(v)
		if !ok1 || !ok2 {
			return "", nil, fmt.Errorf("request query: %w: bad %%-escape in %q", ErrMalformed, pair)
		}
		params = append(params, param{key, value})
	}
	return path, params, nil
}

// unescapeQuery decodes %XX escapes and '+' as in
// application/x-www-form-urlencoded. It allocates only when s has escapes.
func unescapeQuery(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			b.WriteByte(hi<<4 | lo)
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
