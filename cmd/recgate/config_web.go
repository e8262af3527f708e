package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// WebConfig configures the HTTP API listener (SPEC 10), apart from the
// metrics listener. An empty listen address turns it off.
type WebConfig struct {
	Listen             string        `mapstructure:"listen"`
	TLSCert            string        `mapstructure:"tls_cert"`
	TLSKey             string        `mapstructure:"tls_key"`
	TrustedProxies     []string      `mapstructure:"trusted_proxies"`
	PublicURL          string        `mapstructure:"public_url"`
	SessionIdleTimeout time.Duration `mapstructure:"session_idle_timeout"`
	SessionMaxAge      time.Duration `mapstructure:"session_max_age"`
}

// DefaultWebConfig is the web section when the file leaves it out: off.
func DefaultWebConfig() WebConfig {
	return WebConfig{
		TrustedProxies:     []string{},
		SessionIdleTimeout: 30 * time.Minute,
		SessionMaxAge:      12 * time.Hour,
	}
}

func setWebDefaults(v *viper.Viper, c WebConfig) {
	v.SetDefault("web.listen", c.Listen)
	v.SetDefault("web.tls_cert", c.TLSCert)
	v.SetDefault("web.tls_key", c.TLSKey)
	v.SetDefault("web.trusted_proxies", c.TrustedProxies)
	v.SetDefault("web.public_url", c.PublicURL)
	v.SetDefault("web.session_idle_timeout", c.SessionIdleTimeout)
	v.SetDefault("web.session_max_age", c.SessionMaxAge)
}

// Validate checks the web section, naming the key of the first bad value.
func (c *WebConfig) Validate() error {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("web.listen %q: %w", c.Listen, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("web.tls_cert and web.tls_key must be set together (or both left empty for plain HTTP)")
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("web.public_url %q: an absolute http(s) URL like https://recgate.example.com", c.PublicURL)
		}
	}
	switch {
	case c.SessionIdleTimeout < minSessionIdle:
		// The store records a session's last use at most once a minute: a
		// shorter idle timeout would end sessions that are in use.
		return fmt.Errorf("web.session_idle_timeout must be at least 2m (a session's last use is recorded once a minute), got %s",
			c.SessionIdleTimeout)
	case c.SessionMaxAge < c.SessionIdleTimeout:
		return fmt.Errorf("web.session_max_age (%s) must be at least web.session_idle_timeout (%s)", c.SessionMaxAge, c.SessionIdleTimeout)
	}
	return nil
}

// minSessionIdle is the shortest web.session_idle_timeout: twice the
// interval at which the store records a session's last use.
const minSessionIdle = 2 * time.Minute

// Proxies parses web.trusted_proxies.
func (c *WebConfig) Proxies() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("web.trusted_proxies %q: not a CIDR prefix like 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
