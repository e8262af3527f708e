// Package web serves recgate's HTTP API (SPEC 10): JSON under /api/v1,
// described by an OpenAPI 3 document generated from the handlers' own
// types (huma) at /api/v1/openapi.json, for people (a login session kept
// in the store, sent as a cookie) and programs (API tokens).
//
// Every request is scoped: a tenant's admin or listener sees only its
// tenant (another tenant's objects answer 404, like objects that do not
// exist), a listener only recordings, of its groups. Every handler calls
// the store through the Store interface below, the same domain calls as
// the CLI: the web layer writes no SQL and knows nothing of FastAGI.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// Store is what the API needs from recgate's store (*store.Store).
type Store interface {
	Rules(ctx context.Context) (*rules.RuleSet, error)
	Defaults(ctx context.Context) (rules.Defaults, error)
	Tenant(ctx context.Context, id string) (*rules.Tenant, error)
	Station(ctx context.Context, tenant, id string) (*rules.Station, error)
	Group(ctx context.Context, tenant, name string) (*rules.Group, error)
	CreateStation(ctx context.Context, actor, tenant string, st *rules.Station) ([]store.Change, error)
	UpdateStation(ctx context.Context, actor, tenant, id string, fn func(st *rules.Station) error) ([]store.Change, error)
	DeleteStation(ctx context.Context, actor, tenant, id string) ([]store.Change, error)
	CreateGroup(ctx context.Context, actor, tenant string, g *rules.Group) ([]store.Change, error)
	UpdateGroup(ctx context.Context, actor, tenant, name string, fn func(g *rules.Group) error) ([]store.Change, error)
	DeleteGroup(ctx context.Context, actor, tenant, name string, force bool) ([]store.Change, error)
	CreateTenant(ctx context.Context, actor string, t *rules.Tenant) ([]store.Change, error)
	UpdateTenant(ctx context.Context, actor, id string, fn func(t *rules.Tenant) error) ([]store.Change, error)
	DeleteTenant(ctx context.Context, actor, id string, force bool) ([]store.Change, error)

	Recording(ctx context.Context, id int64) (*rules.Recording, error)
	QueryRecordings(ctx context.Context, q store.RecordingQuery) ([]rules.Recording, string, error)

	AuditEntries(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	LogAccess(ctx context.Context, e *store.AccessEntry) error
	AccessLog(ctx context.Context, f store.AccessFilter) ([]store.AccessEntry, error)

	UserCredentials(ctx context.Context, login string) (*auth.User, string, error)
	CreateSession(ctx context.Context, hash string, userID int64, address string, expires time.Time) error
	SessionUser(ctx context.Context, hash string, idle time.Duration) (*auth.User, error)
	DeleteSession(ctx context.Context, hash string) error
	TokenByHash(ctx context.Context, hash string) (*auth.Token, error)
	TouchToken(ctx context.Context, id int64) error

	User(ctx context.Context, login string) (*auth.User, error)
	Users(ctx context.Context, tenant string) ([]auth.User, error)
	CreateUser(ctx context.Context, actor string, u *auth.User, passwordHash string) error
	UpdateUser(ctx context.Context, actor, login string, fn func(u *auth.User) error) (*auth.User, []store.Change, error)
	SetUserPassword(ctx context.Context, actor, login, passwordHash string) error
	DeleteUser(ctx context.Context, actor, login string) error
	Token(ctx context.Context, id int64) (*auth.Token, error)
	Tokens(ctx context.Context, tenant string) ([]auth.Token, error)
	CreateToken(ctx context.Context, actor string, t *auth.Token, hash string) error
	RevokeToken(ctx context.Context, actor string, id int64) error

	GDPRStore // gdpr.go
}

// Config configures the API server.
type Config struct {
	RecordingDir   string         // recording.dir: audio is served only from under it
	RulesFile      string         // rules_file: when set, rule writes are refused (the file is the source)
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For and -Proto are believed
	PublicURL      string         // web.public_url, for the OpenAPI servers list

	// Registerer receives the API's request metrics (nil: none).
	Registerer prometheus.Registerer

	SessionIdle   time.Duration // a session unused this long ends (default 30m)
	SessionMaxAge time.Duration // a session ends this long after login, however used (default 12h)
	MaxBodyBytes  int64         // request bodies larger than this are refused with 413 (default 64 KiB)
}

func (c *Config) setDefaults() {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMaxAge <= 0 {
		c.SessionMaxAge = 12 * time.Hour
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
}

// Server is the HTTP API. Build it with New; Handler serves it.
type Server struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	throttle *auth.Throttle
	api      huma.API
	handler  http.Handler
	routes   []Route
	index    atomic.Pointer[stationIndex]
}

// New returns the API server for cfg on st.
func New(cfg Config, st Store, log *slog.Logger) *Server {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: st, log: log, throttle: auth.NewThrottle(5, 15*time.Minute)}
	mux := http.NewServeMux()
	hc := huma.DefaultConfig("recgate API", "1")
	hc.Info.Description = "Recording rules, recordings and accounts of recgate (SPEC 10). Errors are application/problem+json (RFC 9457)."
	hc.OpenAPIPath = "/api/v1/openapi"
	hc.DocsPath = ""    // the docs page would load scripts from a CDN
	hc.SchemasPath = "" // schemas are in the document's components
	hc.CreateHooks = nil
	hc.RejectUnknownQueryParameters = true
	hc.Transformers = []huma.Transformer{detailTransformer}
	hc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer":  {Type: "http", Scheme: "bearer", Description: "An API token: recgate token create"},
		"session": {Type: "apiKey", In: "cookie", Name: sessionCookie, Description: "The session cookie set by POST /api/v1/login"},
	}
	if cfg.PublicURL != "" {
		hc.Servers = []*huma.Server{{URL: strings.TrimRight(cfg.PublicURL, "/")}}
	}
	s.api = humago.New(mux, hc)
	s.api.UseMiddleware(s.authorize)
	s.register()
	s.mountPanel(mux) // the customer panel (panel.go)
	var h http.Handler = mux
	if cfg.Registerer != nil {
		h = newMetrics(cfg.Registerer).instrument(mux)
	}
	h = problemsForUnrouted(mux, h)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, http.StatusForbidden, "a state-changing request from another origin is refused "+
			"(cross-origin protection): send it from the API's own origin, or from a program without a browser's Origin and Sec-Fetch-Site headers")
	}))
	if origin := originOf(cfg.PublicURL); origin != "" {
		// Behind a proxy that rewrites Host, the public address is still
		// the API's own origin.
		if err := cop.AddTrustedOrigin(origin); err != nil {
			log.Warn("web.public_url not usable as a trusted origin", "url", cfg.PublicURL, "err", err)
		}
	}
	s.handler = s.recoverPanics(s.withClient(securityHeaders(cop.Handler(h))))
	return s
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// API returns the huma API, whose OpenAPI() is the document served.
func (s *Server) API() huma.API { return s.api }

// Routes returns the route table: every operation and who may call it.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// NewHTTPServer returns an http.Server for h with recgate's timeouts: a
// slow or silent client cannot hold a connection open.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      10 * time.Minute, // a long recording over a slow link
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// originOf is the scheme://host[:port] of an absolute URL ("" when none).
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// recoverPanics answers a request whose handler panicked with a 500
// problem and logs the panic; the server goes on serving.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "api: handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"title":"Internal Server Error","status":500,"detail":"internal error (logged on the server)"}`)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// writeProblem answers status with an application/problem+json body.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	b, _ := json.Marshal(struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{http.StatusText(status), status, detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	w.Write(b)
}

// problemsForUnrouted answers a request under /api/ that no operation
// serves (an unknown path, or a method the path does not have) with a
// problem, as every other API error, instead of the mux's plain text.
func problemsForUnrouted(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/api/") {
			w = &unroutedWriter{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// unroutedWriter replaces the mux's plain-text 404 and 405 by problems.
type unroutedWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *unroutedWriter) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		w.replaced = true
		writeProblem(w.ResponseWriter, status, "no such API path: the operations are listed in /api/v1/openapi.json")
	case http.StatusMethodNotAllowed:
		w.replaced = true
		writeProblem(w.ResponseWriter, status, "this path does not take that method (allowed: "+w.Header().Get("Allow")+")")
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *unroutedWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil // the mux's text, replaced by the problem
	}
	return w.ResponseWriter.Write(b)
}

// securityHeaders sets the headers every API response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// client is where a request came from, as far as it can be believed.
type client struct {
	addr   string // the client's IP address
	secure bool   // the request reached us (or the trusted proxy) over TLS
}

type clientKey struct{}

// withClient works out the client's address and whether the request came
// over TLS: from the connection, or from X-Forwarded-For and
// X-Forwarded-Proto when the peer is a trusted proxy.
func (s *Server) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := client{secure: r.TLS != nil}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		c.addr = host
		if peer, err := netip.ParseAddr(host); err == nil && s.trusted(peer) {
			c.addr = s.forwardedFor(r, peer)
			if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
				c.secure = strings.EqualFold(strings.TrimSpace(p), "https")
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, c)))
	})
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the first address in X-Forwarded-For, read from
// the right, that is not a trusted proxy: the addresses left of it were
// written by the client and prove nothing.
func (s *Server) forwardedFor(r *http.Request, peer netip.Addr) string {
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !s.trusted(a) {
			return a.Unmap().String()
		}
	}
	return peer.Unmap().String()
}

func clientOf(ctx context.Context) client {
	c, _ := ctx.Value(clientKey{}).(client)
	return c
}

// detailTransformer makes huma's own validation problems say what is
// wrong in detail, not only in the errors list: "validation failed:
// body.rules.outbound: expected value to be one of ...". It never echoes a
// password, nor a whole body (which may hold one), back in an error.
func detailTransformer(_ huma.Context, _ string, v any) (any, error) {
	m, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	for _, e := range m.Errors {
		_, object := e.Value.(map[string]any) // an unknown field's error carries the whole object
		if object || e.Location == "body" || strings.Contains(e.Location, "password") {
			e.Value = nil
		}
	}
	if len(m.Errors) > 0 && !strings.Contains(m.Detail, ": ") {
		parts := make([]string, 0, len(m.Errors))
		for _, e := range m.Errors {
			if e.Location != "" {
				parts = append(parts, e.Location+": "+e.Message)
			} else {
				parts = append(parts, e.Message)
			}
		}
		m.Detail = strings.TrimSuffix(m.Detail, ".") + ": " + strings.Join(parts, "; ")
	}
	return v, nil
}

// fail turns an error from the store or the domain into the problem the
// client sees: a huma status error as is; rules.Error codes by code; any
// other error as a 500 whose detail hides the internals (logged).
func (s *Server) fail(ctx context.Context, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return se
	}
	var re *rules.Error
	msg := err.Error()
	if errors.As(err, &re) {
		msg = re.Message
	}
	switch rules.ErrorCode(err) {
	case rules.EINVALID:
		return huma.Error422UnprocessableEntity(msg)
	case rules.ENOTFOUND:
		return huma.Error404NotFound(msg)
	case rules.ECONFLICT:
		return huma.Error409Conflict(msg)
	case rules.EUNAVAILABLE:
		s.log.WarnContext(ctx, "api: store unavailable", "err", err)
		return huma.Error503ServiceUnavailable("the store is not available right now; try again")
	}
	s.log.ErrorContext(ctx, "api: internal error", "err", err)
	return huma.Error500InternalServerError("internal error (logged on the server)")
}

// fieldError is a 422 naming the field at loc ("body.group", "query.limit").
func fieldError(loc, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return huma.Error422UnprocessableEntity(loc+": "+msg, &huma.ErrorDetail{Location: loc, Message: msg})
}
