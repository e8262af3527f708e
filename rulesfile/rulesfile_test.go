package rulesfile_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/bad")

// specExample is the rules file of SPEC 5.4, verbatim.
const specExample = `defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
groups:
  sales: {profile: sales, retention_days: 90}
  board: {profile: management, outbound: ondemand}
stations:
  "1001": {name: "Anna (sales desk)", kind: sip_phone, group: sales}
  "1002": {kind: mobile_app, group: sales, inbound_direct: auto, announce: true}
  "2001": {kind: softphone, group: board}
`

// specExampleWritten is what Write makes of it: groups sorted, announce
// before the directions.
const specExampleWritten = `defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
groups:
  board: {profile: management, outbound: ondemand}
  sales: {profile: sales, retention_days: 90}
stations:
  "1001": {name: "Anna (sales desk)", kind: sip_phone, group: sales}
  "1002": {kind: mobile_app, group: sales, announce: true, inbound_direct: auto}
  "2001": {kind: softphone, group: board}
`

func ptr[T any](v T) *T { return &v }

func allOff() rules.ModeSet {
	return rules.ModeSet{rules.Outbound: rules.Off, rules.InboundDirect: rules.Off, rules.InboundQueue: rules.Off, rules.Internal: rules.Off}
}

func parse(t testing.TB, text string) *rules.RuleSet {
	t.Helper()
	rs, err := rulesfile.Parse(strings.NewReader(text), "rules.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return rs
}

func write(t testing.TB, rs *rules.RuleSet) string {
	t.Helper()
	var buf bytes.Buffer
	if err := rulesfile.Write(&buf, rs); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.String()
}

func TestParseSpecExample(t *testing.T) {
	want := &rules.RuleSet{
		Defaults: rules.Defaults{Modes: allOff()},
		Tenants: map[string]*rules.Tenant{rules.DefaultTenant: {ID: rules.DefaultTenant, TimeZone: rules.DefaultTimeZone, Modes: rules.ModeSet{},
			Groups: map[string]*rules.Group{
				"sales": {Name: "sales", Profile: "sales", RetentionDays: ptr(90), Modes: rules.ModeSet{}},
				"board": {Name: "board", Profile: "management", Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}},
			}}},
		Stations: map[string]*rules.Station{
			"1001": {ID: "1001", Name: "Anna (sales desk)", Kind: rules.SIPPhone, Group: "sales", Modes: rules.ModeSet{}},
			"1002": {ID: "1002", Kind: rules.MobileApp, Group: "sales", Announce: ptr(true),
				Modes: rules.ModeSet{rules.InboundDirect: rules.Auto}},
			"2001": {ID: "2001", Kind: rules.Softphone, Group: "board", Modes: rules.ModeSet{}},
		},
	}
	got := parse(t, specExample)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(SPEC 5.4 example):\n got %s\nwant %s", dump(got), dump(want))
	}
	if out := write(t, got); out != specExampleWritten {
		t.Errorf("Write:\n%s\nwant:\n%s", out, specExampleWritten)
	}
}

func TestParseExampleFiles(t *testing.T) {
	read := func(path string) *rules.RuleSet {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rs, err := rulesfile.Parse(f, filepath.Base(path))
		if err != nil {
			t.Fatalf("Parse(%s): %v", path, err)
		}
		return rs
	}
	rs := read("testdata/example.yaml")
	if root := read("../rules.example.yaml"); !reflect.DeepEqual(root, rs) {
		t.Errorf("../rules.example.yaml and testdata/example.yaml describe different rules")
	}
	if got := rs.GroupNames(rules.DefaultTenant); !reflect.DeepEqual(got, []string{"board", "registration", "sales", "support"}) {
		t.Errorf("groups = %v", got)
	}
	kinds := map[rules.Kind]bool{}
	for _, s := range rs.Stations {
		kinds[s.Kind] = true
	}
	for _, k := range rules.AllKinds() {
		if !kinds[k] {
			t.Errorf("the example has no station of kind %s", k)
		}
	}
	tests := []struct {
		station  string
		dir      rules.Direction
		mode     rules.Mode
		rule     string
		announce bool
	}{
		{"1001", rules.Outbound, rules.Auto, "group:sales", false},
		{"1001", rules.InboundDirect, rules.OnDemand, "group:sales", false},
		{"1002", rules.InboundDirect, rules.Auto, "station:1002", false},
		{"1101", rules.Outbound, rules.OnDemand, "group:support", true},
		{"1102", rules.InboundQueue, rules.Auto, "group:support", true},
		{"1201", rules.InboundDirect, rules.Off, "group:registration", false},
		{"1201", rules.InboundQueue, rules.Auto, "group:registration", false},
		{"1301", rules.Outbound, rules.OnDemand, "group:board", false},
		{"1301", rules.InboundQueue, rules.Off, "group:board", false},
		{"1901", rules.Outbound, rules.Off, "default", false},
		{"9999", rules.InboundQueue, rules.Off, "default", false},
	}
	for _, tt := range tests {
		d := rs.Resolve(tt.station, tt.dir)
		if d.Mode != tt.mode || d.Rule != tt.rule || d.Announce != tt.announce {
			t.Errorf("Resolve(%s, %s) = %s %s announce=%v, want %s %s announce=%v",
				tt.station, tt.dir, d.Mode, d.Rule, d.Announce, tt.mode, tt.rule, tt.announce)
		}
	}
	if days, ok := rs.RetentionDays("1001"); !ok || days != 90 {
		t.Errorf("RetentionDays(1001) = %d, %v; want 90, true", days, ok)
	}
	if _, ok := rs.RetentionDays("1301"); ok {
		t.Errorf("RetentionDays(1301): board keeps recordings forever")
	}
}

// TestParseValues covers how scalars are read: YAML 1.1 booleans, unquoted
// ids, nulls and aliases.
func TestParseValues(t *testing.T) {
	t.Run("unquoted station ids are text", func(t *testing.T) {
		rs := parse(t, "stations:\n  1001: {}\n  01002: {}\n  1e3: {}\n  0x10: {}\n  acme-1001: {}\n")
		want := []string{"01002", "0x10", "1001", "1e3", "acme-1001"}
		if got := rs.StationIDs(); !reflect.DeepEqual(got, want) {
			t.Errorf("ids = %q, want %q", got, want)
		}
	})
	t.Run("off is a mode, not a boolean", func(t *testing.T) {
		rs := parse(t, "defaults: {outbound: off, inbound_direct: 'off', internal: \"off\"}\n")
		want := rules.ModeSet{rules.Outbound: rules.Off, rules.InboundDirect: rules.Off, rules.Internal: rules.Off}
		if !reflect.DeepEqual(rs.Defaults.Modes, want) {
			t.Errorf("modes = %v", rs.Defaults.Modes)
		}
	})
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{"true", true}, {"yes", true}, {"True", true}, {"YES", true}, {`"yes"`, true},
		{"false", false}, {"no", false}, {"No", false}, {"FALSE", false},
	} {
		t.Run("announce "+tt.value, func(t *testing.T) {
			rs := parse(t, fmt.Sprintf("defaults: {announce: %s}\nstations:\n  \"1001\": {announce: %s}\n", tt.value, tt.value))
			if rs.Defaults.Announce != tt.want {
				t.Errorf("defaults announce = %v, want %v", rs.Defaults.Announce, tt.want)
			}
			if a := rs.Stations["1001"].Announce; a == nil || *a != tt.want {
				t.Errorf("station announce = %v, want %v", a, tt.want)
			}
		})
	}
	t.Run("null values leave a key unset", func(t *testing.T) {
		rs := parse(t, "defaults:\ngroups:\n  sales:\n    profile:\n    announce: ~\nstations:\n  \"1001\":\n    name:\n    kind: null\n    group:\n    outbound:\n    retention_days:\n")
		want := rules.NewRuleSet()
		want.Defaults.Modes = rules.ModeSet{}
		want.Tenants[rules.DefaultTenant].Modes = rules.ModeSet{}
		want.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Modes: rules.ModeSet{}}
		want.Stations["1001"] = &rules.Station{ID: "1001", Modes: rules.ModeSet{}}
		if !reflect.DeepEqual(rs, want) {
			t.Errorf("got %s\nwant %s", dump(rs), dump(want))
		}
	})
	t.Run("aliases are followed", func(t *testing.T) {
		rs := parse(t, "groups:\n  sales: &sales {profile: sales, outbound: ondemand}\n  sales2: *sales\nstations:\n  \"1001\": {group: sales, kind: &k softphone}\n  \"1002\": {kind: *k}\n")
		if g := rs.Groups(rules.DefaultTenant)["sales2"]; g.Profile != "sales" || g.Modes[rules.Outbound] != rules.OnDemand {
			t.Errorf("sales2 = %+v", g)
		}
		if k := rs.Stations["1002"].Kind; k != rules.Softphone {
			t.Errorf("kind = %q", k)
		}
	})
	t.Run("retention 0 and names with punctuation", func(t *testing.T) {
		rs := parse(t, "stations:\n  \"1001\": {name: 'O''Brien, \"Pat\" #2', retention_days: 0}\n")
		s := rs.Stations["1001"]
		if s.Name != `O'Brien, "Pat" #2` || s.RetentionDays == nil || *s.RetentionDays != 0 {
			t.Errorf("station = %+v", s)
		}
	})
}

// TestParseBad parses every file of testdata/bad and compares the error
// with the golden .err file next to it (go test -update rewrites them).
func TestParseBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad files: %v", err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rs, err := rulesfile.Parse(f, name)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", dump(rs))
			}
			if rs != nil {
				t.Errorf("Parse returned a rule set with its error")
			}
			if code := rules.ErrorCode(err); code != rules.EINVALID {
				t.Errorf("code = %q, want %q", code, rules.EINVALID)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, name+":") {
					t.Errorf("line does not name the file: %q", line)
				}
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("missing golden file (run go test -update): %v", rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("stations:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "  \"%d\": {kind: fax}\n", 1000+i)
	}
	_, err := rulesfile.Parse(strings.NewReader(b.String()), "big.yaml")
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 51 {
		t.Fatalf("got %d lines, want 50 problems and a last line", len(lines))
	}
	if lines[0] != `big.yaml:2: station "1000": invalid kind "fax" (valid: sip_phone, mobile_app, softphone, gateway)` {
		t.Errorf("first line = %q", lines[0])
	}
	if want := "big.yaml: more than 50 problems, stopped here"; lines[50] != want {
		t.Errorf("last line = %q, want %q", lines[50], want)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	_, err := rulesfile.Parse(failingReader{}, "rules.yaml")
	if code := rules.ErrorCode(err); code != rules.EUNAVAILABLE {
		t.Fatalf("code = %q (%v), want %q", code, err, rules.EUNAVAILABLE)
	}
	if want := "read rules.yaml: disk on fire"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

// richRuleSet uses every field and the values a writer has to quote.
func richRuleSet() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults = rules.Defaults{Announce: true, Modes: rules.ModeSet{rules.Outbound: rules.OnDemand, rules.Internal: rules.Off}}
	rs.Tenants[rules.DefaultTenant].Modes = rules.ModeSet{}
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales", RetentionDays: ptr(90), Announce: ptr(false), Modes: rules.ModeSet{}}
	rs.Groups(rules.DefaultTenant)["true"] = &rules.Group{Name: "true", Modes: rules.ModeSet{rules.InboundQueue: rules.Auto}}
	rs.Groups(rules.DefaultTenant)["123"] = &rules.Group{Name: "123", Profile: "record-all", RetentionDays: ptr(0), Modes: rules.ModeSet{}}
	rs.Groups(rules.DefaultTenant)["null"] = &rules.Group{Name: "null", Modes: rules.ModeSet{}}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Name: "Anna (sales desk)", Kind: rules.SIPPhone, Group: "sales", Modes: rules.ModeSet{}}
	rs.Stations["0042"] = &rules.Station{ID: "0042", Name: "Łódź: \"quoted\" \\ # : {x}", Group: "true", Modes: rules.ModeSet{}}
	rs.Stations["acme-1001@pbx"] = &rules.Station{ID: "acme-1001@pbx", Kind: rules.Gateway, Group: "123",
		Announce: ptr(true), RetentionDays: ptr(7),
		Modes: rules.ModeSet{rules.Outbound: rules.Auto, rules.InboundDirect: rules.OnDemand, rules.InboundQueue: rules.Off, rules.Internal: rules.Auto}}
	rs.Stations["yes"] = &rules.Station{ID: "yes", Name: strings.Repeat("a long name ", 10), Kind: rules.MobileApp, Modes: rules.ModeSet{rules.Internal: rules.Off}}
	rs.Stations["1e3"] = &rules.Station{ID: "1e3", Name: "  spaces  ", Announce: ptr(false), Modes: rules.ModeSet{}}
	return rs
}

func TestRoundTrip(t *testing.T) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	emptyDefaults := rules.NewRuleSet()
	emptyDefaults.Defaults.Modes = rules.ModeSet{}
	emptyDefaults.Tenants[rules.DefaultTenant].Modes = rules.ModeSet{}
	sets := map[string]*rules.RuleSet{
		"rich":    richRuleSet(),
		"example": parse(t, string(example)),
		"spec":    parse(t, specExample),
		"empty":   emptyDefaults,
	}
	for name, rs := range sets {
		t.Run(name, func(t *testing.T) {
			first := write(t, rs)
			back := parse(t, first)
			if !reflect.DeepEqual(back, rs) {
				t.Fatalf("Parse(Write(rs)) differs:\n got %s\nwant %s\nfile:\n%s", dump(back), dump(rs), first)
			}
			if second := write(t, back); second != first {
				t.Errorf("export → import → export changed the file:\n%s\nthen:\n%s", first, second)
			}
		})
	}
}

func TestWriteFormat(t *testing.T) {
	got := write(t, richRuleSet())
	want := `defaults: {announce: true, outbound: ondemand, internal: off}
groups:
  "123": {profile: record-all, retention_days: 0}
  "null": {}
  sales: {profile: sales, announce: false, retention_days: 90}
  "true": {inbound_queue: auto}
stations:
  "0042": {name: "Łódź: \"quoted\" \\ # : {x}", group: "true"}
  "1001": {name: "Anna (sales desk)", kind: sip_phone, group: sales}
  "1e3": {name: "  spaces  ", announce: false}
  "acme-1001@pbx":
    kind: gateway
    group: "123"
    announce: true
    retention_days: 7
    outbound: auto
    inbound_direct: ondemand
    inbound_queue: off
    internal: auto
  "yes":
    name: "a long name a long name a long name a long name a long name a long name a long name a long name a long name a long name "
    kind: mobile_app
    internal: off
`
	if got != want {
		t.Errorf("Write:\n%s\nwant:\n%s", got, want)
	}
	if got := write(t, rules.NewRuleSet()); got != "defaults: {}\ngroups: {}\nstations: {}\n" {
		t.Errorf("Write(empty) = %q", got)
	}
}

func TestWriteInvalid(t *testing.T) {
	tests := map[string]func(rs *rules.RuleSet){
		"unknown group":   func(rs *rules.RuleSet) { rs.Stations["1001"].Group = "nope" },
		"bad mode":        func(rs *rules.RuleSet) { rs.Defaults.Modes[rules.Outbound] = "sometimes" },
		"unknown profile": func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["sales"].Profile = "nope" },
		"filed wrongly":   func(rs *rules.RuleSet) { rs.Stations["1001"].ID = "1002" },
		"bad id": func(rs *rules.RuleSet) {
			rs.Stations["../x"] = &rules.Station{ID: "../x"}
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			rs := richRuleSet()
			breakIt(rs)
			var buf bytes.Buffer
			err := rulesfile.Write(&buf, rs)
			if code := rules.ErrorCode(err); code != rules.EINVALID {
				t.Fatalf("Write: code %q (%v), want %q", code, err, rules.EINVALID)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %q for an invalid rule set", buf.String())
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestWriteError(t *testing.T) {
	err := rulesfile.Write(failingWriter{}, richRuleSet())
	if err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Fatalf("Write = %v, want the writer's error", err)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives the export → import → export round trip unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(specExample))
	seeds, _ := filepath.Glob("testdata/*.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, path := range append(seeds, bad...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := rulesfile.Parse(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if rs != nil {
				t.Fatal("Parse returned a rule set with its error")
			}
			if code := rules.ErrorCode(err); code != rules.EINVALID {
				t.Fatalf("code = %q for %v", code, err)
			}
			return
		}
		first := write(t, rs)
		back := parse(t, first)
		if !reflect.DeepEqual(back, rs) {
			t.Fatalf("Parse(Write(rs)) differs:\n got %s\nwant %s", dump(back), dump(rs))
		}
		if second := write(t, back); second != first {
			t.Fatalf("export → import → export changed the file:\n%s\nthen:\n%s", first, second)
		}
	})
}

// dump formats a rule set for failure messages.
func dump(rs *rules.RuleSet) string {
	if rs == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "defaults=%+v", rs.Defaults)
	for _, name := range rs.GroupNames(rules.DefaultTenant) {
		g := rs.Groups(rules.DefaultTenant)[name]
		fmt.Fprintf(&b, "\n  group %q: profile=%q announce=%s retention=%s modes=%v", name, g.Profile, show(g.Announce), show(g.RetentionDays), g.Modes)
	}
	for _, id := range rs.StationIDs() {
		s := rs.Stations[id]
		fmt.Fprintf(&b, "\n  station %q: id=%q name=%q kind=%q group=%q announce=%s retention=%s modes=%#v",
			id, s.ID, s.Name, s.Kind, s.Group, show(s.Announce), show(s.RetentionDays), s.Modes)
	}
	return b.String()
}

func show[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
