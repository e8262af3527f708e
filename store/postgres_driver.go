package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/recgate/recgate/rules"
)

// Drivers the store can run on.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// ParsePostgresDSN checks a PostgreSQL connection string (a URL
// postgres://user:password@host:port/database?sslmode=… or key=value
// pairs host=… dbname=…) and returns its configuration. It refuses a DSN
// that names no host or no database, rather than let libpq's defaults (a
// local socket, a database named like the user) pick one silently. Errors
// never contain the password: they name the missing part, or say the
// string does not parse.
func ParsePostgresDSN(dsn string) (*pgx.ConnConfig, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, rules.Errorf(rules.EINVALID, "store.dsn is empty: set it (or RECGATE_STORE_DSN) to postgres://USER:PASSWORD@HOST:PORT/DATABASE")
	}
	host, db, ok := dsnHostDB(dsn)
	if !ok {
		return nil, rules.Errorf(rules.EINVALID, "store.dsn does not parse as a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE) or as key=value pairs (host=… dbname=…)")
	}
	if host == "" {
		return nil, rules.Errorf(rules.EINVALID, "store.dsn %s names no host: add one (postgres://USER@HOST/DATABASE, or host=HOST; a unix socket directory is a host too)", RedactDSN(dsn))
	}
	if db == "" {
		return nil, rules.Errorf(rules.EINVALID, "store.dsn %s names no database: add one (postgres://USER@HOST/DATABASE, or dbname=DATABASE)", RedactDSN(dsn))
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's message quotes the string, with the password redacted
		// only on a best-effort basis: say what is wrong without it.
		return nil, rules.Errorf(rules.EINVALID, "store.dsn %s is not a valid PostgreSQL connection string", RedactDSN(dsn))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return cfg, nil
}

// dsnHostDB returns the host and database a DSN names, without defaults.
func dsnHostDB(dsn string) (host, db string, ok bool) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", false
		}
		q := u.Query()
		host, db = u.Host, strings.TrimPrefix(u.Path, "/")
		if h := q.Get("host"); h != "" {
			host = h
		}
		if d := q.Get("dbname"); d != "" {
			db = d
		}
		return host, db, true
	}
	kv, ok := parseKV(dsn)
	if !ok {
		return "", "", false
	}
	return kv["host"] + kv["hostaddr"], kv["dbname"], true
}

// parseKV splits a libpq key=value connection string (values may be
// single-quoted, with \' and \\ escapes).
func parseKV(s string) (map[string]string, bool) {
	kv := map[string]string{}
	s = strings.TrimSpace(s)
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, false
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			s = s[i+1:]
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val.WriteString(s[:end])
			s = s[end:]
		}
		kv[key] = val.String()
		s = strings.TrimLeft(s, " \t")
	}
	return kv, true
}

// RedactDSN returns dsn with its password replaced by "xxxxx", for logs and
// error messages. A string it cannot take apart is replaced whole.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "postgres://(unparsable)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	kv, ok := parseKV(dsn)
	if !ok {
		return "(unparsable connection string)"
	}
	var parts []string
	for _, k := range []string{"host", "hostaddr", "port", "dbname", "user"} {
		if v, ok := kv[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if _, ok := kv["password"]; ok {
		parts = append(parts, "password=xxxxx")
	}
	return strings.Join(parts, " ")
}

// pgConnector makes the store's SQL, written once with ? placeholders
// and SQLite's 0/1 booleans, run on PostgreSQL through pgx's database/sql
// driver: it numbers the placeholders ($1, $2, …) and sends a Go bool as
// the 0 or 1 the schema's INTEGER flag columns hold. Everything else is
// pgx's own connection (transactions, pings, session reset).
type pgConnector struct {
	base   driver.Connector
	cache  *sync.Map // query → rebound query
	cached atomic.Int64
}

// maxRebindCache bounds the rebound queries kept: the store's query texts
// are a fixed set (an IN list's length or a LIMIT at most vary them), but
// a text built from a value must not grow the cache without end.
const maxRebindCache = 4096

func newPGConnector(cfg *pgx.ConnConfig) *pgConnector {
	return &pgConnector{base: stdlib.GetConnector(*cfg), cache: new(sync.Map)}
}

func (c *pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("pgx stdlib returned a %T connection", conn)
	}
	return &pgConn{Conn: sc, c: c}, nil
}

func (c *pgConnector) Driver() driver.Driver { return c.base.Driver() }

func (c *pgConnector) rebind(q string) string {
	if r, ok := c.cache.Load(q); ok {
		return r.(string)
	}
	r := rebind(q)
	if c.cached.Load() < maxRebindCache {
		c.cache.Store(q, r)
		c.cached.Add(1)
	}
	return r
}

type pgConn struct {
	*stdlib.Conn
	c *pgConnector
}

func (p *pgConn) Prepare(q string) (driver.Stmt, error) {
	return p.Conn.Prepare(p.c.rebind(q))
}

func (p *pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return p.Conn.PrepareContext(ctx, p.c.rebind(q))
}

func (p *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return p.Conn.ExecContext(ctx, p.c.rebind(q), args)
}

func (p *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return p.Conn.QueryContext(ctx, p.c.rebind(q), args)
}

// CheckNamedValue sends bools as integers: the flag columns are INTEGER
// 0/1 in both dialects, so that one schema and one set of queries serve.
func (p *pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return nil
}

// rebind numbers the ? placeholders of q as PostgreSQL's $1, $2, …,
// leaving alone what is inside quotes ('…', "…", $$…$$) and comments.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(q[i+1:], c)
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+2])
			i += end + 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+4])
			i += end + 3
		case c == '$' && i+1 < len(q) && q[i+1] == '$':
			end := strings.Index(q[i+2:], "$$")
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+end+4])
			i += end + 3
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
