package store

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// TestMigrationToTenantsKeepsEveryRow builds a database with the previous
// release's migrations (0001-0004) and rows in every rules table, opens it
// with this release, and checks that every row is still there, now in
// tenant default, and resolves as before.
func TestMigrationToTenantsKeepsEveryRow(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var previous []migration
	for _, m := range ms {
		if m.version <= 4 {
			previous = append(previous, m)
		}
	}
	raw, err := sql.Open("sqlite3", path+"?"+dsnParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, raw, time.Now, previous); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO groups (name, profile, announce, retention_days) VALUES
			('sales', 'sales', NULL, 90), ('board', 'management', 0, NULL), ('empty', '', 1, 0)`,
		`INSERT INTO stations (id, name, kind, group_name, announce, retention_days) VALUES
			('1001', 'Anna (sales desk)', 'sip_phone', 'sales', NULL, NULL),
			('1002', '', 'mobile_app', 'sales', 1, 7),
			('2001', '', 'softphone', 'board', NULL, NULL),
			('3001', 'lobby', '', NULL, 0, NULL)`,
		`INSERT INTO rules (id, station_id, group_name, direction, mode) VALUES
			(3, NULL, NULL, 'inbound_queue', 'auto'),
			(5, NULL, 'board', 'outbound', 'ondemand'),
			(8, '1002', NULL, 'inbound_direct', 'auto'),
			(9, '3001', NULL, 'internal', 'off')`,
		`UPDATE settings SET default_announce = 1`,
		`INSERT INTO audit (at, actor, object, field, "before", "after") VALUES
			('2026-11-01T10:00:00.000000000Z', 'alice', 'station:1001', 'created', '', ''),
			('2026-11-01T10:00:00.000000000Z', 'alice', 'default', 'announce', 'no', 'yes')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before, err := readRules(ctx, mustConn(t, raw))
	if err == nil {
		t.Fatalf("the previous schema must not read as tenants: %v", before)
	}
	oldRules := dumpTable(t, raw, "SELECT id, coalesce(station_id, ''), coalesce(group_name, ''), direction, mode FROM rules ORDER BY id")
	oldStations := dumpTable(t, raw, "SELECT id, name, kind, coalesce(group_name, ''), announce, retention_days FROM stations ORDER BY id")
	oldGroups := dumpTable(t, raw, "SELECT name, profile, announce, retention_days FROM groups ORDER BY name")
	raw.Close()

	s := openTest(t, path)
	if got := dumpTable(t, s.db, "SELECT id, coalesce(station_id, ''), coalesce(group_name, ''), direction, mode FROM rules ORDER BY id"); !reflect.DeepEqual(got, oldRules) {
		t.Errorf("rules after migration:\n%v\nwant\n%v", got, oldRules)
	}
	if got := dumpTable(t, s.db, "SELECT id, name, kind, coalesce(group_name, ''), announce, retention_days FROM stations ORDER BY id"); !reflect.DeepEqual(got, oldStations) {
		t.Errorf("stations after migration:\n%v\nwant\n%v", got, oldStations)
	}
	if got := dumpTable(t, s.db, "SELECT name, profile, announce, retention_days FROM groups ORDER BY name"); !reflect.DeepEqual(got, oldGroups) {
		t.Errorf("groups after migration:\n%v\nwant\n%v", got, oldGroups)
	}
	for _, q := range []string{
		"SELECT count(*) FROM stations WHERE tenant <> 'default'",
		"SELECT count(*) FROM groups WHERE tenant <> 'default'",
		"SELECT count(*) FROM rules WHERE group_name IS NOT NULL AND tenant IS NOT 'default'",
		"SELECT count(*) FROM rules WHERE group_name IS NULL AND tenant IS NOT NULL",
	} {
		var n int
		if err := s.db.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s = %d, %v; want 0", q, n, err)
		}
	}
	audit, err := s.AuditEntries(ctx, AuditFilter{Tenant: rules.DefaultTenant})
	if err != nil || len(audit) != 1 || audit[0].Object != "station:1001" {
		t.Errorf("default tenant's audit = %+v, %v; want the station's entry", audit, err)
	}
	if all, _ := s.Audit(ctx, time.Time{}); len(all) != 2 {
		t.Errorf("audit has %d rows, want 2", len(all))
	}

	rs, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := rules.NewRuleSet()
	want.Defaults = rules.Defaults{Modes: rules.ModeSet{rules.InboundQueue: rules.Auto}, Announce: true}
	g := want.Groups(rules.DefaultTenant)
	g["sales"] = &rules.Group{Name: "sales", Profile: "sales", RetentionDays: ptr(90)}
	g["board"] = &rules.Group{Name: "board", Profile: "management", Announce: ptr(false), Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	g["empty"] = &rules.Group{Name: "empty", Announce: ptr(true), RetentionDays: ptr(0)}
	d := rules.DefaultTenant
	want.Stations["1001"] = &rules.Station{ID: "1001", Tenant: d, Name: "Anna (sales desk)", Kind: rules.SIPPhone, Group: "sales"}
	want.Stations["1002"] = &rules.Station{ID: "1002", Tenant: d, Kind: rules.MobileApp, Group: "sales", Announce: ptr(true),
		RetentionDays: ptr(7), Modes: rules.ModeSet{rules.InboundDirect: rules.Auto}}
	want.Stations["2001"] = &rules.Station{ID: "2001", Tenant: d, Kind: rules.Softphone, Group: "board"}
	want.Stations["3001"] = &rules.Station{ID: "3001", Tenant: d, Name: "lobby", Announce: ptr(false), Modes: rules.ModeSet{rules.Internal: rules.Off}}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("rules after migration:\n got %#v\nwant %#v", rs, want)
	}
	// Changes keep working on the migrated schema, and the rules counter
	// still moves on every rules table, tenants included.
	if _, err := s.UpdateRules(ctx, "bob", func(rs *rules.RuleSet) error {
		delete(rs.Groups(rules.DefaultTenant), "board")
		delete(rs.Stations, "2001")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var n0, n1 int64
	s.db.QueryRow("SELECT n FROM rules_version").Scan(&n0)
	if _, err := s.db.Exec("UPDATE tenants SET name = 'x' WHERE id = 'default'"); err != nil {
		t.Fatal(err)
	}
	s.db.QueryRow("SELECT n FROM rules_version").Scan(&n1)
	if n1 != n0+1 {
		t.Errorf("rules_version %d -> %d after a tenant update", n0, n1)
	}
}

func mustConn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dumpTable(t *testing.T, db *sql.DB, q string) [][]any {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
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

// twoTenants is sampleRules plus tenant acme with a group of the same
// name as one of default's.
func twoTenants() *rules.RuleSet {
	rs := sampleRules()
	acme := rules.NewTenant("acme")
	acme.Name = "ACME"
	acme.TimeZone = "UTC"
	acme.Modes = rules.ModeSet{rules.InboundDirect: rules.OnDemand}
	acme.RetentionDays = ptr(30)
	acme.AnnounceRequired = true
	acme.Groups["sales"] = &rules.Group{Name: "sales", Profile: "record-all", Modes: rules.ModeSet{rules.Internal: rules.Auto}}
	rs.Tenants["acme"] = acme
	rs.Stations["acme-1"] = &rules.Station{ID: "acme-1", Tenant: "acme", Kind: rules.SIPPhone, Group: "sales",
		Modes: rules.ModeSet{rules.Outbound: rules.Off}}
	rs.Stations["acme-2"] = &rules.Station{ID: "acme-2", Tenant: "acme", Kind: rules.Softphone}
	return rs
}

func TestTenantsRoundTripAndScopedReads(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	want := twoTenants()
	changes, err := s.ReplaceRules(ctx, "op", want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Rules:\n got %#v\nwant %#v", got, want)
	}
	for _, c := range changes {
		wantTenant := rules.DefaultTenant
		switch {
		case c.Object == "default":
			wantTenant = ""
		case c.Object == "tenant:acme" || c.Object == "station:acme-1" || c.Object == "station:acme-2":
			wantTenant = "acme"
		case c.Object == "group:sales" && c.After == "record-all":
			wantTenant = "acme"
		}
		if c.Object == "group:sales" && c.Tenant == "acme" && c.Field == "profile" && c.After != "record-all" {
			t.Errorf("acme's group change %+v", c)
		}
		if c.Object != "group:sales" && c.Tenant != wantTenant {
			t.Errorf("change %+v: tenant %q, want %q", c, c.Tenant, wantTenant)
		}
	}
	if d := got.Resolve("acme-1", rules.InboundQueue); d.Rule != "group:sales" || d.Mode != rules.Auto || !d.Announce || d.Tenant != "acme" {
		t.Errorf("Resolve(acme-1) = %+v", d)
	}

	// Scoped reads.
	list, err := s.Stations(ctx, StationFilter{Tenant: "acme"})
	if err != nil || len(list) != 2 || !reflect.DeepEqual(list[0], want.Stations["acme-1"]) || !reflect.DeepEqual(list[1], want.Stations["acme-2"]) {
		t.Errorf("Stations(acme) = %v, %v", list, err)
	}
	all, err := s.Stations(ctx, StationFilter{})
	if err != nil || len(all) != 5 {
		t.Errorf("Stations(all) = %d, %v", len(all), err)
	}
	page, err := s.Stations(ctx, StationFilter{Tenant: rules.DefaultTenant, After: "1001", Limit: 1})
	if err != nil || len(page) != 1 || !reflect.DeepEqual(page[0], want.Stations["1002"]) {
		t.Errorf("Stations(default, after 1001, limit 1) = %v, %v", page, err)
	}
	inGroup, err := s.Stations(ctx, StationFilter{Tenant: rules.DefaultTenant, Group: "sales"})
	if err != nil || len(inGroup) != 2 || inGroup[0].ID != "1001" || inGroup[1].ID != "1002" {
		t.Errorf("Stations(default, group sales) = %v, %v", inGroup, err)
	}
	if st, err := s.Station(ctx, "acme", "acme-1"); err != nil || !reflect.DeepEqual(st, want.Stations["acme-1"]) {
		t.Errorf("Station(acme, acme-1) = %+v, %v", st, err)
	}
	if st, err := s.Station(ctx, AllTenants, "acme-1"); err != nil || st.Tenant != "acme" {
		t.Errorf("Station(all, acme-1) = %+v, %v", st, err)
	}
	if _, err := s.Station(ctx, rules.DefaultTenant, "acme-1"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("another tenant's station: %v, want %s", err, rules.ENOTFOUND)
	}
	if _, err := s.Station(ctx, "acme", "nope"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("missing station: %v, want %s", err, rules.ENOTFOUND)
	}
	groups, err := s.Groups(ctx, "acme")
	if err != nil || len(groups) != 1 || !reflect.DeepEqual(groups[0], want.Group("acme", "sales")) {
		t.Errorf("Groups(acme) = %v, %v", groups, err)
	}
	if g, err := s.Group(ctx, rules.DefaultTenant, "board"); err != nil || !reflect.DeepEqual(g, want.Group(rules.DefaultTenant, "board")) {
		t.Errorf("Group(default, board) = %+v, %v", g, err)
	}
	if _, err := s.Group(ctx, "acme", "board"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("another tenant's group: %v, want %s", err, rules.ENOTFOUND)
	}
	tenant, err := s.Tenant(ctx, "acme")
	wantTenant := want.Tenants["acme"].Clone()
	wantTenant.Groups = map[string]*rules.Group{}
	if err != nil || !reflect.DeepEqual(tenant, wantTenant) {
		t.Errorf("Tenant(acme) = %+v, %v", tenant, err)
	}
	if _, err := s.Tenant(ctx, "nope"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("missing tenant: %v, want %s", err, rules.ENOTFOUND)
	}
	tenants, err := s.Tenants(ctx)
	if err != nil || len(tenants) != 2 || tenants[0].ID != "acme" || !reflect.DeepEqual(tenants[0], wantTenant) || tenants[1].ID != rules.DefaultTenant {
		t.Errorf("Tenants = %v, %v", tenants, err)
	}
	acmeAudit, err := s.AuditEntries(ctx, AuditFilter{Tenant: "acme"})
	if err != nil || len(acmeAudit) == 0 {
		t.Fatalf("acme audit: %v, %v", acmeAudit, err)
	}
	for _, e := range acmeAudit {
		if e.Tenant != "acme" {
			t.Errorf("acme's audit holds %+v", e)
		}
	}

	// Removing a tenant removes its stations, groups and rule rows.
	if _, err := s.UpdateRules(ctx, "op", func(rs *rules.RuleSet) error {
		delete(rs.Tenants, "acme")
		delete(rs.Stations, "acme-1")
		delete(rs.Stations, "acme-2")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	s.db.QueryRow("SELECT (SELECT count(*) FROM rules WHERE tenant = 'acme') + (SELECT count(*) FROM groups WHERE tenant = 'acme')").Scan(&n)
	if n != 0 {
		t.Errorf("%d rows of a removed tenant remain", n)
	}
	if got, _ := s.LoadRules(ctx); !reflect.DeepEqual(got, sampleRules()) {
		t.Errorf("after removing acme:\n got %#v\nwant %#v", got, sampleRules())
	}
}

// TestTenantInvariantsInTheDatabase: a station cannot join a group of
// another tenant, even written by hand, and group names are unique per
// tenant only.
func TestTenantInvariantsInTheDatabase(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	if _, err := s.ReplaceRules(ctx, "op", twoTenants()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE stations SET group_name = 'board' WHERE id = 'acme-1'",
		"INSERT INTO groups (tenant, name) VALUES ('acme', 'sales')",
		"INSERT INTO stations (id, tenant) VALUES ('x', 'nope')",
		"INSERT INTO tenants (id, announce_required) VALUES ('t2', 2)",
	} {
		if _, err := s.db.ExecContext(ctx, q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
	// An invalid rule set through the store writes nothing.
	_, err := s.UpdateRules(ctx, "op", func(rs *rules.RuleSet) error {
		rs.Stations["acme-2"].Group = "board" // default's group, not acme's
		return nil
	})
	if rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("station joining another tenant's group: %v, want %s", err, rules.EINVALID)
	}
	if _, err := s.db.ExecContext(ctx, "INSERT INTO groups (tenant, name) VALUES ('acme', 'board')"); err != nil {
		t.Errorf("a group name used in another tenant: %v", err)
	}
}

func TestRecordingsByTenant(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	now := time.Now()
	recs := []*rules.Recording{
		{UniqueID: "u1", Tenant: "acme", Station: "acme-1", Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now},
		{UniqueID: "u2", Tenant: rules.DefaultTenant, Station: "1001", Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now},
		{UniqueID: "u3", Station: "9999", Mode: rules.Auto, State: rules.StateRecording, StartedAt: &now},
	}
	if err := s.SaveRecordings(ctx, recs); err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string][]string{"acme": {"u1"}, rules.DefaultTenant: {"u2"}, AllTenants: {"u1", "u2", "u3"}, "beta": nil} {
		list, err := s.Recordings(ctx, RecordingFilter{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range list {
			got = append(got, r.UniqueID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("Recordings(tenant %q) = %v, want %v", tenant, got, want)
		}
	}
	if r, err := s.Recording(ctx, recs[0].ID); err != nil || r.Tenant != "acme" {
		t.Errorf("Recording = %+v, %v; want tenant acme", r, err)
	}
}

// TestScopedReadsUseIndexes: the API's reads are index searches, never a
// scan of a table or a sort of a whole tenant, so a page costs the same
// with ten stations or a hundred thousand.
func TestScopedReadsUseIndexes(t *testing.T) {
	s := openTest(t, tempDB(t))
	queries := map[string]string{
		"station":            fmt.Sprintf(stationsQuery, qualified(stationColumns, "s"), "WHERE id = ? AND tenant = ?", ""),
		"page of a tenant":   fmt.Sprintf(stationsQuery, qualified(stationColumns, "s"), "WHERE tenant = ? AND id > ?", "LIMIT 50"),
		"page of a group":    fmt.Sprintf(stationsQuery, qualified(stationColumns, "s"), "WHERE tenant = ? AND group_name = ? AND id > ?", "LIMIT 50"),
		"group":              fmt.Sprintf(groupsQuery, qualified(groupColumns, "g"), "AND g.name = ?"),
		"groups of a tenant": fmt.Sprintf(groupsQuery, qualified(groupColumns, "g"), ""),
		"tenant":             fmt.Sprintf(tenantsQuery, qualified(tenantColumns, "t"), "WHERE t.id = ?"),
		"audit of a tenant":  `SELECT id FROM audit WHERE at >= ? AND id > ? AND tenant = ? ORDER BY id LIMIT 50`,
	}
	for name, q := range queries {
		rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, "a", "b", "c")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.Contains(step, "TEMP B-TREE") || strings.HasPrefix(step, "SCAN ") && step != "SCAN s" {
				t.Errorf("%s: plan %q scans or sorts", name, plan)
			}
		}
	}
}
