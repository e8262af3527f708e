package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// hostIDPattern is what store.host_id may be: a host name or a short label.
var hostIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// validate checks the store section: the driver, and the keys it needs.
// A DSN is checked without connecting, and its password never appears in
// an error.
func (c *StoreConfig) validate() error {
	switch c.Driver {
	case store.DriverSQLite:
		if c.Path == "" {
			return errors.New("store.path must be set")
		}
		if c.DSN != "" {
			return errors.New("store.dsn is set but store.driver is sqlite: set store.driver: postgres, or remove store.dsn (and RECGATE_STORE_DSN)")
		}
	case store.DriverPostgres:
		if _, err := store.ParsePostgresDSN(c.DSN); err != nil {
			var re *rules.Error
			if errors.As(err, &re) {
				return errors.New(re.Message)
			}
			return err
		}
		if c.Group != "" {
			return errors.New("store.group applies to a SQLite file only: remove it with store.driver: postgres")
		}
	default:
		return fmt.Errorf("store.driver %q: must be sqlite or postgres", c.Driver)
	}
	if c.HostID != "" && !hostIDPattern.MatchString(c.HostID) {
		return fmt.Errorf("store.host_id %q: letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit", c.HostID)
	}
	return nil
}

// hostID is the name this host gives the recordings it writes: store.host_id,
// else the hostname.
func (c *StoreConfig) hostID() string {
	if c.HostID != "" {
		return c.HostID
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return ""
}

// openStore opens the configured store.
func (c *Config) openStore(ctx context.Context, log *slog.Logger) (*store.Store, error) {
	opts := []store.Option{store.WithHostID(c.Store.hostID())}
	if log != nil {
		opts = append(opts, store.WithLogger(log))
	}
	if c.Store.Driver == store.DriverPostgres {
		return store.OpenPostgres(ctx, c.Store.DSN, opts...)
	}
	return store.Open(ctx, c.Store.Path, append(opts, c.storeOptions()...)...)
}

// storeName is the store for logs: the SQLite path or the DSN without its
// password.
func (c *StoreConfig) storeName() string {
	if c.Driver == store.DriverPostgres {
		return store.RedactDSN(c.DSN)
	}
	return c.Path
}

func newStoreCmd(a *app) *cobra.Command {
	cmd := requireSubcommand(&cobra.Command{Use: "store", Short: "Move a deployment between databases"})
	var from, to string
	var dryRun, force, asJSON bool
	cp := &cobra.Command{
		Use:   "copy --from sqlite:PATH|postgres:DSN --to sqlite:PATH|postgres:DSN [--dry-run] [--force]",
		Short: "Copy every table (rules, tenants, recordings, audit, accounts, holds) from one database to another, ids kept",
		Long: "Copies a deployment, e.g. from its SQLite file to the PostgreSQL a fleet shares:\n" +
			"  recgate store copy --from sqlite:/var/lib/recgate/recgate.db --to postgres:postgres://recgate@db1/recgate\n" +
			"Both databases are migrated to this recgate's schema first. The target must be empty\n" +
			"(--force replaces its rows); the copy is one transaction, and the row counts of every\n" +
			"table are compared after it. --dry-run makes the copy and rolls it back. Stop the\n" +
			"servers writing to the source first, or recordings made during the copy stay behind.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return &usageError{errors.New("store copy needs --from and --to, e.g. --from sqlite:./recgate.db --to postgres:postgres://user@host/db")}
			}
			ctx := cmd.Context()
			src, err := openTarget(ctx, "--from", from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := openTarget(ctx, "--to", to)
			if err != nil {
				return err
			}
			defer dst.Close()
			rep, err := store.Copy(ctx, src, dst, force, dryRun)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.env.Stdout, rep)
			}
			tables := make([]string, 0, len(rep.Rows))
			for t := range rep.Rows {
				tables = append(tables, t)
			}
			sort.Strings(tables)
			tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tROWS")
			for _, t := range tables {
				fmt.Fprintf(tw, "%s\t%d\n", t, rep.Rows[t])
			}
			tw.Flush()
			if dryRun {
				fmt.Fprintln(a.env.Stdout, "dry run: copied and rolled back, nothing changed")
			} else {
				fmt.Fprintln(a.env.Stdout, "copied; row counts verified")
			}
			return nil
		},
	}
	cp.Flags().StringVar(&from, "from", "", "source: sqlite:PATH or postgres:DSN")
	cp.Flags().StringVar(&to, "to", "", "target: sqlite:PATH or postgres:DSN")
	cp.Flags().BoolVar(&dryRun, "dry-run", false, "copy and roll back: check, change nothing")
	cp.Flags().BoolVar(&force, "force", false, "replace the rows of a target that is not empty")
	cp.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(cp)
	return cmd
}

// openTarget opens a store named DRIVER:WHERE (a postgres:// URL alone is
// taken as postgres).
func openTarget(ctx context.Context, flag, spec string) (*store.Store, error) {
	driver, where, ok := strings.Cut(spec, ":")
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		driver, where, ok = store.DriverPostgres, spec, true
	}
	if !ok || where == "" {
		return nil, &usageError{fmt.Errorf("%s %q: want sqlite:PATH or postgres:DSN", flag, redactSpec(spec))}
	}
	switch driver {
	case store.DriverSQLite:
		if _, err := os.Stat(where); flag == "--from" && err != nil {
			return nil, rules.Errorf(rules.EINVALID, "%s: %v", flag, err)
		}
		return store.Open(ctx, where)
	case store.DriverPostgres:
		st, err := store.OpenPostgres(ctx, where)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", flag, store.RedactDSN(where), err)
		}
		return st, nil
	}
	return nil, &usageError{fmt.Errorf("%s: unknown driver %q: want sqlite:PATH or postgres:DSN", flag, driver)}
}

func redactSpec(spec string) string {
	if d, w, ok := strings.Cut(spec, ":"); ok && d == store.DriverPostgres {
		return d + ":" + store.RedactDSN(w)
	}
	if strings.Contains(spec, "@") {
		return store.RedactDSN(spec)
	}
	return spec
}

// registerStoreMetrics exports the PostgreSQL change listener and the
// outbox (ob may be nil).
func registerStoreMetrics(reg prometheus.Registerer, st *store.Store, ob *store.Outbox) {
	if st.Driver() != store.DriverPostgres {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "recgate_store_listener_connected",
			Help: "Whether the PostgreSQL change listener is connected (1) or reconnecting (0).",
		}, func() float64 {
			if c, _, _ := st.ListenerStats(); c {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "recgate_store_notifications_total",
			Help: "Rule change notifications received from PostgreSQL.",
		}, func() float64 { _, n, _ := st.ListenerStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "recgate_store_listener_reconnects_total",
			Help: "Times the PostgreSQL change listener lost its connection.",
		}, func() float64 { _, _, r := st.ListenerStats(); return float64(r) }),
	)
	if ob == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "recgate_store_queue_rows",
			Help: "Recordings' metadata rows waiting for the database to be reachable.",
		}, func() float64 { return float64(ob.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "recgate_store_queue_dropped_total",
			Help: "Recordings' metadata rows dropped because the database was unreachable and the queue full.",
		}, func() float64 { return float64(ob.Dropped()) }),
	)
}

// checkPostgresConfig is `serve --check-config` for store.driver postgres:
// the database answers (nothing is migrated).
func checkPostgresConfig(w io.Writer, configPath string, cfg *Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.CheckPostgres(ctx, cfg.Store.DSN); err != nil {
		return err
	}
	rulesLine := "rules_file: not set (rules are edited with the CLI)"
	if cfg.RulesFile != "" {
		rulesLine = checkRulesFile(cfg.RulesFile)
	}
	_, err := fmt.Fprintf(w, "config %s: ok\nstore postgres %s: reachable\n%s\n", configPath, cfg.Store.storeName(), rulesLine)
	return err
}
