package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/store"
)

func newServeCmd(a *app) *cobra.Command {
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the FastAGI server and the HTTP listener (metrics, health)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if checkOnly {
				return checkConfig(a.env.Stdout, a.configPath, cfg)
			}
			m := NewMain(cfg, a.configPath, a.env)
			return m.Serve(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&checkOnly, "check-config", false, "validate the configuration and exit")
	return cmd
}

// Main is the running server: store, call handler, FastAGI and HTTP
// listeners, and the rules-file watcher. Tests run it in-process.
type Main struct {
	Config     *Config
	configPath string
	env        *Env

	Logger *slog.Logger
	level  *slog.LevelVar

	Registry *prometheus.Registry
	Store    *store.Store
	Handler  *gate.Handler
	AGI      *agi.Server
	http     *http.Server
	web      *http.Server

	agiLn, httpLn, webLn net.Listener
	reload               *reloadMetrics
	rulesFile            *rulesFileWatcher  // nil without rules_file
	stop                 context.CancelFunc // stops background goroutines
	wg                   sync.WaitGroup
	serveErr             chan error
}

// NewMain returns a Main for cfg, read from configPath (SIGHUP reads it
// again); Open starts it.
func NewMain(cfg *Config, configPath string, env *Env) *Main {
	m := &Main{Config: cfg, configPath: configPath, env: env, level: new(slog.LevelVar)}
	m.Logger = newLogger(env.Stderr, cfg.Log.Format, m.level)
	lvl, _ := parseLevel(cfg.Log.Level)
	m.level.Set(lvl)
	return m
}

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Serve opens the server, runs it until ctx is done (SIGTERM/SIGINT), and
// shuts down gracefully within shutdown_timeout. SIGHUP reloads the config.
func (m *Main) Serve(ctx context.Context) error {
	tuneGC(m.env.Environ)
	// Catch SIGHUP before anything can send it: its default action would
	// kill the server (a reload right after start must not stop it).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := m.Open(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, m.Close(cctx))
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			if m.rulesFile != nil {
				m.rulesFile.retry() // a file the store refused is tried again now
			}
			if err := m.Reload(); err != nil {
				m.Logger.Error("config reload refused; keeping the running configuration", "err", err)
			}
		case serveErr = <-m.serveErr:
			m.Logger.Error("listener failed", "err", serveErr)
			break loop
		}
	}
	m.Logger.Info("shutting down", "timeout", m.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if err := m.Close(sctx); err != nil {
		return err
	}
	return serveErr
}

// GC defaults for serve, each used only when the operator did not set the
// Go runtime's own variable. A session allocates a few kilobytes and the
// live heap is small, so with the runtime's default (GOGC=100) the
// collector runs every few milliseconds under load and, on a two-core
// host, takes a whole core while it marks: that showed as the tail of the
// call-setup latency. A larger GOGC makes it rare; the memory limit keeps
// a burst of held sessions from growing the heap without bound.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 160 << 20
)

// releaseMemoryAfterBursts gives memory back to the operating system once a
// burst of sessions is over. Thousands of sessions held at once (a slow
// Asterisk, a storm of calls) grow goroutine stacks and buffers; the Go
// runtime would return them only slowly. When the number of sessions has
// been above burstSessions and falls below a tenth of that, it frees what
// it can, twice (pooled buffers survive one collection).
func releaseMemoryAfterBursts(ctx context.Context, active func() int64, log *slog.Logger) {
	const burstSessions = 1000
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var peak int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := active()
		peak = max(peak, n)
		if peak < burstSessions || n > burstSessions/10 {
			continue
		}
		debug.FreeOSMemory()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		debug.FreeOSMemory()
		log.Info("memory released after a burst of sessions", "peak_sessions", peak)
		peak = 0
	}
}

func tuneGC(environ []string) {
	set := map[string]bool{}
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	if !set["GOGC"] {
		debug.SetGCPercent(defaultGCPercent)
	}
	if !set["GOMEMLIMIT"] {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// Open opens the store, applies the rules file, and starts the FastAGI and
// HTTP listeners. Their addresses are in AGIAddr and HTTPAddr.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	if _, err := checkStorePath(cfg.Store.Path, true); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.Store.Path, cfg.storeOptions()...)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	m.Store = st
	bg, stop := context.WithCancel(context.Background())
	m.stop = stop

	m.Registry = prometheus.NewRegistry()
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)
	m.reload = newReloadMetrics(m.Registry)
	m.reload.success()
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "recgate_rules_loaded_timestamp_seconds",
		Help: "When the rules used for decisions were last loaded from the store (0: never).",
	}, func() float64 {
		if t := st.RulesLoadedAt(); !t.IsZero() {
			return float64(t.UnixNano()) / 1e9
		}
		return 0
	}))

	if cfg.RulesFile != "" {
		w := newRulesFileWatcher(cfg.RulesFile, st, m.Logger, newRulesFileMetrics(m.Registry))
		w.start(ctx, 200*time.Millisecond) // a bad or unsettled file is logged; the store's rules keep serving
		m.rulesFile = w
		m.wg.Add(1)
		go func() { defer m.wg.Done(); w.run(bg, time.Second) }()
	}

	gcfg, err := cfg.GateConfig()
	if err != nil {
		return err
	}
	if _, err := st.Rules(ctx); err != nil {
		m.Logger.Warn("rules not readable at start; decisions use the fallback until they are", "err", err)
	}
	m.Handler, err = gate.New(gcfg, gate.Options{
		Rules:      st,
		Recordings: st,
		Metrics:    gate.NewMetrics(m.Registry),
		Logger:     m.Logger,
	})
	if err != nil {
		return err
	}
	allow, _ := cfg.AllowPrefixes()
	m.AGI = &agi.Server{
		Handler:     m.Handler,
		ReadTimeout: cfg.AGI.ReadTimeout,
		MaxSessions: cfg.AGI.MaxSessions,
		Requests:    gate.Requests(),
		Logger:      m.Logger,
		Metrics:     agi.NewMetrics(m.Registry),
	}
	m.AGI.SetAllow(allow)

	m.serveErr = make(chan error, 3)
	if m.agiLn, err = agi.Listen(ctx, cfg.AGI.Listen); err != nil {
		return fmt.Errorf("agi.listen: %w", err)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.AGI.Serve(m.agiLn); err != nil && !errors.Is(err, agi.ErrServerClosed) {
			m.serveErr <- fmt.Errorf("fastagi: %w", err)
		}
	}()
	if cfg.HTTP.Listen != "" {
		if m.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		m.http = &http.Server{Handler: m.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := m.http.Serve(m.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				m.serveErr <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	if err := m.openWeb(bg); err != nil {
		return err
	}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); releaseMemoryAfterBursts(bg, m.AGI.ActiveSessions, m.Logger) }()
	m.Logger.Info("recgate serving", "agi", m.AGIAddr(), "http", m.HTTPAddr(), "web", m.WebAddr(), "store", cfg.Store.Path, "version", version)
	return nil
}

// AGIAddr is the FastAGI listener's address.
func (m *Main) AGIAddr() string {
	if m.agiLn == nil {
		return ""
	}
	return m.agiLn.Addr().String()
}

// HTTPAddr is the metrics and health listener's address.
func (m *Main) HTTPAddr() string {
	if m.httpLn == nil {
		return ""
	}
	return m.httpLn.Addr().String()
}

// Close stops accepting sessions, lets in-flight ones finish until ctx is
// done, flushes the recordings' metadata and closes the store.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.AGI != nil {
		if err := m.AGI.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("fastagi shutdown: %w", err))
		}
	}
	if m.http != nil {
		if err := m.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if m.web != nil {
		if err := m.web.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("web shutdown: %w", err))
		}
	}
	if m.stop != nil {
		m.stop()
	}
	m.wg.Wait()
	if m.Handler != nil {
		if err := m.Handler.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush recordings: %w", err))
		}
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (m *Main) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := m.Store.Ping(ctx); err != nil {
			http.Error(w, "store not readable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if rs, err := m.Store.Rules(ctx); rs == nil {
			http.Error(w, fmt.Sprintf("no rules loaded: %v", err), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "recgate_build_info",
		Help: "Build information: version, VCS revision and Go version; always 1.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(version, revision, runtime.Version()).Set(1)
	return g
}

// storeOptions are the options store.Open takes from the configuration.
func (c *Config) storeOptions() []store.Option {
	if c.Store.Group == "" {
		return nil
	}
	return []store.Option{store.WithGroup(c.Store.Group)}
}

// reloadMetrics exports the outcome of configuration (re)loads.
type reloadMetrics struct {
	ok   prometheus.Gauge
	last prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	r := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recgate_config_last_reload_successful",
			Help: "Whether the last configuration (re)load succeeded (1) or was refused (0).",
		}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "recgate_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration was last loaded successfully.",
		}),
	}
	reg.MustRegister(r.ok, r.last)
	return r
}

func (r *reloadMetrics) success() { r.ok.Set(1); r.last.SetToCurrentTime() }
func (r *reloadMetrics) failure() { r.ok.Set(0) }

// Reload re-reads the configuration file and applies what can change
// while serving: log level, file template and directory, MixMonitor
// options, classification, fallback, on-demand feature, hangup handler,
// decision timeout and the allow list. A bad file changes nothing.
// Listen addresses and the store path need a restart; a change to them is
// logged and ignored.
func (m *Main) Reload() error {
	cfg, err := LoadConfig(m.configPath, m.env.Environ)
	if err != nil {
		m.reload.failure()
		return err
	}
	gcfg, err := cfg.GateConfig()
	if err == nil {
		err = m.Handler.SetConfig(gcfg)
	}
	if err != nil {
		m.reload.failure()
		return err
	}
	allow, _ := cfg.AllowPrefixes()
	m.AGI.SetAllow(allow)
	lvl, _ := parseLevel(cfg.Log.Level)
	m.level.Set(lvl)
	if cfg.AGI.Listen != m.Config.AGI.Listen || cfg.HTTP.Listen != m.Config.HTTP.Listen || !reflect.DeepEqual(cfg.Web, m.Config.Web) ||
		cfg.Store.Path != m.Config.Store.Path || cfg.AGI.MaxSessions != m.Config.AGI.MaxSessions ||
		cfg.AGI.ReadTimeout != m.Config.AGI.ReadTimeout || cfg.RulesFile != m.Config.RulesFile {
		m.Logger.Warn("config reload: listen addresses, web.*, store.path, agi.max_sessions, agi.read_timeout and rules_file change only on restart")
	}
	m.reload.success()
	m.Logger.Info("config reloaded", "file", m.configPath)
	return nil
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("%s takes no arguments, got %q", cmd.CommandPath(), args)}
	}
	return nil
}

func maxArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return &usageError{fmt.Errorf("usage: %s %s (got %d arguments)", cmd.CommandPath(), names, len(args))}
		}
		return nil
	}
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &usageError{fmt.Errorf("usage: %s %s", cmd.CommandPath(), names)}
		}
		return nil
	}
}
