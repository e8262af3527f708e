package rules_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/recgate/recgate/rules"
)

func ptr[T any](v T) *T { return &v }

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    rules.Mode
		wantErr string
	}{
		{"off", rules.Off, ""},
		{"auto", rules.Auto, ""},
		{"ondemand", rules.OnDemand, ""},
		{"", "", `invalid mode "" (valid: off, auto, ondemand)`},
		{"Auto", "", `invalid mode "Auto" (valid: off, auto, ondemand)`},
		{"on-demand", "", `invalid mode "on-demand" (valid: off, auto, ondemand)`},
		{" off", "", `invalid mode " off" (valid: off, auto, ondemand)`},
		{"false", "", `invalid mode "false" (valid: off, auto, ondemand)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := rules.ParseMode(tt.in)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseDirection(t *testing.T) {
	valid := "(valid: outbound, inbound_direct, inbound_queue, internal)"
	tests := []struct {
		in      string
		want    rules.Direction
		wantErr string
	}{
		{"outbound", rules.Outbound, ""},
		{"inbound_direct", rules.InboundDirect, ""},
		{"inbound_queue", rules.InboundQueue, ""},
		{"internal", rules.Internal, ""},
		{"inbound", "", `invalid direction "inbound" ` + valid},
		{"Outbound", "", `invalid direction "Outbound" ` + valid},
		{"inbound-direct", "", `invalid direction "inbound-direct" ` + valid},
		{"", "", `invalid direction "" ` + valid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := rules.ParseDirection(tt.in)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseKind(t *testing.T) {
	valid := "(valid: sip_phone, mobile_app, softphone, gateway)"
	tests := []struct {
		in      string
		want    rules.Kind
		wantErr string
	}{
		{"sip_phone", rules.SIPPhone, ""},
		{"mobile_app", rules.MobileApp, ""},
		{"softphone", rules.Softphone, ""},
		{"gateway", rules.Gateway, ""},
		{"fax", "", `invalid kind "fax" ` + valid},
		{"SIP_PHONE", "", `invalid kind "SIP_PHONE" ` + valid},
		{"", "", `invalid kind "" ` + valid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := rules.ParseKind(tt.in)
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func checkParse[T comparable](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil || got != want {
			t.Fatalf("got %v, %v; want %v", got, err, want)
		}
		return
	}
	if err == nil || err.Error() != wantErr {
		t.Fatalf("error = %v, want %q", err, wantErr)
	}
	var zero T
	if got != zero {
		t.Errorf("got %v with an error, want the zero value", got)
	}
}

func TestAllListsAreCopies(t *testing.T) {
	rules.AllModes()[0] = "x"
	rules.AllDirections()[0] = "x"
	rules.AllKinds()[0] = "x"
	if got := rules.AllModes(); !reflect.DeepEqual(got, []rules.Mode{rules.Off, rules.Auto, rules.OnDemand}) {
		t.Errorf("AllModes = %v", got)
	}
	if got := rules.AllDirections(); !reflect.DeepEqual(got, []rules.Direction{rules.Outbound, rules.InboundDirect, rules.InboundQueue, rules.Internal}) {
		t.Errorf("AllDirections = %v", got)
	}
	if got := rules.AllKinds(); !reflect.DeepEqual(got, []rules.Kind{rules.SIPPhone, rules.MobileApp, rules.Softphone, rules.Gateway}) {
		t.Errorf("AllKinds = %v", got)
	}
}

func TestValidateNames(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // the reason after "invalid station id %q: "; empty when valid; a trailing * matches a prefix
	}{
		{"1001", ""},
		{"acme-1001", ""},
		{"a.b_c+d@e-f", ""},
		{"A9", ""},
		{strings.Repeat("x", 64), ""},
		{"", "empty"},
		{strings.Repeat("x", 65), "longer than 64 characters"},
		{".", `must not contain ".."`},
		{"..", `must not contain ".."`},
		{"../x", `must not contain ".."`},
		{"a..b", `must not contain ".."`},
		{"a/b", `character '/' not allowed (use letters, digits and . _ + @ -)`},
		{"a,b", `character ',' not allowed (use letters, digits and . _ + @ -)`},
		{"$x", `character '$' not allowed (use letters, digits and . _ + @ -)`},
		{"${EXTEN}", `character '$' not allowed (use letters, digits and . _ + @ -)`},
		{"a b", `character ' ' not allowed (use letters, digits and . _ + @ -)`},
		{" 1001", `character ' ' not allowed (use letters, digits and . _ + @ -)`},
		{"1001\n", `character '\n' not allowed (use letters, digits and . _ + @ -)`},
		{"10\x0001", `character '\x00' not allowed (use letters, digits and . _ + @ -)`},
		{"a;b", `character ';' not allowed (use letters, digits and . _ + @ -)`},
		{`a"b`, `character '"' not allowed (use letters, digits and . _ + @ -)`},
		{"a|b", `character '|' not allowed (use letters, digits and . _ + @ -)`},
		{"é", `character *`}, // non-ASCII: the message shows the first byte (see report)
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			for _, v := range []struct {
				what string
				fn   func(string) error
			}{
				{"station id", rules.ValidateStationID},
				{"group name", rules.ValidateGroupName},
			} {
				err := v.fn(tt.in)
				if tt.wantErr == "" {
					if err != nil {
						t.Errorf("%s: %v", v.what, err)
					}
					continue
				}
				want := fmt.Sprintf("invalid %s %q: %s", v.what, tt.in, tt.wantErr)
				if prefix, ok := strings.CutSuffix(want, "*"); ok && err != nil && strings.HasPrefix(err.Error(), prefix) {
					continue
				}
				if err == nil || err.Error() != want {
					t.Errorf("%s: error = %v, want %q", v.what, err, want)
				}
			}
		})
	}
}

// validRuleSet is a small rule set that Validate accepts.
func validRuleSet() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Defaults.Modes = rules.ModeSet{rules.Outbound: rules.Off}
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales", RetentionDays: ptr(90), Modes: rules.ModeSet{rules.Internal: rules.Auto}}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Kind: rules.SIPPhone, Group: "sales", Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	rs.Stations["1002"] = &rules.Station{ID: "1002"}
	return rs
}

func TestRuleSetValidate(t *testing.T) {
	if err := validRuleSet().Validate(); err != nil {
		t.Fatalf("valid rule set: %v", err)
	}
	if err := rules.NewRuleSet().Validate(); err != nil {
		t.Fatalf("empty rule set: %v", err)
	}
	tests := []struct {
		name    string
		breakIt func(rs *rules.RuleSet)
		wantErr string
	}{
		{"unknown group", func(rs *rules.RuleSet) { rs.Stations["1002"].Group = "support" },
			`station 1002: unknown group "support"`},
		{"unknown profile", func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["sales"].Profile = "salespeople" },
			`group sales: unknown profile "salespeople" (valid: sales, customer-service, medical-registration, management, record-all)`},
		{"bad station mode", func(rs *rules.RuleSet) { rs.Stations["1001"].Modes[rules.Outbound] = "sometimes" },
			`station 1001: outbound: invalid mode "sometimes" (valid: off, auto, ondemand)`},
		{"empty mode", func(rs *rules.RuleSet) { rs.Stations["1001"].Modes[rules.Outbound] = "" },
			`station 1001: outbound: invalid mode "" (valid: off, auto, ondemand)`},
		{"bad group mode", func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["sales"].Modes[rules.Internal] = "Auto" },
			`group sales: internal: invalid mode "Auto" (valid: off, auto, ondemand)`},
		{"bad default mode", func(rs *rules.RuleSet) { rs.Defaults.Modes[rules.Outbound] = "yes" },
			`defaults: outbound: invalid mode "yes" (valid: off, auto, ondemand)`},
		{"bad direction", func(rs *rules.RuleSet) { rs.Stations["1001"].Modes["inbound"] = rules.Auto },
			`station 1001: invalid direction "inbound" (valid: outbound, inbound_direct, inbound_queue, internal)`},
		{"bad kind", func(rs *rules.RuleSet) { rs.Stations["1001"].Kind = "fax" },
			`station 1001: invalid kind "fax" (valid: sip_phone, mobile_app, softphone, gateway)`},
		{"negative retention", func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["sales"].RetentionDays = ptr(-1) },
			`group sales: retention_days must be between 0 and 36500, got -1`},
		{"negative station retention", func(rs *rules.RuleSet) { rs.Stations["1002"].RetentionDays = ptr(-5) },
			`station 1002: retention_days must be between 0 and 36500, got -5`},
		{"bad station id", func(rs *rules.RuleSet) { rs.Stations["../x"] = &rules.Station{ID: "../x"} },
			`invalid station id "../x": must not contain ".."`},
		{"bad group name", func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["a b"] = &rules.Group{Name: "a b"} },
			`invalid group name "a b": character ' ' not allowed (use letters, digits and . _ + @ -)`},
		{"bad group reference", func(rs *rules.RuleSet) { rs.Stations["1002"].Group = "a,b" },
			`station 1002: invalid group name "a,b": character ',' not allowed (use letters, digits and . _ + @ -)`},
		{"station filed under another id", func(rs *rules.RuleSet) { rs.Stations["1002"].ID = "1003" },
			`station "1003" is filed under "1002"`},
		{"group filed under another name", func(rs *rules.RuleSet) { rs.Groups(rules.DefaultTenant)["sales"].Name = "support" },
			`group "support" is filed under "sales"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := validRuleSet()
			tt.breakIt(rs)
			err := rs.Validate()
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRetentionDays(t *testing.T) {
	rs := rules.NewRuleSet()
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", RetentionDays: ptr(90)}
	rs.Groups(rules.DefaultTenant)["board"] = &rules.Group{Name: "board"}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Group: "sales"}
	rs.Stations["1002"] = &rules.Station{ID: "1002", Group: "sales", RetentionDays: ptr(7)}
	rs.Stations["1003"] = &rules.Station{ID: "1003", Group: "sales", RetentionDays: ptr(0)}
	rs.Stations["1004"] = &rules.Station{ID: "1004", Group: "board"}
	rs.Stations["1005"] = &rules.Station{ID: "1005"}
	rs.Stations["1006"] = &rules.Station{ID: "1006", RetentionDays: ptr(30)}
	tests := []struct {
		station string
		days    int
		ok      bool
	}{
		{"1001", 90, true}, // the group's
		{"1002", 7, true},  // the station's own beats the group's
		{"1003", 0, true},  // 0 is a setting, not "unset"
		{"1004", 0, false}, // the group keeps forever
		{"1005", 0, false}, // no group
		{"1006", 30, true}, // no group, own setting
		{"9999", 0, false}, // unknown station
	}
	for _, tt := range tests {
		days, ok := rs.RetentionDays(tt.station)
		if days != tt.days || ok != tt.ok {
			t.Errorf("RetentionDays(%s) = %d, %v; want %d, %v", tt.station, days, ok, tt.days, tt.ok)
		}
	}
}

func TestClone(t *testing.T) {
	rs := validRuleSet()
	rs.Defaults.Announce = true
	rs.Groups(rules.DefaultTenant)["sales"].Announce = ptr(true)
	rs.Stations["1001"].Announce = ptr(false)
	rs.Stations["1001"].RetentionDays = ptr(5)
	before := fmt.Sprint(snapshot(rs))

	c := rs.Clone()
	if !reflect.DeepEqual(c, rs) {
		t.Fatalf("clone differs from the original")
	}
	c.Defaults.Modes[rules.Outbound] = rules.Auto
	c.Defaults.Announce = false
	c.Groups(rules.DefaultTenant)["sales"].Modes[rules.Internal] = rules.Off
	c.Groups(rules.DefaultTenant)["sales"].Profile = "management"
	*c.Groups(rules.DefaultTenant)["sales"].Announce = false
	*c.Groups(rules.DefaultTenant)["sales"].RetentionDays = 1
	c.Stations["1001"].Modes[rules.Outbound] = rules.Off
	*c.Stations["1001"].Announce = true
	*c.Stations["1001"].RetentionDays = 6
	c.Stations["1001"].Name = "changed"
	c.Groups(rules.DefaultTenant)["new"] = &rules.Group{Name: "new"}
	c.Stations["2001"] = &rules.Station{ID: "2001"}
	delete(c.Stations, "1002")

	if after := fmt.Sprint(snapshot(rs)); after != before {
		t.Errorf("changing the clone changed the original:\nbefore %s\nafter  %s", before, after)
	}
	if rs.Stations["1002"].Modes != nil || c.Stations["2001"].Modes != nil {
		t.Errorf("a nil ModeSet must stay nil")
	}
}

// snapshot flattens a rule set, pointers included, for comparison.
func snapshot(rs *rules.RuleSet) []string {
	out := []string{fmt.Sprintf("defaults %v %v", rs.Defaults.Modes, rs.Defaults.Announce)}
	for _, name := range rs.GroupNames(rules.DefaultTenant) {
		g := rs.Groups(rules.DefaultTenant)[name]
		out = append(out, fmt.Sprintf("group %s %s %v %v %v", g.Name, g.Profile, deref(g.Announce), deref(g.RetentionDays), g.Modes))
	}
	for _, id := range rs.StationIDs() {
		s := rs.Stations[id]
		out = append(out, fmt.Sprintf("station %s %s %s %s %v %v %v", s.ID, s.Name, s.Kind, s.Group, deref(s.Announce), deref(s.RetentionDays), s.Modes))
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

func TestSortedNames(t *testing.T) {
	rs := rules.NewRuleSet()
	for _, id := range []string{"2001", "1001", "acme-1", "1002"} {
		rs.Stations[id] = &rules.Station{ID: id}
	}
	for _, g := range []string{"sales", "board", "registration"} {
		rs.Groups(rules.DefaultTenant)[g] = &rules.Group{Name: g}
	}
	if got := rs.StationIDs(); !reflect.DeepEqual(got, []string{"1001", "1002", "2001", "acme-1"}) {
		t.Errorf("StationIDs = %v", got)
	}
	if got := rs.GroupNames(rules.DefaultTenant); !reflect.DeepEqual(got, []string{"board", "registration", "sales"}) {
		t.Errorf("GroupNames = %v", got)
	}
	if !rs.IsStation("1001") || rs.IsStation("1003") || rs.IsStation("") {
		t.Errorf("IsStation is wrong")
	}
}

func TestErrorCode(t *testing.T) {
	appErr := rules.Errorf(rules.ENOTFOUND, "station %s not found", "1001")
	if appErr.Error() != "station 1001 not found" || appErr.Code != rules.ENOTFOUND {
		t.Fatalf("Errorf = %#v", appErr)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"app error", appErr, rules.ENOTFOUND},
		{"wrapped", fmt.Errorf("set station: %w", appErr), rules.ENOTFOUND},
		{"wrapped twice", fmt.Errorf("cli: %w", fmt.Errorf("set station: %w", rules.Errorf(rules.ECONFLICT, "x"))), rules.ECONFLICT},
		{"joined", errors.Join(errors.New("other"), rules.Errorf(rules.EUNAVAILABLE, "locked")), rules.EUNAVAILABLE},
		{"plain error", errors.New("boom"), rules.EINTERNAL},
		{"wrapped plain error", fmt.Errorf("op: %w", errors.New("boom")), rules.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rules.ErrorCode(tt.err); got != tt.want {
				t.Errorf("ErrorCode = %q, want %q", got, tt.want)
			}
		})
	}
}
