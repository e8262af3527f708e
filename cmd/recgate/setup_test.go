package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// runEnv runs recgate with args in the given environment variables and
// returns the exit status, stdout and stderr.
func runEnv(environ []string, args ...string) cliResult {
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: environ})
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// inEmptyDir runs the test in a new empty working directory, where
// ./recgate.yaml does not exist.
func inEmptyDir(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/etc/recgate/recgate.yaml"); err == nil {
		t.Skip("/etc/recgate/recgate.yaml exists on this machine; the lookup would find it")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// TestNoConfigRefuses: without --config, RECGATE_CONFIG, ./recgate.yaml or
// /etc/recgate/recgate.yaml, every verb refuses with one line saying where
// it looked, and creates no database.
func TestNoConfigRefuses(t *testing.T) {
	dir := inEmptyDir(t)
	for _, args := range [][]string{
		{"explain", "1001", "outbound"},
		{"station", "add", "1001"},
		{"serve", "--check-config"},
		{"serve"},
	} {
		r := runEnv([]string{"PATH=/usr/bin"}, args...)
		want := "recgate: no configuration file: looked for ./recgate.yaml and /etc/recgate/recgate.yaml (no --config, RECGATE_CONFIG unset); name one, or write one with `recgate init`\n"
		if r.code != exitInvalid || r.stderr != want || r.stdout != "" {
			t.Errorf("recgate %s: %v\nwant exit 2 and %q", strings.Join(args, " "), r, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the verbs left %d file(s) behind, e.g. %s", len(entries), entries[0].Name())
	}
}

// TestConfigLookupOrder: RECGATE_CONFIG is used when --config is not given,
// ./recgate.yaml when neither is, and a named file that does not exist is
// an error, not a fallback.
func TestConfigLookupOrder(t *testing.T) {
	dir := inEmptyDir(t)
	e := newCLIEnv(t) // its own config and database
	e.ok("station", "add", "1001", "--name", "via RECGATE_CONFIG")

	r := runEnv([]string{"RECGATE_CONFIG=" + e.config}, "station", "list")
	if r.code != exitOK || !strings.Contains(r.stdout, "via RECGATE_CONFIG") {
		t.Errorf("RECGATE_CONFIG not used: %v", r)
	}
	r = runEnv([]string{"RECGATE_CONFIG=" + filepath.Join(dir, "nope.yaml")}, "station", "list")
	if r.code != exitInvalid || !strings.Contains(r.stderr, "nope.yaml (RECGATE_CONFIG)") {
		t.Errorf("a missing RECGATE_CONFIG file: %v", r)
	}
	r = runEnv(nil, "--config", filepath.Join(dir, "nope.yaml"), "station", "list")
	if r.code != exitInvalid || !strings.Contains(r.stderr, "nope.yaml (--config)") {
		t.Errorf("a missing --config file: %v", r)
	}
	data, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("recgate.yaml", data, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runEnv(nil, "station", "list")
	if r.code != exitOK || !strings.Contains(r.stdout, "via RECGATE_CONFIG") {
		t.Errorf("./recgate.yaml not used: %v", r)
	}
}

// TestVerbsNeverCreateTheDatabase: a configuration whose store.path does not
// exist makes every verb but serve and init refuse (exit 5) naming the path
// and the configuration, instead of answering from a new empty database.
func TestVerbsNeverCreateTheDatabase(t *testing.T) {
	e := newCLIEnv(t)
	if err := os.Remove(e.db); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"explain", "1001", "outbound"},
		{"station", "add", "1001"},
		{"station", "list"},
		{"rules", "export"},
		{"audit", "list"},
		{"recordings", "list"},
		{"retention", "run", "--dry-run"},
	} {
		r := e.run(args...)
		if r.code != exitUnavailable || !strings.Contains(r.stderr, "store.path "+e.db+" does not exist") || !strings.Contains(r.stderr, "configuration "+e.config) {
			t.Errorf("recgate %s: %v\nwant exit 5 naming the database and the configuration", strings.Join(args, " "), r)
		}
		if _, err := os.Stat(e.db); err == nil {
			t.Fatalf("recgate %s created %s", strings.Join(args, " "), e.db)
		}
	}
}

// TestRelativeStorePathNamesTheDirectory: a relative store.path (the
// example configuration's ./recgate.db) is relative to the working
// directory, not to the configuration file: run from elsewhere, the
// refusal says which directory it looked in.
func TestRelativeStorePathNamesTheDirectory(t *testing.T) {
	e := newCLIEnv(t)
	if err := os.WriteFile(e.config, []byte("store: {path: ./recgate.db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	r := e.run("explain", "1001", "outbound")
	want := "store.path ./recgate.db does not exist in the working directory " + elsewhere + " (a relative path is relative to it, not to the configuration)"
	if r.code != exitUnavailable || !strings.Contains(r.stderr, want) {
		t.Errorf("%v\nwant exit 5 and %q", r, want)
	}
}

// TestCheckConfig: --check-config names the file it read and the store it
// would use, refuses a store whose directory does not exist, a file that is
// not a database, a bad rules_file and a bare duration.
func TestCheckConfig(t *testing.T) {
	e := newCLIEnv(t)
	r := e.run("serve", "--check-config")
	want := "config " + e.config + ": ok\nstore " + e.db + ": exists, readable and writable\nrules_file: not set (rules are edited with the CLI)\n"
	if r.code != exitOK || r.stdout != want {
		t.Errorf("check-config: %v\nwant stdout %q", r, want)
	}

	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(e.config, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(e.dir, "new.db")
	write("store: {path: " + fresh + "}\nrecording: {dir: " + e.recDir + "}\n")
	r = e.run("serve", "--check-config")
	if r.code != exitOK || !strings.Contains(r.stdout, "store "+fresh+": does not exist yet; serve creates it") {
		t.Errorf("check-config with a new database: %v", r)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("--check-config created the database")
	}

	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"directory missing", "store: {path: " + filepath.Join(e.dir, "missing", "recgate.db") + "}\n", exitUnavailable,
			"store.path " + filepath.Join(e.dir, "missing", "recgate.db") + ": directory " + filepath.Join(e.dir, "missing") + " does not exist"},
		{"not a database", "store: {path: " + e.config + "}\n", exitUnavailable, "store.path " + e.config + " is not a SQLite database"},
		{"a directory", "store: {path: " + e.dir + "}\n", exitUnavailable, "store.path " + e.dir + " is a directory"},
		{"bare duration", "store: {path: " + e.db + "}\nagi: {read_timeout: 5}\n", exitInvalid, "agi.read_timeout: 5 has no unit"},
		// serve refuses a group that does not exist: so must the check.
		{"unknown store.group", "store: {path: " + e.db + ", group: no-such-group-recgate}\n", exitInvalid,
			`store.group "no-such-group-recgate": no such group on this system`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(tt.body)
			r := e.run("serve", "--check-config")
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("%v\nwant exit %d and %q", r, tt.code, tt.want)
			}
		})
	}
	// A rules_file that does not parse is reported, not fatal: serve keeps
	// the database's rules, better than not starting at all.
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	write("store: {path: " + e.db + "}\nrules_file: " + rulesPath + "\n")
	r = e.run("serve", "--check-config")
	if r.code != exitOK || !strings.Contains(r.stdout, "rules_file "+rulesPath+": NOT applied; serve keeps the rules in the database until it is fixed: ") {
		t.Errorf("missing rules_file: %v", r)
	}
	if err := os.WriteFile(rulesPath, []byte("stations:\n  \"1001\": {kind: phone}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.run("serve", "--check-config")
	if r.code != exitOK || !strings.Contains(r.stdout, rulesPath+":2: station \"1001\": invalid kind") {
		t.Errorf("bad rules_file: %v", r)
	}
	if err := os.WriteFile(rulesPath, []byte(e2eRules), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.run("serve", "--check-config")
	if r.code != exitOK || !strings.Contains(r.stdout, "rules_file "+rulesPath+": ok (1 groups, 4 stations)") {
		t.Errorf("good rules_file: %v", r)
	}

	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		ro := filepath.Join(e.dir, "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		write("store: {path: " + filepath.Join(ro, "recgate.db") + "}\n")
		if r := e.run("serve", "--check-config"); r.code != exitUnavailable || !strings.Contains(r.stderr, "cannot create files in "+ro) {
			t.Errorf("read-only directory: %v", r)
		}
	}
}

// TestInit: init writes a configuration and an empty database that the
// other verbs then use, and refuses to overwrite either.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	r := runEnv(nil, "init", "--dir", dir)
	cfg, db := filepath.Join(dir, "recgate.yaml"), filepath.Join(dir, "recgate.db")
	if r.code != exitOK || !strings.Contains(r.stdout, "wrote "+cfg) || !strings.Contains(r.stdout, "created "+db) {
		t.Fatalf("init: %v", r)
	}
	c, err := LoadConfig(cfg, nil)
	if err != nil {
		t.Fatalf("init's configuration does not load: %v", err)
	}
	want := DefaultConfig()
	want.Store.Path = db
	if c.Store != want.Store || c.RulesFile != "" || c.AGI.Listen != want.AGI.Listen || c.Recording != want.Recording {
		t.Errorf("init's configuration: %+v", c)
	}
	if r := runEnv(nil, "--config", cfg, "serve", "--check-config"); r.code != exitOK {
		t.Errorf("check-config of init's configuration: %v", r)
	}
	if r := runEnv(nil, "--config", cfg, "station", "add", "1001", "--name", "Paweł"); r.code != exitOK {
		t.Errorf("station add against init's database: %v", r)
	}
	before, _ := os.ReadFile(cfg)
	r = runEnv(nil, "init", "--dir", dir)
	if r.code != exitConflict || !strings.Contains(r.stderr, cfg+" already exists; nothing written") {
		t.Errorf("second init: %v", r)
	}
	if after, _ := os.ReadFile(cfg); !bytes.Equal(before, after) {
		t.Error("second init changed the configuration")
	}
	if r := runEnv(nil, "--config", cfg, "station", "list"); !strings.Contains(r.stdout, "Paweł") {
		t.Errorf("second init lost the database: %v", r)
	}
}

// TestVersion: --version and `recgate version` print the same line.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := runEnv(nil, args...)
		if r.code != exitOK || r.stdout != versionLine()+"\n" || !strings.HasPrefix(r.stdout, "recgate "+version+" (revision "+revision+", go") {
			t.Errorf("recgate %s: %v", args[0], r)
		}
	}
}
