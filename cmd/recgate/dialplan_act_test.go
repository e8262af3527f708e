package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/recgate/recgate/gate"
)

// TestDialplanActsOnOneCommand checks the shipped examples' side of the
// one-command answer (act=dialplan): they ask for it by default, act only
// on variables recgate sets, never start a second MixMonitor, arm *2 on
// the station's channel only, and never put a value from elsewhere into
// an expression Asterisk evaluates.
func TestDialplanActsOnOneCommand(t *testing.T) {
	conf := readConf(t, "extensions.conf")
	if !slices.Contains(conf["globals"], "RECGATE_ACT="+gate.ActDialplan) {
		t.Errorf("[globals] lacks RECGATE_ACT=%s, the shipped default", gate.ActDialplan)
	}
	decide := strings.Join(conf["recgate-decide"], "\n")
	if !strings.Contains(decide, "/decide?") || !strings.Contains(decide, "&act=${RECGATE_ACT}") {
		t.Error("[recgate-decide] does not send act=${RECGATE_ACT}")
	}
	if !strings.Contains(decide, "Gosub(recgate-act,s,1)") {
		t.Error("[recgate-decide] never runs [recgate-act]")
	}
	act := conf["recgate-act"]
	if len(act) == 0 {
		t.Fatal("no [recgate-act]")
	}
	set := []string{gate.VarDecision, gate.VarFile, gate.VarMixMonitorOptions, gate.VarFeature, gate.VarHangupHandler}
	for _, m := range regexp.MustCompile(`\$\{(RECGATE_[A-Z_]+)\}`).FindAllStringSubmatch(strings.Join(act, "\n"), -1) {
		if !slices.Contains(set, m[1]) {
			t.Errorf("[recgate-act] reads %s, which recgate's answer does not set", m[1])
		}
	}
	want := []string{
		"MixMonitor(${" + gate.VarFile + "},${" + gate.VarMixMonitorOptions + "})",
		"Set(CHANNEL(hangup_handler_push)=${" + gate.VarHangupHandler + "})",
		"GotoIf($[${LEN(${MIXMONITOR_FILENAME})} > 0]?done)",
		"FIELDNUM(DYNAMIC_FEATURES,#,${" + gate.VarFeature + "})",
	}
	joined := strings.Join(act, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("[recgate-act] lacks %s", w)
		}
	}
	guard := strings.Index(joined, "LEN(${MIXMONITOR_FILENAME})")
	if mm := strings.Index(joined, "MixMonitor("); guard < 0 || mm < guard {
		t.Error("[recgate-act] starts MixMonitor before checking MIXMONITOR_FILENAME")
	}
	for _, l := range act {
		if strings.Contains(l, "__DYNAMIC_FEATURES") || strings.Contains(l, "_DYNAMIC_FEATURES=") {
			t.Errorf("[recgate-act] %q: DYNAMIC_FEATURES inherited onto other legs", l)
		}
		// Inside $[...] a value is evaluated as an expression: only
		// recgate's own values, or values measured by a function.
		for _, expr := range regexp.MustCompile(`\$\[(.*)\]`).FindAllStringSubmatch(l, -1) {
			for _, v := range []string{"${MIXMONITOR_FILENAME}", "${DYNAMIC_FEATURES}"} {
				if strings.Contains(expr[1], v) && !strings.Contains(expr[1], "LEN("+v+")") {
					t.Errorf("[recgate-act] %q: %s evaluated in an expression", l, v)
				}
			}
		}
	}
}
