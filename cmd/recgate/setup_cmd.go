package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
	"github.com/recgate/recgate/store"
)

// versionLine is what --version and `recgate version` print.
func versionLine() string {
	return fmt.Sprintf("recgate %s (revision %s, %s)", version, revision, runtime.Version())
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the VCS revision and the Go version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.env.Stdout, versionLine())
			return err
		},
	}
}

// initConfig is the configuration `recgate init` writes: the keys a first
// setup sets, commented; config.example.yaml documents every other key.
var initConfig = template.Must(template.New("recgate.yaml").Parse(`# recgate configuration, written by ` + "`recgate init`" + `.
# Every key left out has its default; config.example.yaml in the source
# tree (or the README's Configuration section) documents them all.
# Check this file with: recgate --config {{.Config}} serve --check-config

agi:
  # FastAGI listener: the dialplan calls agi://<this address>/decide.
  listen: 127.0.0.1:4573
  # Peers allowed to connect (CIDR): add your Asterisk host if it is remote.
  allow: ["127.0.0.0/8", "::1/128"]

http:
  # /metrics (Prometheus), /healthz, /readyz. Empty disables the listener.
  listen: 127.0.0.1:9573

web:
  # The HTTP API (/api/v1; OpenAPI at /api/v1/openapi.json) for operators,
  # customers' admins and programs; empty turns it off. Accounts come from
  # recgate user add and recgate token create.
  listen: 127.0.0.1:8573

store:
  # SQLite file: rules, recordings' metadata and the audit log. ` + "`recgate init`" + `
  # created it empty; only ` + "`recgate serve`" + ` and ` + "`recgate init`" + ` create a database.
  path: {{.Store}}

recording:
  # Where MixMonitor writes, on the Asterisk host (absolute).
  dir: /var/spool/asterisk/monitor

# A YAML rules file to apply at start and whenever it changes. When set, the
# file is the source of truth and the CLI's writing commands refuse; empty:
# the rules are edited with the CLI (recgate station/group/rule ...).
rules_file: ""

log:
  level: info    # debug|info|warn|error
  format: text   # text|json
`))

func newInitCmd(a *app) *cobra.Command {
	dir := "."
	cmd := &cobra.Command{
		Use:   "init [--dir DIR]",
		Short: "Write a commented recgate.yaml and create its empty database in DIR",
		Long: "Writes DIR/recgate.yaml (the keys a first setup sets, commented) and creates the\n" +
			"empty database DIR/recgate.db that it names. Refuses, writing nothing, when either\n" +
			"exists. DIR is created when missing.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return rules.Errorf(rules.EINVALID, "--dir %s: %v", dir, err)
			}
			if err := rules.ValidateText("--dir", abs); err != nil {
				return err
			}
			cfgPath, dbPath := filepath.Join(abs, "recgate.yaml"), filepath.Join(abs, "recgate.db")
			for _, p := range []string{cfgPath, dbPath} {
				if _, err := os.Lstat(p); err == nil {
					return rules.Errorf(rules.ECONFLICT, "%s already exists; nothing written (remove it, or pick another --dir)", p)
				}
			}
			var b bytes.Buffer
			if err := initConfig.Execute(&b, map[string]string{
				"Config": cfgPath,
				"Store":  strconv.Quote(dbPath),
			}); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if err := os.MkdirAll(abs, 0o755); err != nil {
				return rules.Errorf(rules.EUNAVAILABLE, "init: %v", err)
			}
			if err := writeNewFile(cfgPath, b.Bytes()); err != nil {
				return err
			}
			st, err := store.Open(cmd.Context(), dbPath)
			if err != nil {
				os.Remove(cfgPath)
				return fmt.Errorf("init: create %s: %w", dbPath, err)
			}
			if err := st.Close(); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			fmt.Fprintf(a.env.Stdout, "wrote %s\ncreated %s (empty)\nnext: recgate --config %s serve --check-config\n", cfgPath, dbPath, cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", dir, "the directory to write recgate.yaml and recgate.db in")
	return cmd
}

// writeNewFile creates path with data, refusing to replace a file that
// appeared meanwhile.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return rules.Errorf(rules.ECONFLICT, "%s already exists; nothing written", path)
	}
	if err != nil {
		return rules.Errorf(rules.EUNAVAILABLE, "write %s: %v", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return rules.Errorf(rules.EUNAVAILABLE, "write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return rules.Errorf(rules.EUNAVAILABLE, "write %s: %v", path, err)
	}
	return nil
}

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkStorePath checks that the database at path can be used without
// opening it (opening migrates). An existing file must be a SQLite
// database that can be read and written, in a directory where SQLite can
// create its -wal and -shm files. A missing file is an error unless create
// is true, and then its directory must exist and be writable. It returns a
// short description of what it found. Errors have code EUNAVAILABLE.
func checkStorePath(path string, create bool) (string, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			where := ""
			if !filepath.IsAbs(path) {
				if wd, err := os.Getwd(); err == nil {
					where = " in the working directory " + wd + " (a relative path is relative to it, not to the configuration)"
				}
			}
			return "", rules.Errorf(rules.EUNAVAILABLE,
				"store.path %s does not exist%s (only `recgate serve` and `recgate init` create a database)", path, where)
		}
		if err := checkWritableDir(path); err != nil {
			return "", err
		}
		return "does not exist yet; serve creates it", nil
	case err != nil:
		return "", rules.Errorf(rules.EUNAVAILABLE, "store.path %s: %v", path, err)
	case fi.IsDir():
		return "", rules.Errorf(rules.EUNAVAILABLE, "store.path %s is a directory, not a database file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", rules.Errorf(rules.EUNAVAILABLE, "store.path %s: %v", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if n > 0 && (err != nil || string(head) != sqliteHeader) {
		return "", rules.Errorf(rules.EUNAVAILABLE, "store.path %s is not a SQLite database", path)
	}
	if err := checkWritableDir(path); err != nil {
		return "", err
	}
	return "exists, readable and writable", nil
}

// checkWritableDir checks that files can be created next to path.
func checkWritableDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return rules.Errorf(rules.EUNAVAILABLE, "store.path %s: directory %s does not exist", path, dir)
	}
	if !fi.IsDir() {
		return rules.Errorf(rules.EUNAVAILABLE, "store.path %s: %s is not a directory", path, dir)
	}
	probe, err := os.CreateTemp(dir, ".recgate-check-*")
	if err != nil {
		return rules.Errorf(rules.EUNAVAILABLE, "store.path %s: cannot create files in %s: %v", path, dir, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkConfig is `serve --check-config`: the configuration is valid (the
// caller loaded it) and the store can be opened or created; it names each
// path it checked. A rules_file that does not parse is reported but is not
// a failure: serve starts with it and keeps deciding from the rules in the
// database until the file is fixed, which beats a server that does not
// start (the systemd unit runs --check-config before serve).
func checkConfig(w io.Writer, configPath string, cfg *Config) error {
	status, err := checkStorePath(cfg.Store.Path, true)
	if err != nil {
		return err
	}
	if err := checkStoreGroup(cfg.Store.Group); err != nil {
		return err
	}
	rulesLine := "rules_file: not set (rules are edited with the CLI)"
	if cfg.RulesFile != "" {
		rulesLine = checkRulesFile(cfg.RulesFile)
	}
	_, err = fmt.Fprintf(w, "config %s: ok\nstore %s: %s\n%s\n", configPath, cfg.Store.Path, status, rulesLine)
	return err
}

// checkStoreGroup checks that store.group, when set, names a group of this
// system (or is a numeric id), as the store needs when it creates the
// database: serve refuses to start otherwise.
func checkStoreGroup(group string) error {
	if group == "" {
		return nil
	}
	if _, err := strconv.Atoi(group); err == nil {
		return nil
	}
	if _, err := user.LookupGroup(group); err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return rules.Errorf(rules.EINVALID, "store.group %q: no such group on this system", group)
		}
		return rules.Errorf(rules.EINVALID, "store.group %q: %v", group, err)
	}
	return nil
}

// checkRulesFile describes whether the rules file parses.
func checkRulesFile(path string) string {
	const kept = "NOT applied; serve keeps the rules in the database until it is fixed"
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("rules_file %s: %s: %v", path, kept, errors.Unwrap(err))
	}
	rs, err := rulesfile.Parse(bytes.NewReader(data), path)
	if err != nil {
		return fmt.Sprintf("rules_file %s: %s:\n%v", path, kept, err)
	}
	groups := 0
	for _, tid := range rs.TenantIDs() {
		groups += len(rs.Groups(tid))
	}
	return fmt.Sprintf("rules_file %s: ok (%d groups, %d stations)", path, groups, len(rs.Stations))
}
