package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/recgate/recgate/web"
)

// openWeb starts the HTTP API on web.listen (nothing when it is empty),
// over TLS when web.tls_cert and web.tls_key are set, and a sweeper of
// expired login sessions bound to bg.
func (m *Main) openWeb(bg context.Context) error {
	cfg := m.Config
	if cfg.Web.Listen == "" {
		return nil
	}
	proxies, err := cfg.Web.Proxies()
	if err != nil {
		return err
	}
	api := web.New(web.Config{
		RecordingDir:   cfg.Recording.Dir,
		RulesFile:      cfg.RulesFile,
		TrustedProxies: proxies,
		PublicURL:      cfg.Web.PublicURL,
		SessionIdle:    cfg.Web.SessionIdleTimeout,
		SessionMaxAge:  cfg.Web.SessionMaxAge,
		Registerer:     m.Registry,
	}, m.Store, m.Logger)
	srv := web.NewHTTPServer(api.Handler(), m.Logger)
	if cfg.Web.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Web.TLSCert, cfg.Web.TLSKey)
		if err != nil {
			return fmt.Errorf("web.tls_cert/web.tls_key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		return fmt.Errorf("web.listen: %w", err)
	}
	m.web, m.webLn = srv, ln
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.serveErr <- fmt.Errorf("web: %w", err)
		}
	}()
	go func() { defer m.wg.Done(); m.sweepSessions(bg, 10*time.Minute) }()
	return nil
}

// sweepSessions deletes expired login sessions every interval until ctx
// ends (an expired session is refused anyway; this keeps the table small).
func (m *Main) sweepSessions(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := m.Store.DeleteExpiredSessions(ctx, m.Config.Web.SessionIdleTimeout); err != nil {
			m.Logger.Warn("web: expired sessions not swept", "err", err)
		} else if n > 0 {
			m.Logger.Debug("web: expired sessions swept", "n", n)
		}
	}
}

// WebAddr is the HTTP API listener's address ("" when it is off).
func (m *Main) WebAddr() string {
	if m.webLn == nil {
		return ""
	}
	return m.webLn.Addr().String()
}
