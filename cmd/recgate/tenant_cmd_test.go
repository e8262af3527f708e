package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
)

// fail runs recgate, wants exit code and one stderr line containing each
// of msgs, and returns stderr.
func (e *cliEnv) fail(code int, msgs []string, args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code || strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n") != 0 || r.stdout != "" {
		e.t.Errorf("recgate %s: want exit %d and one error line, got %v", strings.Join(args, " "), code, r)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			e.t.Errorf("recgate %s: stderr %q lacks %q", strings.Join(args, " "), r.stderr, m)
		}
	}
	return r.stderr
}

func TestCLITenantLifecycle(t *testing.T) {
	e := newCLIEnv(t)
	e.ok("tenant", "add", "acme", "--name", "ACME Sp. z o.o.", "--timezone", "Europe/London",
		"--retention-days", "30", "--announce-required", "yes", "--actor", "lead")
	e.ok("tenant", "add", "beta")

	var list []tenantJSON
	decodeJSON(t, e.ok("tenant", "list", "--json"), &list)
	want := []tenantJSON{
		{ID: "acme", Name: "ACME Sp. z o.o.", TimeZone: "Europe/London", RetentionDays: ptrTo(30), AnnounceRequired: true, Defaults: rules.ModeSet{}},
		{ID: "beta", TimeZone: rules.DefaultTimeZone, Defaults: rules.ModeSet{}},
		{ID: rules.DefaultTenant, TimeZone: rules.DefaultTimeZone, Defaults: rules.ModeSet{}},
	}
	if !reflect.DeepEqual(list, want) {
		t.Errorf("tenant list --json:\n got %+v\nwant %+v", list, want)
	}
	wantKeys := []string{"announce_required", "defaults", "groups", "id", "name", "retention_days", "stations", "timezone"}
	for i, keys := range jsonKeys(t, e.ok("tenant", "list", "--json")) {
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("tenant %d JSON keys = %q, want %q", i, keys, wantKeys)
		}
	}

	e.ok("tenant", "set", "acme", "--announce-required", "no", "--retention-days", "inherit", "--name", "ACME")
	e.ok("rule", "set", "tenant:acme", "inbound_direct", "ondemand", "--actor", "lead")
	e.ok("rule", "set", "tenant:beta", "outbound", "auto")
	e.ok("rule", "unset", "tenant:beta", "outbound")
	rows := parseTable(t, e.ok("tenant", "list"), "ID", "NAME", "TIMEZONE", "OUTBOUND", "INBOUND_DIRECT", "INBOUND_QUEUE", "INTERNAL",
		"RETENTION", "ANNOUNCE_REQUIRED", "GROUPS", "STATIONS")
	wantRows := [][]string{
		{"acme", "ACME", "Europe/London", "-", "ondemand", "-", "-", "-", "no", "0", "0"},
		{"beta", "-", rules.DefaultTimeZone, "-", "-", "-", "-", "-", "no", "0", "0"},
		{"default", "-", rules.DefaultTimeZone, "-", "-", "-", "-", "-", "no", "0", "0"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("tenant list:\n got %q\nwant %q", rows, wantRows)
	}

	// Every change is audited with its actor and tenant.
	var acme []change
	for _, a := range e.audit() {
		if a.Tenant != "acme" && a.Tenant != "beta" {
			t.Errorf("audit row %+v: tenant %q", a, a.Tenant)
		}
		if a.Tenant == "acme" {
			acme = append(acme, change{a.Actor, a.Object, a.Field, a.Before, a.After})
		}
	}
	me := defaultActor()
	wantAudit := []change{
		{"lead", "tenant:acme", "created", "", ""},
		{"lead", "tenant:acme", "name", "", "ACME Sp. z o.o."},
		{"lead", "tenant:acme", "timezone", "", "Europe/London"},
		{"lead", "tenant:acme", "retention_days", "", "30"},
		{"lead", "tenant:acme", "announce_required", "", "yes"},
		{me, "tenant:acme", "name", "ACME Sp. z o.o.", "ACME"},
		{me, "tenant:acme", "retention_days", "30", ""},
		{me, "tenant:acme", "announce_required", "yes", "no"},
		{"lead", "tenant:acme", "inbound_direct", "", "ondemand"},
	}
	if !reflect.DeepEqual(acme, wantAudit) {
		t.Errorf("acme's audit:\n got %v\nwant %v", acme, wantAudit)
	}

	// Refusals: one line, the documented exit code, nothing written.
	e.ok("station", "add", "b1", "--tenant", "beta")
	before, auditBefore := e.export(), len(e.audit())
	e.fail(exitConflict, []string{"tenant acme already exists"}, "tenant", "add", "acme")
	e.fail(exitInvalid, []string{`invalid tenant id "Acme"`}, "tenant", "add", "Acme")
	e.fail(exitInvalid, []string{`--timezone: invalid time zone "Mars/Base"`}, "tenant", "set", "acme", "--timezone", "Mars/Base")
	e.fail(exitInvalid, []string{`--announce-required "maybe": use yes or no`}, "tenant", "set", "acme", "--announce-required", "maybe")
	e.fail(exitInvalid, []string{`--retention-days "-3"`}, "tenant", "set", "acme", "--retention-days", "-3")
	e.fail(exitNotFound, []string{`tenant "nope" not found`}, "tenant", "set", "nope", "--name", "x")
	e.fail(exitNotFound, []string{`tenant "nope" not found`}, "tenant", "rm", "nope")
	e.fail(exitConflict, []string{"tenant default cannot be removed"}, "tenant", "rm", "default", "--force")
	e.fail(exitConflict, []string{"tenant beta still has 1 station(s)", "--force"}, "tenant", "rm", "beta")
	e.fail(exitNotFound, []string{`unknown tenant "nope"`, "valid: acme, beta, default"}, "rule", "set", "tenant:nope", "outbound", "auto")
	e.fail(exitInvalid, []string{`invalid mode "always"`}, "rule", "set", "tenant:acme", "outbound", "always")
	if got := e.export(); got != before {
		t.Errorf("a refused command changed the rules:\n%s\nwas\n%s", got, before)
	}
	if n := len(e.audit()); n != auditBefore {
		t.Errorf("refused commands wrote %d audit rows", n-auditBefore)
	}

	e.ok("tenant", "rm", "beta", "--force")
	e.ok("tenant", "rm", "acme")
	if out := e.export(); out != "defaults: {}\ngroups: {}\nstations: {}\n" {
		t.Errorf("after removing the tenants, export is not the empty classic file:\n%s", out)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestCLITenantScopedVerbs(t *testing.T) {
	e := newCLIEnv(t)
	e.ok("tenant", "add", "acme", "--announce-required", "yes")
	e.ok("group", "add", "sales", "--profile", "management")
	e.ok("group", "add", "sales", "--profile", "sales", "--tenant", "acme")
	e.ok("station", "add", "1001", "--group", "sales")
	e.ok("station", "add", "acme-1", "--tenant", "acme", "--group", "sales", "--name", "Anna")
	e.ok("station", "add", "acme-2", "--tenant", "acme")
	e.ok("rule", "set", "group:sales", "internal", "auto", "--tenant", "acme")
	e.ok("rule", "set", "tenant:acme", "inbound_direct", "off")

	// Station ids are global, group names per tenant.
	e.fail(exitConflict, []string{"station acme-1 already exists"}, "station", "add", "acme-1")
	e.fail(exitConflict, []string{"group sales already exists in tenant acme"}, "group", "add", "sales", "--tenant", "acme")
	e.fail(exitNotFound, []string{`unknown group "board" in tenant acme`, "valid: sales"}, "station", "add", "acme-3", "--tenant", "acme", "--group", "board")
	e.fail(exitNotFound, []string{`unknown tenant "nope"`}, "station", "add", "x-1", "--tenant", "nope")
	e.fail(exitNotFound, []string{`unknown tenant "nope"`}, "group", "list", "--tenant", "nope")
	e.fail(exitInvalid, []string{"station acme-1's group sales is tenant acme's: give --group"}, "station", "set", "acme-1", "--tenant", "default")

	rows := parseTable(t, e.ok("station", "list", "--tenant", "acme"), "ID", "NAME", "KIND", "GROUP", "OUTBOUND", "INBOUND_DIRECT",
		"INBOUND_QUEUE", "INTERNAL", "ANNOUNCE")
	wantRows := [][]string{
		{"acme-1", "Anna", "sip_phone", "sales", "auto", "ondemand", "auto", "auto", "-"},
		{"acme-2", "-", "sip_phone", "-", "off", "off", "off", "off", "-"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("station list --tenant acme:\n got %q\nwant %q", rows, wantRows)
	}
	all := parseTable(t, e.ok("station", "list"), "TENANT", "ID", "NAME", "KIND", "GROUP", "OUTBOUND", "INBOUND_DIRECT",
		"INBOUND_QUEUE", "INTERNAL", "ANNOUNCE")
	if len(all) != 3 || all[0][0] != "default" || all[0][1] != "1001" || all[1][0] != "acme" {
		t.Errorf("station list of every tenant: %q", all)
	}
	var list []stationJSON
	decodeJSON(t, e.ok("station", "list", "--json"), &list)
	if len(list) != 3 || list[1].ID != "acme-1" || list[1].Tenant != "acme" || list[0].Tenant != rules.DefaultTenant {
		t.Errorf("station list --json: %+v", list)
	}
	groups := parseTable(t, e.ok("group", "list", "--tenant", "acme"), "NAME", "PROFILE", "OUTBOUND", "INBOUND_DIRECT", "INBOUND_QUEUE",
		"INTERNAL", "ANNOUNCE", "RETENTION", "STATIONS")
	if !reflect.DeepEqual(groups, [][]string{{"sales", "sales", "auto", "ondemand", "auto", "auto*", "-", "-", "1"}}) {
		t.Errorf("group list --tenant acme: %q", groups)
	}
	groups = parseTable(t, e.ok("group", "list"), "NAME", "PROFILE", "OUTBOUND", "INBOUND_DIRECT", "INBOUND_QUEUE",
		"INTERNAL", "ANNOUNCE", "RETENTION", "STATIONS")
	if !reflect.DeepEqual(groups, [][]string{{"sales", "management", "off", "off", "off", "off", "-", "-", "1"}}) {
		t.Errorf("group list (default tenant): %q", groups)
	}

	// explain shows the whole chain, the tenant included.
	var x explainJSON
	decodeJSON(t, e.ok("explain", "acme-2", "inbound_direct", "--json"), &x)
	var levels []string
	for _, c := range x.Chain {
		levels = append(levels, c.Rule)
	}
	if x.Mode != "off" || x.Rule != "tenant:acme" || !slices.Equal(levels, []string{"station:acme-2", "group", "tenant:acme", "default", "built-in"}) {
		t.Errorf("explain acme-2 inbound_direct = %+v", x)
	}
	out := e.ok("explain", "acme-1", "internal")
	for _, want := range []string{"station acme-1 in tenant acme, internal: auto (rule group:sales, announce yes)",
		"=> group:sales", "tenant:acme", "[announce required]"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain acme-1 internal lacks %q:\n%s", want, out)
		}
	}
	if out := e.ok("explain", "1001", "outbound"); !strings.HasPrefix(out, "station 1001, outbound: off") {
		t.Errorf("explain of a default-tenant station:\n%s", out)
	}

	// group rm only sees its tenant's stations.
	e.fail(exitConflict, []string{"group sales still has 1 station(s) (acme-1)"}, "group", "rm", "sales", "--tenant", "acme")
	e.ok("group", "rm", "sales", "--tenant", "acme", "--force")
	if rs := e.openStore(); true {
		got, err := rs.LoadRules(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got.Group(rules.DefaultTenant, "sales") == nil || got.Stations["1001"].Group != "sales" || got.Stations["acme-1"].Group != "" {
			t.Errorf("group rm --tenant acme touched the default tenant")
		}
	}
	// A station moves between tenants with its group.
	e.ok("station", "set", "acme-1", "--tenant", "default", "--group", "sales")
	decodeJSON(t, e.ok("explain", "acme-1", "outbound", "--json"), &x)
	if x.Mode != "off" || x.Rule != "group:sales" {
		t.Errorf("after the move: %+v", x)
	}
}

func TestCLIRulesImportTenant(t *testing.T) {
	e := newCLIEnv(t)
	write := func(name, text string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tenants, err := os.ReadFile("../../rulesfile/testdata/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e.ok("rules", "import", write("all.yaml", string(tenants)), "--actor", "importer")
	first := e.export()
	if first != string(tenants) {
		t.Errorf("export after importing the tenants file:\n%s\nwant:\n%s", first, tenants)
	}
	// export → import → export is identical, and the import changes nothing.
	if out := e.ok("rules", "import", write("again.yaml", first)); out != "no changes\n" {
		t.Errorf("re-import: %s", out)
	}
	if e.export() != first {
		t.Errorf("re-import changed the export")
	}
	acme := e.ok("rules", "export", "--tenant", "acme")
	if out := e.ok("rules", "import", write("acme.yaml", acme), "--tenant", "acme"); out != "no changes\n" {
		t.Errorf("re-import of acme's export: %s", out)
	}

	// --tenant replaces that tenant only; what acme's new file leaves out
	// is deleted with --prune only.
	acme2 := write("acme2.yaml", "tenant: acme\ndefaults: {outbound: auto}\nstations:\n  \"acme-1001\": {}\n")
	if r := e.run("rules", "import", acme2, "--tenant", "acme"); r.code != exitConflict || !strings.Contains(r.stderr, "would delete") {
		t.Errorf("import --tenant acme deleting without --prune: %v", r)
	}
	auditBefore := len(e.audit())
	out := e.ok("rules", "import", acme2, "--tenant", "acme", "--actor", "admin", "--prune")
	if !strings.HasPrefix(out, "applied ") {
		t.Errorf("import --tenant acme: %s", out)
	}
	for _, a := range e.audit()[auditBefore:] {
		if a.Tenant != "acme" || a.Actor != "admin" {
			t.Errorf("import --tenant acme audited %+v", a)
		}
	}
	after := e.export()
	afterAll := parseRules(t, after)
	beforeAll := parseRules(t, first)
	for _, id := range []string{"beta", rules.DefaultTenant} {
		if !reflect.DeepEqual(afterAll.Tenants[id], beforeAll.Tenants[id]) {
			t.Errorf("import --tenant acme changed tenant %s", id)
		}
	}
	if !reflect.DeepEqual(afterAll.Defaults, beforeAll.Defaults) || afterAll.Stations["beta-1"] == nil || afterAll.Stations["1001"] == nil {
		t.Errorf("import --tenant acme changed what is not acme's:\n%s", after)
	}
	if afterAll.Stations["acme-1002"] != nil || len(afterAll.Groups("acme")) != 0 || afterAll.Tenants["acme"].Modes[rules.Outbound] != rules.Auto {
		t.Errorf("import --tenant acme did not replace acme:\n%s", after)
	}

	// A classic file without --tenant replaces the default tenant and the
	// global defaults only.
	e.ok("rules", "import", write("classic.yaml", specClassic))
	cl := parseRules(t, e.export())
	if cl.Tenants["acme"] == nil || cl.Stations["beta-1"] == nil || cl.Stations["2001"] == nil || cl.Stations["1001"].Name != "Anna" {
		t.Errorf("a classic import touched other tenants:\n%s", e.export())
	}

	// Refusals write nothing.
	before, auditBefore := e.export(), len(e.audit())
	e.fail(exitInvalid, []string{"the file is tenant acme's (tenant: acme), not beta's"}, "rules", "import", write("x.yaml", "tenant: acme\n"), "--tenant", "beta")
	e.fail(exitConflict, []string{"station beta-1 is tenant beta's, not acme's"}, "rules", "import", write("y.yaml", "tenant: acme\nstations:\n  \"beta-1\": {}\n"))
	e.fail(exitNotFound, []string{"the file has no tenant gamma"}, "rules", "import", write("z.yaml", string(tenants)), "--tenant", "gamma")
	e.fail(exitNotFound, []string{`tenant "gamma" not found`}, "rules", "export", "--tenant", "gamma")
	if e.export() != before || len(e.audit()) != auditBefore {
		t.Errorf("a refused import wrote something")
	}
}

const specClassic = `defaults: {outbound: off}
groups:
  sales: {profile: sales}
stations:
  "1001": {name: "Anna", group: sales}
  "2001": {kind: softphone}
`

func parseRules(t *testing.T, text string) *rules.RuleSet {
	t.Helper()
	st := newCLIEnv(t)
	p := filepath.Join(st.dir, "r.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	st.ok("rules", "import", p)
	rs, err := st.openStore().LoadRules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestTenantDecisionEndToEnd: on the real server over FastAGI, a tenant's
// default decides after the group, announce_required announces, the
// recording carries the tenant, and a change to the tenant through the CLI
// applies to the very next call.
func TestTenantDecisionEndToEnd(t *testing.T) {
	h := startServer(t, "")
	for _, args := range [][]string{
		{"tenant", "add", "acme", "--announce-required", "yes"},
		{"rule", "set", "tenant:acme", "outbound", "auto"},
		{"station", "add", "acme-1", "--tenant", "acme"},
	} {
		if out, errs, code := h.cli(args...); code != 0 {
			t.Fatalf("%v: exit %d %s%s", args, code, out, errs)
		}
	}
	ast, _ := h.call("0014-decide", outbound("acme-1", "T1"), nil)
	for k, v := range map[string]string{"RECGATE_DECISION": "auto", "RECGATE_RULE": "tenant:acme", "RECGATE_ANNOUNCE": "yes"} {
		if got, _ := ast.Var(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	rec := h.recording("T1", func(r rules.Recording) bool { return true })
	if rec.Tenant != "acme" || rec.Rule != "tenant:acme" {
		t.Errorf("recording = %+v, want tenant acme by tenant:acme", rec)
	}
	if _, errs, code := h.cli("rule", "set", "tenant:acme", "outbound", "off"); code != 0 {
		t.Fatal(errs)
	}
	ast, _ = h.call("0014-decide", outbound("acme-1", "T2"), nil)
	if got, _ := ast.Var("RECGATE_DECISION"); got != "off" {
		t.Errorf("after the tenant's default changed, decision = %q, want off", got)
	}
	// A default-tenant station is unaffected by acme's settings.
	ast, _ = h.call("0014-decide", outbound("1001", "T3"), nil)
	rule, _ := ast.Var("RECGATE_RULE")
	announce, _ := ast.Var("RECGATE_ANNOUNCE")
	if rule != "group:sales" || announce != "no" {
		t.Errorf("default tenant's 1001: rule %q announce %q", rule, announce)
	}
}
