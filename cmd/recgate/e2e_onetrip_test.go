package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// dialplanActs is outbound with act=dialplan, as the shipped examples ask.
func dialplanActs(station, uniqueid string) map[string]string {
	o := outbound(station, uniqueid)
	o["agi_network_script"] += "&act=dialplan"
	o["agi_request"] += "&act=dialplan"
	return o
}

// TestDecideActDialplanCommands: with act=dialplan every mode is one
// command, exactly this one, on the real server.
func TestDecideActDialplanCommands(t *testing.T) {
	h := startServer(t, "")
	tests := []struct {
		name, station string
		want          string // %REC% is the recordings dir, %DATE% today, %UID% the unique id
	}{
		{"auto", "1001", `EXEC MSet "RECGATE_FILE=%REC%/%DATE%/1001_outbound_%UID%.wav,RECGATE_MIXMONITOR_OPTIONS=b,RECGATE_HANGUP_HANDLER=\"recgate-hangup,s,1\",RECGATE_DIRECTION=outbound,RECGATE_STATION=1001,RECGATE_RULE=group:sales,RECGATE_ANNOUNCE=no,RECGATE_DECISION=auto"`},
		{"ondemand", "1002", `EXEC MSet "RECGATE_FEATURE=recgate_ondemand,RECGATE_HANGUP_HANDLER=\"recgate-hangup,s,1\",RECGATE_DIRECTION=outbound,RECGATE_STATION=1002,RECGATE_RULE=station:1002,RECGATE_ANNOUNCE=yes,RECGATE_DECISION=ondemand"`},
		{"off", "1003", `EXEC MSet "RECGATE_HANGUP_HANDLER=,RECGATE_DIRECTION=outbound,RECGATE_STATION=1003,RECGATE_RULE=station:1003,RECGATE_ANNOUNCE=no,RECGATE_DECISION=off"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := fmt.Sprintf("DP%d", i+1)
			ast, got := h.call("0016-arm", dialplanActs(tt.station, uid), map[string]string{"DYNAMIC_FEATURES": "myfeature"})
			want := strings.NewReplacer("%REC%", h.recDir, "%DATE%", today(t), "%UID%", uid).Replace(tt.want)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("commands:\n got %q\nwant [%q]", got, want)
			}
			if d, _ := ast.Var("RECGATE_DECISION"); d != tt.name {
				t.Errorf("RECGATE_DECISION = %q", d)
			}
			if f, _ := ast.Var("DYNAMIC_FEATURES"); f != "myfeature" {
				t.Errorf("DYNAMIC_FEATURES = %q: recgate must leave it to the dialplan", f)
			}
			if hh, _ := ast.Var("RECGATE_HANGUP_HANDLER"); (hh != "") != (tt.name != "off") {
				t.Errorf("RECGATE_HANGUP_HANDLER = %q", hh)
			}
		})
	}
}

// TestActDialplanLifecycle: the metadata is kept as when recgate acts: an
// armed call pressed and hung up, and an auto call hung up.
func TestActDialplanLifecycle(t *testing.T) {
	h := startServer(t, "")

	h.call("0016-arm", dialplanActs("1002", "DL1"), nil)
	h.recording("DL1", func(r rules.Recording) bool { return r.State == rules.StateArmed })
	_, cmds := h.press("1002", "DL1")
	if countMixMonitor(cmds) != 1 {
		t.Fatalf("press after a dialplan-armed decide: commands %q, want one MixMonitor", cmds)
	}
	h.hangup("1002", "DL1", map[string]string{"DIALSTATUS": "ANSWER"})
	h.recording("DL1", func(r rules.Recording) bool {
		return r.State == rules.StateEnded && r.Trigger == rules.TriggerOnDemand && r.PressedAt != nil
	})

	ast, _ := h.call("0016-arm", dialplanActs("1001", "DL2"), nil)
	file, _ := ast.Var("RECGATE_FILE")
	r := h.recording("DL2", func(r rules.Recording) bool { return r.State == rules.StateRecording })
	if r.File != file || r.Trigger != rules.TriggerAuto {
		t.Errorf("recording %+v, want file %q started by auto", r, file)
	}
	h.hangup("1001", "DL2", map[string]string{"DIALSTATUS": "ANSWER"})
	h.recording("DL2", func(r rules.Recording) bool { return r.State == rules.StateEnded })
}

// TestActDialplanHostileCallerData: caller data in every field the caller
// controls leaves the answer one command of recgate's own variables, and
// what the dialplan runs with them (MixMonitor(${RECGATE_FILE},
// ${RECGATE_MIXMONITOR_OPTIONS}), parsed by Asterisk's argument parser
// after substitution) gets recgate's values only.
func TestActDialplanHostileCallerData(t *testing.T) {
	h := startServer(t, "", `, file_template: "{{.CallerID}}/{{.DID}}_{{.Queue}}_{{.Station}}_{{.UniqueID}}.wav"`)
	hostile := "../a,b(c)|d$e{f}^g\"h\\i\nEXEC System rm -rf /'"
	for i, field := range []string{"agi_callerid", "agi_dnid", "queue", "agi_uniqueid"} {
		t.Run(field, func(t *testing.T) {
			o := dialplanActs("1001", fmt.Sprintf("DX%d", i))
			value := strings.ReplaceAll(hostile, "\n", " ") // an env line cannot hold a newline
			switch field {
			case "queue":
				o["agi_network_script"] += "&queue=" + urlEscape(hostile)
			default:
				o[field] = value
			}
			ast, cmds := h.call("0016-arm", o, nil)
			if len(cmds) != 1 {
				t.Fatalf("commands %q, want exactly 1", cmds)
			}
			if args := agitest.ParseArgs(cmds[0]); len(args) != 3 || args[1] != "MSet" {
				t.Fatalf("command %q is not one EXEC MSet argument", cmds[0])
			}
			if strings.ContainsAny(cmds[0], "$\n{}|^'") || strings.Contains(cmds[0], "..") {
				t.Errorf("command %q carries a caller's special character", cmds[0])
			}
			vars := ast.Vars()
			var names []string
			for k := range vars {
				if strings.HasPrefix(k, "RECGATE_") {
					names = append(names, k)
				}
			}
			slices.Sort(names)
			if want := "RECGATE_ANNOUNCE RECGATE_DECISION RECGATE_DIRECTION RECGATE_FILE RECGATE_HANGUP_HANDLER RECGATE_MIXMONITOR_OPTIONS RECGATE_RULE RECGATE_STATION"; strings.Join(names, " ") != want {
				t.Errorf("variables set %q, want %q", names, want)
			}
			file := vars["RECGATE_FILE"]
			if !strings.HasPrefix(file, h.recDir+"/") || regexp.MustCompile(`[^A-Za-z0-9._+/-]`).MatchString(file) || strings.Contains(file, "..") {
				t.Errorf("RECGATE_FILE %q is not a safe path under %s", file, h.recDir)
			}
			args := agitest.SeparateArgs(file+","+vars["RECGATE_MIXMONITOR_OPTIONS"], ',', true, 10)
			if !slices.Equal(args, []string{file, "b"}) {
				t.Errorf("MixMonitor would run with %q", args)
			}
		})
	}
}
