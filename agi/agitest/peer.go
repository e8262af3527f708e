package agitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// Responder returns the reply lines (without "\n") Asterisk sends for the
// command line cmd. A "HANGUP" line among them is sent as it is, which is
// how an unsolicited hangup is injected before a reply.
type Responder func(cmd string) []string

// Peer is the Asterisk side of one FastAGI connection.
type Peer struct {
	conn net.Conn
	br   *bufio.Reader

	mu       sync.Mutex
	commands []string
}

// Dial connects to a FastAGI server as Asterisk does.
func Dial(ctx context.Context, addr string) (*Peer, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &Peer{conn: c, br: bufio.NewReader(c)}, nil
}

// Conn returns the connection, for tests that write raw bytes.
func (p *Peer) Conn() net.Conn { return p.conn }

// Close closes the connection.
func (p *Peer) Close() error { return p.conn.Close() }

// SendEnv writes an environment block such as Transcript.EnvBlock returns.
func (p *Peer) SendEnv(env []byte) error {
	if _, err := p.conn.Write(env); err != nil {
		return fmt.Errorf("send environment: %w", err)
	}
	return nil
}

// Send writes each line followed by "\n", e.g. an unsolicited "HANGUP".
func (p *Peer) Send(lines ...string) error {
	var b []byte
	for _, l := range lines {
		b = append(append(b, l...), '\n')
	}
	if _, err := p.conn.Write(b); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// ReadCommand reads the next command line the server sends and records it.
// It returns io.EOF when the server closed the connection.
func (p *Peer) ReadCommand(ctx context.Context) (string, error) {
	stop := p.watch(ctx)
	defer stop()
	line, err := p.br.ReadString('\n')
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if errors.Is(err, io.EOF) && line == "" {
			return "", io.EOF
		}
		return "", fmt.Errorf("read command: %w", err)
	}
	cmd := line[:len(line)-1]
	p.mu.Lock()
	p.commands = append(p.commands, cmd)
	p.mu.Unlock()
	return cmd, nil
}

// Serve answers every command with respond until the server closes the
// connection (it then returns nil) or ctx is done.
func (p *Peer) Serve(ctx context.Context, respond Responder) error {
	for {
		cmd, err := p.ReadCommand(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.Send(respond(cmd)...); err != nil {
			return err
		}
	}
}

// Commands returns the exact command lines received so far.
func (p *Peer) Commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.commands)
}

// watch makes a blocked read return when ctx is done.
func (p *Peer) watch(ctx context.Context) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		_ = p.conn.SetReadDeadline(d)
	}
	return context.AfterFunc(ctx, func() { _ = p.conn.SetReadDeadline(time.Unix(1, 0)) })
}
