package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/rules"
)

// confFile is an Asterisk .conf file as [section] → lines (comments and
// blank lines dropped, leading " same => n" kept as written), with the
// files it #includes merged in.
type confFile map[string][]string

func readConf(t *testing.T, name string) confFile {
	t.Helper()
	conf := confFile{}
	readConfInto(t, name, conf)
	return conf
}

func readConfInto(t *testing.T, name string, conf confFile) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "dialplan-examples", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if inc, ok := strings.CutPrefix(line, "#include"); ok {
			readConfInto(t, strings.Trim(strings.TrimSpace(inc), `"<>`), conf)
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(strings.SplitN(line, "]", 2)[0], "[")
			if _, dup := conf[section]; dup && name != "pjsip.conf" {
				t.Errorf("%s: section [%s] defined twice", name, section)
			}
			conf[section] = append(conf[section], []string{}...)
			continue
		}
		conf[section] = append(conf[section], line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestDialplanExamplesMatchServer checks that every recgate URL the
// shipped dialplan builds names a request path and arguments the server
// accepts, that the contexts recgate and the dialplan refer to exist, and
// that the feature recgate arms is the one bound to *2.
func TestDialplanExamplesMatchServer(t *testing.T) {
	def := DefaultConfig()
	ext := readConf(t, "extensions.conf")

	globals := map[string]string{}
	for _, l := range ext["globals"] {
		if k, v, ok := strings.Cut(l, "="); ok {
			globals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if want := "agi://" + def.AGI.Listen; globals["RECGATE"] != want {
		t.Errorf("[globals] RECGATE = %q, want %q (agi.listen)", globals["RECGATE"], want)
	}

	// Every recgate URL: ${RECGATE}/<path>[?<query>][,<args>].
	url := regexp.MustCompile(`\$\{RECGATE\}/([a-z]+)(\?[^),]*)?`)
	paths := map[string]bool{}
	for ctx, lines := range ext {
		for _, l := range lines {
			for _, m := range url.FindAllStringSubmatch(l, -1) {
				paths[m[1]] = true
				if !slices.Contains(gate.Requests(), m[1]) {
					t.Errorf("[%s] %q: request path %q is not one recgate serves %v", ctx, l, m[1], gate.Requests())
				}
				checkQuery(t, ctx, l, strings.TrimPrefix(m[2], "?"))
			}
		}
	}
	for _, p := range gate.Requests() {
		if !paths[p] {
			t.Errorf("extensions.conf never calls recgate's %q request", p)
		}
	}

	// Every Gosub(recgate-decide,s,1(<direction>[,<extra>])) passes a
	// direction recgate knows and extra arguments it reads.
	expr := `(?:\$\{[^}]*\}|[^,)$])*` // text and ${…} expressions, which may hold parentheses
	decide := regexp.MustCompile(`Gosub\(recgate-decide,s,1\((` + expr + `)(?:,(` + expr + `))?\)\)`)
	n := 0
	for ctx, lines := range ext {
		for _, l := range lines {
			for _, m := range decide.FindAllStringSubmatch(l, -1) {
				n++
				if !strings.HasPrefix(m[1], "${") {
					if _, err := rules.ParseDirection(m[1]); err != nil {
						t.Errorf("[%s] %q: %v", ctx, l, err)
					}
				}
				checkQuery(t, ctx, l, m[2])
			}
		}
	}
	if n < 4 {
		t.Errorf("only %d decide calls found; the examples cover outbound, internal, inbound direct and queue", n)
	}

	// Contexts referred to exist: the hangup handler recgate pushes, Dial
	// U() gosubs, the Queue() member gosub, Goto targets.
	handler := strings.Split(def.AGI.HangupHandler, ",")
	if lines, ok := ext[handler[0]]; !ok || !strings.HasPrefix(lines[0], "exten => "+handler[1]+","+handler[2]+",") {
		t.Errorf("agi.hangup_handler %q has no matching context/extension/priority in extensions.conf", def.AGI.HangupHandler)
	}
	refs := regexp.MustCompile(`U\(([a-z0-9-]+)|Gosub\(([a-z0-9-]+),|Goto\(([a-z0-9-]+),s,|Queue\([^,]*,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,([a-z0-9-]+)`)
	for ctx, lines := range ext {
		for _, l := range lines {
			for _, m := range refs.FindAllStringSubmatch(l, -1) {
				for _, name := range m[1:] {
					if name != "" {
						if _, ok := ext[name]; !ok {
							t.Errorf("[%s] %q refers to context [%s], which is not defined", ctx, l, name)
						}
					}
				}
			}
		}
	}
	for _, l := range ext["recgate-decide"] {
		if strings.Contains(l, "AGI(") {
			break
		}
		if strings.Contains(l, "AGIEXITONHANGUP=yes") {
			goto exitOK
		}
	}
	t.Error("[recgate-decide] does not set AGIEXITONHANGUP=yes before AGI()")
exitOK:

	// features.conf: the feature recgate arms is bound to *2 on the channel
	// that presses it, runs the ondemand gosub, and nothing else uses *2 or
	// a prefix of it.
	feat := readConf(t, "features.conf")
	bound := false
	for _, l := range feat["applicationmap"] {
		name, spec, _ := strings.Cut(l, "=>")
		parts := strings.Split(strings.TrimSpace(spec), ",")
		if strings.TrimSpace(name) == def.OnDemand.Feature {
			bound = true
			if parts[0] != "*2" || !strings.HasPrefix(parts[1], "self") || !strings.Contains(spec, "recgate-ondemand") {
				t.Errorf("features.conf binds %s as %q, want *2,self,Gosub(recgate-ondemand,…)", def.OnDemand.Feature, spec)
			}
		}
	}
	if !bound {
		t.Errorf("features.conf [applicationmap] does not define %s", def.OnDemand.Feature)
	}
	for _, sec := range []string{"featuremap", "general"} {
		for _, l := range feat[sec] {
			k, v, _ := strings.Cut(l, "=")
			v = strings.TrimSpace(strings.TrimPrefix(v, ">"))
			if strings.HasPrefix(v, "*") && (strings.HasPrefix("*2", v) || strings.HasPrefix(v, "*2")) {
				t.Errorf("features.conf [%s] %s = %q clashes with *2", sec, strings.TrimSpace(k), v)
			}
		}
	}

	// pjsip.conf: a phone's Record key triggers the same feature.
	pj, err := os.ReadFile(filepath.Join("..", "..", "dialplan-examples", "pjsip.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^record_on_feature\s*=\s*` + def.OnDemand.Feature + `\s*$`).Match(pj) {
		t.Errorf("pjsip.conf does not map record_on_feature to %s", def.OnDemand.Feature)
	}
}

// checkQuery checks a query string's keys against what recgate reads;
// values that are dialplan expressions are not checked.
func checkQuery(t *testing.T, ctx, line, query string) {
	t.Helper()
	if query == "" {
		return
	}
	for _, kv := range strings.Split(query, "&") {
		if strings.HasPrefix(kv, "${") {
			continue // an extra query built elsewhere (checked where it is built)
		}
		k, v, _ := strings.Cut(kv, "=")
		if !slices.Contains(gate.Params(), k) {
			t.Errorf("[%s] %q: argument %q is not one recgate reads %v", ctx, line, k, gate.Params())
		}
		if k == "direction" && !strings.HasPrefix(v, "${") {
			if _, err := rules.ParseDirection(v); err != nil {
				t.Errorf("[%s] %q: %v", ctx, line, err)
			}
		}
	}
}

// TestDialplanExamplesMergeFriendly checks what lets an administrator add
// recgate to a running PBX: recgate.conf holds only recgate's own names and
// is included by extensions.conf; AGIEXITONHANGUP is put back after every
// AGI() on a live channel.
func TestDialplanExamplesMergeFriendly(t *testing.T) {
	ext, err := os.ReadFile(filepath.Join("..", "..", "dialplan-examples", "extensions.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^#include recgate\.conf\s*$`).Match(ext) {
		t.Error("extensions.conf does not #include recgate.conf")
	}
	rc := confFile{}
	readConfInto(t, "recgate.conf", rc)
	for section, lines := range rc {
		switch {
		case section == "globals":
			for _, l := range lines {
				if !strings.HasPrefix(l, "RECGATE") {
					t.Errorf("recgate.conf [globals] %q: only RECGATE* variables belong there", l)
				}
			}
		case !strings.HasPrefix(section, "recgate-"):
			t.Errorf("recgate.conf defines [%s]: only [recgate-*] contexts belong there", section)
		}
	}
	for section, lines := range rc {
		set, restored := false, false
		for _, l := range lines {
			set = set || strings.Contains(l, "Set(AGIEXITONHANGUP=yes)")
			restored = restored || strings.Contains(l, "Set(AGIEXITONHANGUP=${LOCAL(exitonhangup)})")
		}
		// The hangup handler runs on a dead channel: nothing to restore.
		if set && !restored && section != strings.Split(DefaultConfig().AGI.HangupHandler, ",")[0] {
			t.Errorf("[%s] sets AGIEXITONHANGUP=yes and never puts the old value back", section)
		}
	}
}

// TestDialplanExamplesServeTestcall checks that the contexts and the event
// `recgate testcall` relies on are shipped, and that manager.conf's
// account may do what testcall does.
func TestDialplanExamplesServeTestcall(t *testing.T) {
	rc := readConf(t, "recgate.conf")
	for _, d := range rules.AllDirections() {
		if !slices.ContainsFunc(rc[testcallContext], func(l string) bool { return strings.HasPrefix(l, "exten => "+string(d)+",1,") }) {
			t.Errorf("[%s] has no extension %s", testcallContext, d)
		}
	}
	for _, ctx := range []string{testcallPhoneContext, testcallFarContext} {
		if len(rc[ctx]) == 0 {
			t.Errorf("recgate.conf has no [%s]", ctx)
		}
	}
	report := strings.Join(rc["recgate-testcall-report"], "\n")
	if !strings.Contains(report, "UserEvent("+testcallEvent+",") {
		t.Errorf("[recgate-testcall-report] does not send the %s UserEvent", testcallEvent)
	}
	for _, field := range []string{"TestID", "Uniqueid", "Decision", "Rule", "File", "Ondemand", "Failopen"} {
		if !strings.Contains(report, field+": ${") {
			t.Errorf("[recgate-testcall-report] does not report %s", field)
		}
	}
	mgr := readConf(t, "manager.conf")
	account := strings.Join(mgr["recgate"], "\n")
	for _, want := range []string{"read = user", "write = originate", "secret ="} {
		if !strings.Contains(account, want) {
			t.Errorf("manager.conf [recgate] lacks %q", want)
		}
	}
}
