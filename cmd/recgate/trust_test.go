package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/recgate/recgate/rules"
)

// rulesFileEnv is a CLI environment whose configuration sets rules_file,
// with the rules of that file already in the database.
func rulesFileEnv(t *testing.T) (*cliEnv, string) {
	t.Helper()
	e := newCLIEnv(t)
	rulesPath := filepath.Join(e.dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(e2eRules), 0o644); err != nil {
		t.Fatal(err)
	}
	e.ok("rules", "import", rulesPath)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append(cfg, []byte("rules_file: "+rulesPath+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	return e, rulesPath
}

// TestRulesFileRefusesWriters: with rules_file set, every verb that changes
// the rules refuses (exit 4) naming the file and writes nothing, since the
// next apply of the file would silently undo the change; reading verbs
// work; --override-rules-file makes the change, with a warning.
func TestRulesFileRefusesWriters(t *testing.T) {
	e, rulesPath := rulesFileEnv(t)
	before, audit := e.export(), len(e.audit())
	writers := [][]string{
		{"station", "add", "3001"},
		{"station", "set", "1001", "--name", "x"},
		{"station", "rm", "1001"},
		{"group", "add", "support"},
		{"group", "set", "sales", "--retention-days", "7"},
		{"group", "rm", "sales", "--force"},
		{"rule", "set", "1001", "outbound", "off"},
		{"rule", "unset", "1002", "outbound"},
		{"rule", "set", "default", "internal", "auto"},
		{"rules", "import", rulesPath},
		{"tenant", "add", "acme"},
		{"tenant", "set", "default", "--name", "x"},
		{"tenant", "rm", "default"},
	}
	want := "recgate: the rules are managed by rules_file " + rulesPath + ": a change made here would be undone when that file is next applied; edit the file instead (or pass --override-rules-file to change the database until then)\n"
	for _, args := range writers {
		r := e.run(args...)
		if r.code != exitConflict || r.stderr != want || r.stdout != "" {
			t.Errorf("recgate %s: %v\nwant exit 4 and %q", strings.Join(args, " "), r, want)
		}
	}
	if got := e.export(); got != before {
		t.Errorf("a refused verb changed the rules:\n%s", got)
	}
	if n := len(e.audit()); n != audit {
		t.Errorf("refused verbs wrote %d audit row(s)", n-audit)
	}
	for _, args := range [][]string{{"station", "list"}, {"group", "list"}, {"explain", "1001", "outbound"}, {"rules", "export"}} {
		e.ok(args...)
	}
	// A dry run writes nothing: it is how an operator checks the next
	// version of the file before renaming it over the watched one.
	next := filepath.Join(e.dir, "rules.yaml.next")
	if err := os.WriteFile(next, []byte(strings.Replace(before, "group: sales}", "group: sales, outbound: ondemand}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := e.ok("rules", "import", next, "--dry-run"); !strings.Contains(out, "would apply (dry run, nothing written)") || !strings.Contains(out, "outbound") {
		t.Errorf("rules import --dry-run under rules_file:\n%s", out)
	}
	if got := e.export(); got != before {
		t.Errorf("a dry run changed the rules:\n%s", got)
	}

	r := e.run("rule", "set", "1001", "outbound", "off", "--override-rules-file")
	if r.code != exitOK || !strings.Contains(r.stdout, "station:1001  outbound") ||
		r.stderr != "recgate: warning: rules_file "+rulesPath+" manages the rules; this change lasts until the file is next applied\n" {
		t.Errorf("--override-rules-file: %v", r)
	}
}

// TestImportRefusesDeletionWithoutPrune: an import that would delete
// stations or groups says how many, which, and refuses (exit 4, nothing
// written) unless --prune; a dry run shows the changes and refuses alike.
func TestImportRefusesDeletionWithoutPrune(t *testing.T) {
	e := newCLIEnv(t)
	full := filepath.Join(e.dir, "full.yaml")
	if err := os.WriteFile(full, []byte(e2eRules), 0o644); err != nil {
		t.Fatal(err)
	}
	e.ok("rules", "import", full)
	before := e.export()

	half := filepath.Join(e.dir, "half.yaml")
	if err := os.WriteFile(half, []byte("stations:\n  \"1001\": {name: \"Anna\", kind: sip_phone}\n  \"2000\": {kind: softphone}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(e.dir, "empty.yaml")
	if err := os.WriteFile(empty, []byte("stations: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, want string
	}{
		{half, "recgate: importing " + half + " would delete 2 station(s) (1002, 1003) and 1 group(s) (sales) that it leaves out; nothing written: add them to the file, or pass --prune to delete them\n"},
		{empty, "recgate: importing " + empty + " would delete 4 station(s) (1001, 1002, 1003, 2000) and 1 group(s) (sales) that it leaves out; nothing written: add them to the file, or pass --prune to delete them\n"},
	}
	for _, tt := range tests {
		r := e.run("rules", "import", tt.file)
		if r.code != exitConflict || r.stderr != tt.want || r.stdout != "" {
			t.Errorf("import %s: %v\nwant exit 4 and %q", tt.file, r, tt.want)
		}
		r = e.run("rules", "import", tt.file, "--dry-run")
		if r.code != exitConflict || r.stderr != tt.want || !strings.Contains(r.stdout, "station:1002  deleted") {
			t.Errorf("import --dry-run %s: %v\nwant the changes, exit 4 and %q", tt.file, r, tt.want)
		}
	}
	if got := e.export(); got != before {
		t.Fatalf("a refused import changed the rules:\n%s", got)
	}
	if r := e.run("rules", "import", half, "--dry-run", "--prune"); r.code != exitOK || r.stderr != "" {
		t.Errorf("dry run with --prune: %v", r)
	}
	out := e.ok("rules", "import", half, "--prune")
	if !strings.Contains(out, "station:1002  deleted") || !strings.Contains(out, "group:sales   deleted") {
		t.Errorf("import --prune:\n%s", out)
	}
	if got := e.export(); strings.Contains(got, "1002") || strings.Contains(got, "sales") {
		t.Errorf("after --prune:\n%s", got)
	}
	// Adding and changing need no --prune.
	e.ok("rules", "import", full)
}

// TestControlCharactersRefused: an escape sequence, a newline or a tab in a
// free-text flag is refused with a clear message; Polish letters are fine.
func TestControlCharactersRefused(t *testing.T) {
	e := newCLIEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"station", "add", "1001", "--name", "\x1b[31mAnna"}, `recgate: station 1001: name: "\x1b[31mAnna" holds the control character U+001B at character 1; use letters, digits, spaces and punctuation only` + "\n"},
		{[]string{"station", "add", "1001", "--name", "Anna\n1002  Fake"}, "U+000A"},
		{[]string{"station", "add", "1001", "--actor", "root\x1b]0;x\x07"}, `recgate: --actor: "root\x1b]0;x\a" holds the control character U+001B`},
		{[]string{"retention", "run", "--actor", "cron\tjob"}, `recgate: --actor: "cron\tjob" holds the control character U+0009`},
		{[]string{"tenant", "add", "acme", "--name", "ACME\x1b[8m"}, `recgate: tenant acme: name: "ACME\x1b[8m" holds the control character U+001B`},
		// read-only verbs echo their arguments: refused too, never printed raw
		{[]string{"explain", "99\x1b[2J", "outbound"}, `recgate: STATION: "99\x1b[2J" holds the control character U+001B`},
		{[]string{"rule", "set", "\x1b[2J", "outbound", "auto"}, `recgate: invalid station id "\x1b[2J"`},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != exitInvalid || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("recgate %q: %v\nwant exit 2 and %q", tt.args, r, tt.want)
		}
	}
	if n := len(e.audit()); n != 0 {
		t.Errorf("refused commands wrote %d audit row(s)", n)
	}
	e.ok("station", "add", "1001", "--name", "Paweł Żółć (recepcja)", "--actor", "łukasz")
	if out := e.ok("station", "list"); !strings.Contains(out, "Paweł Żółć (recepcja)") {
		t.Errorf("station list:\n%s", out)
	}
}

// TestStoredControlCharactersPrintedEscaped: text stored before validation
// existed (or written by another tool) is printed with its escapes visible
// by station list, group list, audit list and recordings list, never raw.
func TestStoredControlCharactersPrintedEscaped(t *testing.T) {
	e := newCLIEnv(t)
	e.ok("group", "add", "sales")
	e.ok("station", "add", "1001", "--group", "sales")
	db, err := sql.Open("sqlite3", e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const evil = "\x1b[2J\x1b]0;owned\x07"
	for _, q := range []string{
		`UPDATE stations SET name = ? WHERE id = '1001'`,
		`INSERT INTO audit (at, actor, object, field, "before", "after") VALUES ('2026-11-24T10:00:00Z', ?, 'station:1001', 'name', '', 'x')`,
	} {
		if _, err := db.Exec(q, evil); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	now := time.Now()
	rec := &rules.Recording{UniqueID: "U1", Station: "1001" + evil, Mode: rules.Auto, Trigger: rules.TriggerAuto,
		Rule: "default" + evil, File: filepath.Join(e.recDir, "a.wav"), State: rules.StateEnded, StartedAt: &now}
	if err := e.openStore().SaveRecordings(t.Context(), []*rules.Recording{rec}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"station", "list"}, {"group", "list"}, {"audit", "list"}, {"recordings", "list"}} {
		out := e.ok(args...)
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("recgate %s printed a raw control character:\n%q", strings.Join(args, " "), out)
		}
	}
	if out := e.ok("station", "list"); !strings.Contains(out, `"\x1b[2J\x1b]0;owned\a"`) {
		t.Errorf("station list does not show the name escaped:\n%s", out)
	}
}

// TestRetentionDryRunWithNothingDue: a dry run with nothing due says so,
// rather than printing nothing.
func TestRetentionDryRunWithNothingDue(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.ok("retention", "run", "--dry-run"); out != "retention (dry run, nothing deleted): 0 would be deleted, 0 would be skipped\n" {
		t.Errorf("retention run --dry-run with nothing due: %q", out)
	}
}
