package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/recgate/recgate/store"
)

// TestRulesFileAppliedAtStartAndOnChange: rules_file is applied when the
// server starts and again when its content changes (audited as
// rules_file); a broken edit is refused and the rules in force stay.
func TestRulesFileAppliedAtStartAndOnChange(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	write := func(body string) {
		t.Helper()
		tmp := rulesPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesPath); err != nil { // as editors and config management do
			t.Fatal(err)
		}
	}
	write(strings.Replace(e2eRules, `"1003": {kind: sip_phone, group: sales, outbound: off}`, `"1003": {kind: sip_phone, group: sales, outbound: auto}`, 1))
	h := startServer(t, "rules_file: "+rulesPath)

	decision := func(uid string) string {
		ast, _ := h.call("0016-arm", outbound("1003", uid), nil)
		d, _ := ast.Var("RECGATE_DECISION")
		return d
	}
	if d := decision("W1"); d != "auto" {
		t.Fatalf("at start: %q, want auto from the rules file", d)
	}
	write(e2eRules) // 1003 outbound off
	waitFor(t, 5*time.Second, func() bool { return decision("W2") == "off" })

	write("stations: [not, a, mapping]\n")
	time.Sleep(1500 * time.Millisecond) // a poll or more
	if d := decision("W3"); d != "off" {
		t.Errorf("after a broken edit: %q, want the rules in force kept (off)", d)
	}
	if !strings.Contains(h.logs.String(), "rules_file: not applied") {
		t.Error("the broken edit was not logged")
	}
	out, _, _ := h.cli("audit", "list", "--json")
	var entries []store.AuditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Actor == rulesFileActor && e.Object == "station:1003" && e.Field == "outbound" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d audit rows by %s for station:1003 outbound, want 2 (start, change)", n, rulesFileActor)
	}
}

func waitFor(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDecisionsWhileAnotherProcessHoldsTheWriteLock: another process (a
// second connection) holds a write transaction on the database; every
// call still gets its decision from the rules, and a change committed
// after the lock is released applies to the next call.
func TestDecisionsWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	h := startServer(t, "")
	db, err := sql.Open("sqlite3", h.m.Config.Store.Path+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE rules SET mode = 'auto' WHERE station_id = '1003' AND direction = 'outbound'"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		ast, _ := h.call("0016-arm", outbound("1003", "LK"+string(rune('0'+i))), nil)
		if d, _ := ast.Var("RECGATE_DECISION"); d != "off" {
			t.Fatalf("while locked: RECGATE_DECISION = %q, want off (the uncommitted change is not visible)", d)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	ast, _ := h.call("0016-arm", outbound("1003", "LK9"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
		t.Errorf("after the commit: RECGATE_DECISION = %q, want auto", d)
	}
}
