package rulesfile_test

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
)

func parseFile(t testing.TB, text string) *rulesfile.File {
	t.Helper()
	f, err := rulesfile.ParseFile(strings.NewReader(text), "rules.yaml")
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	return f
}

func writeTenant(t testing.TB, rs *rules.RuleSet, id string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := rulesfile.WriteTenant(&buf, rs, id); err != nil {
		t.Fatalf("WriteTenant: %v", err)
	}
	return buf.String()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// dumpAll formats every tenant of a rule set for failure messages.
func dumpAll(rs *rules.RuleSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults=%+v", rs.Defaults)
	for _, id := range rs.TenantIDs() {
		t := rs.Tenants[id]
		fmt.Fprintf(&b, "\ntenant %s: name=%q tz=%q retention=%s required=%v modes=%v", id, t.Name, t.TimeZone,
			show(t.RetentionDays), t.AnnounceRequired, t.Modes)
		for _, name := range t.GroupNames() {
			g := t.Groups[name]
			fmt.Fprintf(&b, "\n  group %q: profile=%q announce=%s retention=%s modes=%v", name, g.Profile, show(g.Announce), show(g.RetentionDays), g.Modes)
		}
	}
	for _, id := range rs.StationIDs() {
		s := rs.Stations[id]
		fmt.Fprintf(&b, "\nstation %q: tenant=%q name=%q kind=%q group=%q announce=%s retention=%s modes=%v",
			id, s.Tenant, s.Name, s.Kind, s.Group, show(s.Announce), show(s.RetentionDays), s.Modes)
	}
	return b.String()
}

func TestParseTenantsFile(t *testing.T) {
	text := readFile(t, "testdata/tenants.yaml")
	f := parseFile(t, text)
	if f.Form != rulesfile.AllTenants || f.Tenant != "" {
		t.Fatalf("form %v tenant %q, want all tenants", f.Form, f.Tenant)
	}
	rs := f.Rules
	if got := rs.TenantIDs(); !reflect.DeepEqual(got, []string{"acme", "beta", "default"}) {
		t.Errorf("tenants = %v", got)
	}
	acme := rs.Tenants["acme"]
	if acme.Name != "ACME Sp. z o.o." || acme.TimeZone != rules.DefaultTimeZone || *acme.RetentionDays != 90 ||
		!acme.AnnounceRequired || !reflect.DeepEqual(acme.Modes, rules.ModeSet{rules.InboundDirect: rules.OnDemand}) {
		t.Errorf("acme = %+v", acme)
	}
	if rs.Tenants["beta"].TimeZone != "Europe/London" {
		t.Errorf("beta's time zone = %q", rs.Tenants["beta"].TimeZone)
	}
	if rs.Stations["acme-1001"].Tenant != "acme" || rs.Stations["beta-1"].Tenant != "beta" || rs.Stations["1001"].TenantID() != rules.DefaultTenant {
		t.Errorf("stations' tenants: %s", dumpAll(rs))
	}
	// Three groups called sales, one per tenant, each resolving on its own.
	for _, tt := range []struct {
		station string
		dir     rules.Direction
		mode    rules.Mode
		rule    string
	}{
		{"acme-1001", rules.Outbound, rules.Auto, "group:sales"},
		{"acme-1002", rules.InboundQueue, rules.Auto, "group:sales"},
		{"beta-1", rules.Outbound, rules.OnDemand, "group:sales"},
		{"beta-1", rules.InboundDirect, rules.Off, "group:sales"},
		{"1001", rules.InboundDirect, rules.OnDemand, "group:sales"},
	} {
		if d := rs.Resolve(tt.station, tt.dir); d.Mode != tt.mode || d.Rule != tt.rule {
			t.Errorf("Resolve(%s, %s) = %s", tt.station, tt.dir, d)
		}
	}
	if d := rs.Resolve("acme-1001", rules.Internal); d.Mode != rules.Off {
		t.Errorf("acme-1001 internal = %s", d)
	}
	if got := write(t, rs); got != text {
		t.Errorf("Write of testdata/tenants.yaml:\n%s\nwant:\n%s", got, text)
	}
}

func TestParseOneTenantFile(t *testing.T) {
	text := readFile(t, "testdata/tenant-acme.yaml")
	f := parseFile(t, text)
	if f.Form != rulesfile.OneTenant || f.Tenant != "acme" {
		t.Fatalf("form %v tenant %q, want one tenant, acme", f.Form, f.Tenant)
	}
	all := parseFile(t, readFile(t, "testdata/tenants.yaml")).Rules
	if !reflect.DeepEqual(f.Rules.Tenants["acme"], all.Tenants["acme"]) {
		t.Errorf("acme differs between its own file and the tenants file:\n%s\n%s", dumpAll(f.Rules), dumpAll(all))
	}
	if len(f.Rules.Stations) != 2 || !reflect.DeepEqual(f.Rules.Stations["acme-1002"], all.Stations["acme-1002"]) {
		t.Errorf("acme's stations: %s", dumpAll(f.Rules))
	}
	if got := writeTenant(t, f.Rules, "acme"); got != text {
		t.Errorf("WriteTenant:\n%s\nwant:\n%s", got, text)
	}
	if got := writeTenant(t, all, "acme"); got != text {
		t.Errorf("WriteTenant of the tenants file's acme:\n%s\nwant:\n%s", got, text)
	}
	// The classic file with tenant: default is the default tenant's file.
	def := parseFile(t, "tenant: default\ndefaults: {outbound: auto}\nstations:\n  \"1\": {}\n")
	if def.Form != rulesfile.OneTenant || def.Tenant != rules.DefaultTenant ||
		def.Rules.Tenants[rules.DefaultTenant].Modes[rules.Outbound] != rules.Auto || len(def.Rules.Defaults.Modes) != 0 {
		t.Errorf("tenant: default file: %v %q %s", def.Form, def.Tenant, dumpAll(def.Rules))
	}
}

// tenantsRuleSet uses every tenant setting, in three tenants.
func tenantsRuleSet() *rules.RuleSet {
	rs := richRuleSet()
	acme := rules.NewTenant("acme")
	acme.Name, acme.TimeZone, acme.RetentionDays, acme.AnnounceRequired = `ACME "quoted" # name`, "America/New_York", ptr(0), true
	acme.Modes = rules.ModeSet{rules.Outbound: rules.Off, rules.Internal: rules.Auto}
	acme.Groups["sales"] = &rules.Group{Name: "sales", Profile: "record-all", Announce: ptr(true), Modes: rules.ModeSet{}}
	rs.Tenants["acme"] = acme
	empty := rules.NewTenant("0")
	empty.Modes = rules.ModeSet{}
	rs.Tenants["0"] = empty
	rs.Tenants[rules.DefaultTenant].Name = "The provider"
	rs.Stations["acme-1"] = &rules.Station{ID: "acme-1", Tenant: "acme", Group: "sales", Modes: rules.ModeSet{rules.InboundQueue: rules.OnDemand}}
	rs.Stations["acme-2"] = &rules.Station{ID: "acme-2", Tenant: "acme", Kind: rules.Softphone, Modes: rules.ModeSet{}}
	return rs
}

// TestRoundTripTenants: export → import → export is identical, for the
// tenants form and for each tenant's own file.
func TestRoundTripTenants(t *testing.T) {
	rs := tenantsRuleSet()
	first := write(t, rs)
	if !strings.Contains(first, "\ntenants:\n") {
		t.Fatalf("a rule set with tenants is not written in the tenants form:\n%s", first)
	}
	back := parse(t, first)
	if !reflect.DeepEqual(back, rs) {
		t.Fatalf("Parse(Write(rs)) differs:\n got %s\nwant %s\nfile:\n%s", dumpAll(back), dumpAll(rs), first)
	}
	if second := write(t, back); second != first {
		t.Errorf("export → import → export changed the file:\n%s\nthen:\n%s", first, second)
	}
	for _, id := range rs.TenantIDs() {
		t.Run(id, func(t *testing.T) {
			one := writeTenant(t, rs, id)
			f := parseFile(t, one)
			if f.Form != rulesfile.OneTenant || f.Tenant != id {
				t.Fatalf("form %v tenant %q", f.Form, f.Tenant)
			}
			if !reflect.DeepEqual(f.Rules.Tenants[id], rs.Tenants[id]) {
				t.Errorf("tenant %s after its file:\n got %s\nwant %s\nfile:\n%s", id, dumpAll(f.Rules), dumpAll(rs), one)
			}
			applied, err := f.Apply(rs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(applied, rs) {
				t.Errorf("importing tenant %s's own export changed the rules:\n got %s\nwant %s", id, dumpAll(applied), dumpAll(rs))
			}
			if again := writeTenant(t, f.Rules, id); again != one {
				t.Errorf("export → import → export of tenant %s changed the file:\n%s\nthen:\n%s", id, one, again)
			}
		})
	}
	// The classic form stays the classic form.
	classic := richRuleSet()
	if out := write(t, classic); strings.Contains(out, "tenant") {
		t.Errorf("a rule set without tenants is written with tenants:\n%s", out)
	}
}

func TestApply(t *testing.T) {
	current := tenantsRuleSet()
	t.Run("classic file keeps other tenants", func(t *testing.T) {
		f := parseFile(t, specExample)
		got, err := f.Apply(current)
		if err != nil {
			t.Fatal(err)
		}
		want := current.Clone()
		want.Defaults = f.Rules.Defaults
		want.Tenants[rules.DefaultTenant].Groups = f.Rules.Tenants[rules.DefaultTenant].Groups
		for _, id := range current.TenantStationIDs(rules.DefaultTenant) {
			delete(want.Stations, id)
		}
		for id, st := range f.Rules.Stations {
			want.Stations[id] = st
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %s\nwant %s", dumpAll(got), dumpAll(want))
		}
		if got.Tenants[rules.DefaultTenant].Name != "The provider" {
			t.Errorf("a classic file changed the default tenant's settings")
		}
	})
	t.Run("one tenant's file replaces that tenant only", func(t *testing.T) {
		f := parseFile(t, "tenant: acme\ndefaults: {inbound_queue: auto}\nstations:\n  \"acme-9\": {}\n")
		got, err := f.Apply(current)
		if err != nil {
			t.Fatal(err)
		}
		want := current.Clone()
		nt := rules.NewTenant("acme")
		nt.Modes = rules.ModeSet{rules.InboundQueue: rules.Auto}
		want.Tenants["acme"] = nt
		delete(want.Stations, "acme-1")
		delete(want.Stations, "acme-2")
		want.Stations["acme-9"] = &rules.Station{ID: "acme-9", Tenant: "acme", Modes: rules.ModeSet{}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %s\nwant %s", dumpAll(got), dumpAll(want))
		}
		if !reflect.DeepEqual(current, tenantsRuleSet()) {
			t.Errorf("Apply changed its argument")
		}
	})
	t.Run("a new tenant", func(t *testing.T) {
		got, err := parseFile(t, "tenant: gamma\nname: Gamma\n").Apply(current)
		if err != nil || got.Tenants["gamma"] == nil || got.Tenants["gamma"].Name != "Gamma" || len(got.Tenants) != len(current.Tenants)+1 {
			t.Errorf("Apply = %v, %v", got, err)
		}
	})
	t.Run("a station of another tenant", func(t *testing.T) {
		_, err := parseFile(t, "tenant: acme\nstations:\n  \"1001\": {}\n").Apply(current)
		if rules.ErrorCode(err) != rules.ECONFLICT || !strings.Contains(err.Error(), "station 1001 is tenant default's, not acme's") {
			t.Errorf("Apply = %v, want a conflict naming the station", err)
		}
	})
	t.Run("all tenants replace everything", func(t *testing.T) {
		f := parseFile(t, readFile(t, "testdata/tenants.yaml"))
		got, err := f.Apply(current)
		if err != nil || !reflect.DeepEqual(got, f.Rules) {
			t.Errorf("Apply = %v, %v", got, err)
		}
	})
}

func TestForTenant(t *testing.T) {
	all := parseFile(t, readFile(t, "testdata/tenants.yaml"))
	one, err := all.ForTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	own := parseFile(t, readFile(t, "testdata/tenant-acme.yaml"))
	if one.Form != rulesfile.OneTenant || one.Tenant != "acme" || !reflect.DeepEqual(one.Rules, own.Rules) {
		t.Errorf("ForTenant(acme) of the tenants file:\n got %s\nwant %s", dumpAll(one.Rules), dumpAll(own.Rules))
	}
	if _, err := all.ForTenant("gamma"); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("ForTenant(gamma) = %v, want not found", err)
	}
	if _, err := own.ForTenant("beta"); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("acme's file as beta's = %v, want invalid", err)
	}
	if _, err := own.ForTenant("Bad"); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("ForTenant(Bad) = %v, want invalid", err)
	}
	classic := parseFile(t, specExample)
	asAcme, err := classic.ForTenant("acme")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(asAcme.Rules.Tenants["acme"].Modes, classic.Rules.Defaults.Modes) || asAcme.Rules.Stations["1001"].Tenant != "acme" ||
		asAcme.Rules.Group("acme", "sales") == nil || len(asAcme.Rules.Defaults.Modes) != 0 {
		t.Errorf("classic file as acme's: %s", dumpAll(asAcme.Rules))
	}
	if same, err := classic.ForTenant(rules.DefaultTenant); err != nil || same != classic {
		t.Errorf("classic file as the default tenant's must keep its meaning: %v", err)
	}
	if _, err := parseFile(t, "defaults: {announce: true}\n").ForTenant("acme"); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("a global announce in a tenant's file = %v, want invalid", err)
	}
}

// FuzzParseTenants: whatever a tenant-form file parses to, its export
// parses back to the same rules, and each tenant's own file applied to
// those rules changes nothing.
func FuzzParseTenants(f *testing.F) {
	for _, path := range []string{"testdata/tenants.yaml", "testdata/tenant-acme.yaml"} {
		f.Add([]byte(readFile(f, path)))
	}
	f.Add([]byte("tenants: {a: {}, b: {defaults: {outbound: auto}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := rulesfile.ParseFile(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if rules.ErrorCode(err) != rules.EINVALID {
				t.Fatalf("code = %q for %v", rules.ErrorCode(err), err)
			}
			return
		}
		rs := file.Rules
		back := parse(t, write(t, rs))
		if !reflect.DeepEqual(back, rs) {
			t.Fatalf("Parse(Write(rs)) differs:\n got %s\nwant %s", dumpAll(back), dumpAll(rs))
		}
		for _, id := range rs.TenantIDs() {
			one := parseFile(t, writeTenant(t, rs, id))
			applied, err := one.Apply(rs)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(applied, rs) {
				t.Fatalf("tenant %s's own file changed the rules:\n got %s\nwant %s", id, dumpAll(applied), dumpAll(rs))
			}
		}
	})
}
