package store

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// TestMigrationRebuildsRecordingsWithoutLosingRows: migration 4 rebuilds
// the recordings table (its CHECK constraints changed); a database at
// version 3 with recordings keeps every row, id and index, and the
// constraints still refuse what they refused.
func TestMigrationRebuildsRecordingsWithoutLosingRows(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var upTo3 []migration
	for _, m := range ms {
		if m.version <= 3 {
			upTo3 = append(upTo3, m)
		}
	}
	raw, err := sql.Open("sqlite3", path+"?"+dsnParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, raw, time.Now, upTo3); err != nil {
		t.Fatal(err)
	}
	// Rows as version 3 stored them, ids with a gap.
	if _, err := raw.Exec(`INSERT INTO recordings (id, uniqueid, linkedid, tenant, station, direction, mode, trigger_by,
		rule, file, callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at, answered, deleted_at) VALUES
		(7, '1795511818.7', '1795511818.1', 't1', '1001', 'outbound', 'auto', 'auto', 'group:sales', '/r/a.wav',
		 '"Ann" <100>', '', '', 'ended', NULL, '2026-11-20T10:00:00Z', NULL, '2026-11-20T10:05:00Z', 1, NULL),
		(9, '1795511818.9', '1795511818.9', '', '1002', 'inbound_queue', 'ondemand', '', 'default', '',
		 '', '5550100', 'support', 'not_activated', '2026-11-21T09:00:00Z', NULL, NULL, '2026-11-21T09:01:00Z', 0, NULL)`); err != nil {
		t.Fatal(err)
	}
	before := dumpRecordings(t, raw)
	raw.Close()
	before[1][3] = "default" // migration 5: recordings from before tenants are the default tenant's

	s := openTest(t, path)
	if got := dumpRecordings(t, s.db); !reflect.DeepEqual(got, before) {
		t.Errorf("rows after migration:\n%v\nwant\n%v", got, before)
	}
	var version int
	if err := s.db.QueryRow("SELECT max(version) FROM schema_migrations").Scan(&version); err != nil || version < 4 {
		t.Fatalf("schema version %d, %v", version, err)
	}
	for _, idx := range []string{"recordings_station", "recordings_time"} {
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?", idx).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s: %d, %v", idx, n, err)
		}
	}
	// The constraints still hold, and a new row takes the next id.
	bad := []string{
		`INSERT INTO recordings (uniqueid, station, mode, state) VALUES ('x1', '1', 'sometimes', 'ended')`,
		`INSERT INTO recordings (uniqueid, station, mode, state) VALUES ('x2', '1', 'auto', 'lost')`,
		`INSERT INTO recordings (uniqueid, station, mode, state, direction) VALUES ('x3', '1', 'auto', 'ended', 'sideways')`,
		`INSERT INTO recordings (uniqueid, station, mode, state, trigger_by) VALUES ('x4', '1', 'auto', 'ended', 'voice')`,
		`INSERT INTO recordings (uniqueid, station, mode, state, answered) VALUES ('x5', '1', 'auto', 'ended', 2)`,
		`INSERT INTO recordings (uniqueid, station, mode, state) VALUES ('1795511818.7', '1', 'auto', 'ended')`,
	}
	for _, q := range bad {
		if _, err := s.db.Exec(q); err == nil || !strings.Contains(err.Error(), "constraint failed") {
			t.Errorf("%s: %v, want a constraint failure", q, err)
		}
	}
	now := time.Now()
	rec := &rules.Recording{UniqueID: "1795511818.10", Station: "1003", Direction: rules.Outbound, Mode: rules.Auto,
		Trigger: rules.TriggerAuto, State: rules.StateRecording, StartedAt: &now}
	if err := s.SaveRecordings(ctx, []*rules.Recording{rec}); err != nil {
		t.Fatal(err)
	}
	if rec.ID != 10 {
		t.Errorf("new recording id %d, want 10", rec.ID)
	}
}

// TestRecordingUpsertBuildsNoTemporaryTables: SQLite evaluates a constant
// IN list of more than two values in a CHECK through a temporary b-tree
// built per statement run; the metadata writer's upsert must compare in
// place (migration 4), or every row pays for eight of them.
func TestRecordingUpsertBuildsNoTemporaryTables(t *testing.T) {
	s := openTest(t, tempDB(t))
	args := make([]any, 19)
	rows, err := s.db.Query("EXPLAIN "+upsertRecording, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		n++
		if op, _ := vals[1].(string); op == "OpenEphemeral" {
			t.Errorf("upsert opens a temporary table at addr %v", vals[0])
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("EXPLAIN: %d ops, %v", n, err)
	}
}

func dumpRecordings(t *testing.T, db *sql.DB) [][]any {
	t.Helper()
	rows, err := db.Query(`SELECT id, uniqueid, linkedid, tenant, station, direction, mode, trigger_by, rule, file,
		callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at, answered, deleted_at
		FROM recordings ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, 20)
		ptrs := make([]any, 20)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
