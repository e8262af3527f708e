package loadgen

import (
	"fmt"
	"net"
	"net/url"
	"syscall"
)

// CheckLoopback returns an error unless addr ("host:port") names a loopback
// address: an IP literal in 127.0.0.0/8 or ::1, or "localhost". Host names
// are not resolved: traffic elsewhere is forbidden, so nothing is guessed.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("check target %q: %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("check target %q: missing port", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("check target %q: give a loopback IP address (127.0.0.1 or ::1), not a host name", addr)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("check target %q: not a loopback address; load is only ever sent to this machine's loopback", addr)
	}
	return nil
}

// CheckLoopbackURL is CheckLoopback for an http(s) URL such as a metrics
// endpoint.
func CheckLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("check url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("check url %q: scheme must be http or https", raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return CheckLoopback(net.JoinHostPort(u.Hostname(), port))
}

// loopbackDialer returns a dialer that refuses, after name resolution and
// before the connection is made, any remote address that is not loopback.
func loopbackDialer() *net.Dialer {
	return &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("dial %s: not a loopback address", address)
		}
		return nil
	}}
}
