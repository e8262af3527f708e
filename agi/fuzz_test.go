package agi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// transcriptSeeds returns every transcript's environment block and its
// replies (the bytes after the environment).
func transcriptSeeds(f *testing.F) (envs, replies [][]byte) {
	files, _ := filepath.Glob("testdata/transcripts/*.raw")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		env, rest, _ := bytes.Cut(data, []byte("\n\n"))
		envs = append(envs, append(env, "\n\n"...))
		var rep []byte
		for _, line := range strings.Split(string(rest), "\n") {
			if !strings.HasPrefix(line, ">>> ") && line != "" {
				rep = append(rep, line+"\n"...)
			}
		}
		replies = append(replies, rep)
	}
	return envs, replies
}

func FuzzParseEnv(f *testing.F) {
	envs, _ := transcriptSeeds(f)
	for _, e := range envs {
		f.Add(e)
	}
	for _, s := range []string{"", "\n", "a:b\n\n", "agi_:\n\n", "agi_x:\n\n", "agi_x: \x00\n\n",
		"agi_arg_1: a\nagi_arg_3: b\n\n", "agi_network_script: d?%\n\n", "agi_x: y\r\n\r\n",
		"agi_network_script: /a?b=c&&d=%41+x&e\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := readRequest(bufio.NewReaderSize(bytes.NewReader(data), 1024))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrClosed) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrClosed", err)
			}
			return
		}
		if len(req.Env) == 0 || len(req.Env) > maxEnvLines || len(req.Args) > maxArgs || len(req.params) > maxParams {
			t.Fatalf("limits broken: %d keys, %d args, %d params", len(req.Env), len(req.Args), len(req.params))
		}
		for k, v := range req.Env {
			if strings.ContainsAny(k+v, "\n\r\x00") {
				t.Fatalf("control character kept in %q: %q", k, v)
			}
		}
		if strings.HasPrefix(req.Script, "/") || strings.Contains(req.Script, "?") {
			t.Fatalf("Script %q", req.Script)
		}
	})
}

func FuzzParseScript(f *testing.F) {
	for _, s := range []string{"decide", "/decide?direction=outbound&queue=sales", "probe?x=1",
		"decide?dir=inbound-queue", "a?b=%41%42+c", "a?=&=&", "a?%", "a?x=%zz", "a?x=1&x=2", "??&?", "a?b=c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		script, params, err := parseScript(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if strings.HasPrefix(script, "/") && !strings.HasPrefix(s, "//") || strings.Contains(script, "?") {
			t.Fatalf("script %q from %q", script, s)
		}
		if len(params) > maxParams {
			t.Fatalf("%d params", len(params))
		}
		// Differential check against net/url where it accepts the query.
		_, query, _ := strings.Cut(strings.TrimPrefix(s, "/"), "?")
		values, uerr := url.ParseQuery(query)
		if uerr != nil || strings.Contains(query, ";") {
			return
		}
		req := &Request{params: params}
		for k := range values {
			if got, want := req.Param(k), values.Get(k); got != want {
				t.Fatalf("Param(%q) = %q, net/url says %q (query %q)", k, got, want, query)
			}
		}
	})
}

// scriptConn is a net.Conn that discards writes and reads a fixed reply
// stream.
type scriptConn struct {
	net.Conn
	r io.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) Close() error                     { return nil }

// FuzzReplyFilter feeds arbitrary replies to a session: it must never
// panic, never hand zaf/agi more than one line, and fail only with this
// package's errors.
func FuzzReplyFilter(f *testing.F) {
	_, replies := transcriptSeeds(f)
	for _, r := range replies {
		f.Add(r)
	}
	for _, s := range []string{"HANGUP\n200 result=1 (x)\n", "520-a\nb\n520 c\n200 result=0\n", "520-\n", "520 \n",
		"200 result=\n", "200\n", "200 result=1 (a)b)\n", "HANGUP\nHANGUP\n", "\x00\n", "999-x\n", "200 result=-2\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &scriptConn{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(conn, 1024)
		z, err := newZagiConn()
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		s := newSession(conn, br, &Request{}, time.Second, z, ctx.Done())
		for i := 0; i < 100; i++ {
			_, _, err := s.GetVariable(ctx, "X")
			if err == nil || errors.Is(err, ErrInvalidCommand) || errors.Is(err, ErrDeadChannel) || errors.Is(err, ErrUsage) {
				if len(s.wire.pending) != 0 {
					t.Fatalf("reply left %q unread", s.wire.pending)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrClosed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
	})
}
