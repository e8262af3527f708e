// Package ami is a small client for the Asterisk Manager Interface (AMI):
// connect, log in, send actions and read their responses, receive events.
// It is what `recgate testcall` needs (Login, Originate, UserEvent) and no
// more. Every network operation is bounded by a context or a deadline.
//
// AMI speaks lines of "Key: Value" over TCP, a message ending with an
// empty line; a response carries the ActionID of its action, events carry
// "Event". See https://docs.asterisk.org/Configuration/Interfaces/Asterisk-Manager-Interface-AMI/.
package ami

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Message is one AMI message: its headers in order (a key may repeat, as
// Originate's Variable does).
type Message struct {
	Fields []Field
}

// Field is one "Key: Value" line.
type Field struct {
	Key, Value string
}

// NewMessage builds a message from key, value pairs.
func NewMessage(kv ...string) Message {
	var m Message
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// Add appends a field.
func (m *Message) Add(key, value string) { m.Fields = append(m.Fields, Field{key, value}) }

// Get returns the first value of key (case-insensitive), or "".
func (m Message) Get(key string) string {
	for _, f := range m.Fields {
		if strings.EqualFold(f.Key, key) {
			return f.Value
		}
	}
	return ""
}

// String renders the message as "Key: Value" lines for logs.
func (m Message) String() string {
	var b strings.Builder
	for _, f := range m.Fields {
		fmt.Fprintf(&b, "%s: %s\n", f.Key, f.Value)
	}
	return b.String()
}

// Error is an action that Asterisk answered with "Response: Error".
type Error struct {
	Action  string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ami %s: %s", e.Action, e.Message) }

// ErrClosed is returned for actions on a closed or broken connection.
var ErrClosed = errors.New("ami: connection closed")

// Limits on what the server may send.
const (
	maxLine   = 64 << 10
	maxFields = 1000
	// EventBuffer is how many unread events a client keeps; past it new
	// events are dropped (Dropped counts them).
	EventBuffer = 1024
)

// Client is one AMI connection. Its methods are safe for concurrent use.
type Client struct {
	conn    net.Conn
	banner  string
	events  chan Message
	dropped atomic.Int64
	nextID  atomic.Int64

	writeMu sync.Mutex
	mu      sync.Mutex
	pending map[string]chan Message
	err     error // why the read loop ended
	done    chan struct{}
}

// Dial connects to the AMI at addr (host:port) and reads its banner
// ("Asterisk Call Manager/x.y.z"), within ctx.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ami dial: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	r := bufio.NewReaderSize(conn, 4096)
	banner, err := readLine(r)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ami dial %s: banner: %w", addr, err)
	}
	if !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		conn.Close()
		return nil, fmt.Errorf("ami dial %s: not an AMI server (banner %q)", addr, banner)
	}
	conn.SetReadDeadline(time.Time{})
	c := &Client{
		conn:    conn,
		banner:  banner,
		events:  make(chan Message, EventBuffer),
		pending: map[string]chan Message{},
		done:    make(chan struct{}),
	}
	go c.readLoop(r)
	return c, nil
}

// Banner is the server's greeting, e.g. "Asterisk Call Manager/9.0.0".
func (c *Client) Banner() string { return c.banner }

// Events delivers the events the server sends; it is closed when the
// connection ends.
func (c *Client) Events() <-chan Message { return c.events }

// Dropped is the number of events dropped because Events was not read.
func (c *Client) Dropped() int64 { return c.dropped.Load() }

// Login authenticates with a plain secret (use AMI over loopback or a
// private network only).
func (c *Client) Login(ctx context.Context, username, secret string) error {
	_, err := c.Action(ctx, NewMessage("Action", "Login", "Username", username, "Secret", secret, "Events", "on"))
	return err
}

// Logoff ends the session politely; Close is still needed.
func (c *Client) Logoff(ctx context.Context) error {
	_, err := c.Action(ctx, NewMessage("Action", "Logoff"))
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// Action sends action (which must have an "Action" field; an ActionID is
// added) and returns its response. A "Response: Error" is returned as an
// *Error. ctx bounds the write and the wait for the response.
func (c *Client) Action(ctx context.Context, action Message) (Message, error) {
	name := action.Get("Action")
	if name == "" {
		return Message{}, errors.New("ami: action without an Action field")
	}
	id := "recgate-" + strconv.FormatInt(c.nextID.Add(1), 10)
	ch := make(chan Message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Message{}, fmt.Errorf("ami %s: %w", name, err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	var b strings.Builder
	for _, f := range action.Fields {
		if strings.EqualFold(f.Key, "ActionID") {
			continue
		}
		if strings.ContainsAny(f.Key+f.Value, "\r\n") || strings.ContainsRune(f.Key, ':') {
			return Message{}, fmt.Errorf("ami %s: field %q: line breaks and ':' in keys are not allowed", name, f.Key)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", f.Key, f.Value)
	}
	fmt.Fprintf(&b, "ActionID: %s\r\n\r\n", id)
	if err := c.write(ctx, b.String()); err != nil {
		return Message{}, fmt.Errorf("ami %s: %w", name, err)
	}
	select {
	case resp := <-ch:
		if strings.EqualFold(resp.Get("Response"), "Error") {
			return resp, &Error{Action: name, Message: resp.Get("Message")}
		}
		return resp, nil
	case <-c.done:
		return Message{}, fmt.Errorf("ami %s: %w", name, c.closeErr())
	case <-ctx.Done():
		return Message{}, fmt.Errorf("ami %s: no response: %w", name, ctx.Err())
	}
}

func (c *Client) write(ctx context.Context, s string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(10 * time.Second)
	}
	c.conn.SetWriteDeadline(dl)
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// Close closes the connection; pending actions fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	err := c.conn.Close()
	<-c.done
	return err
}

func (c *Client) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail records why the connection is unusable (the first reason wins).
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
		c.err = err
	}
	c.mu.Unlock()
}

func (c *Client) readLoop(r *bufio.Reader) {
	defer close(c.done)
	defer close(c.events)
	for {
		m, err := readMessage(r)
		if err != nil {
			c.fail(err)
			c.conn.Close()
			return
		}
		if id := m.Get("ActionID"); id != "" && m.Get("Event") == "" {
			c.mu.Lock()
			ch := c.pending[id]
			c.mu.Unlock()
			if ch != nil {
				ch <- m // buffered 1, one response per action
			}
			continue
		}
		if m.Get("Event") != "" {
			select {
			case c.events <- m:
			default:
				c.dropped.Add(1)
			}
		}
	}
}

// readMessage reads one message: lines up to an empty line.
func readMessage(r *bufio.Reader) (Message, error) {
	var m Message
	for {
		line, err := readLine(r)
		if err != nil {
			return m, err
		}
		if line == "" {
			if len(m.Fields) == 0 {
				continue // stray blank line between messages
			}
			return m, nil
		}
		if len(m.Fields) >= maxFields {
			return m, fmt.Errorf("ami: message of more than %d lines", maxFields)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			// Command output and the like: keep the line as a value.
			m.Add("", line)
			continue
		}
		m.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}

// readLine reads a line without its CR LF, refusing over-long ones.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", fmt.Errorf("ami: line longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}
