package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "recgate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(writeConfig(t, "# every key at its default\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
}

func TestLoadConfigExampleIsDefaults(t *testing.T) {
	cfg, err := LoadConfig("../../config.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.RulesFile = "rules.example.yaml"
	want.Web.Listen = "127.0.0.1:8573" // SPEC 10: the example turns the API on
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("config.example.yaml differs from the defaults it documents:\n got %+v\nwant %+v", *cfg, want)
	}
}

func TestLoadConfigFileAndEnv(t *testing.T) {
	p := writeConfig(t, `
agi:
  listen: 0.0.0.0:4573
  allow: ["10.0.0.0/8"]
  decision_timeout: 50ms
fallback: auto
classify:
  queue_contexts: [ivr-sales]
`)
	env := []string{"PATH=/bin", "RECGATE_AGI_LISTEN=127.0.0.1:5000", "RECGATE_AGI_ALLOW=127.0.0.0/8,192.0.2.0/24", "RECGATE_LOG_LEVEL=debug"}
	cfg, err := LoadConfig(p, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AGI.Listen != "127.0.0.1:5000" {
		t.Errorf("env did not override agi.listen: %q", cfg.AGI.Listen)
	}
	if !reflect.DeepEqual(cfg.AGI.Allow, []string{"127.0.0.0/8", "192.0.2.0/24"}) {
		t.Errorf("agi.allow = %q", cfg.AGI.Allow)
	}
	if cfg.AGI.DecisionTimeout != 50*time.Millisecond || cfg.Fallback != "auto" || cfg.Log.Level != "debug" {
		t.Errorf("file values not applied: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Classify.QueueContexts, []string{"ivr-sales"}) {
		t.Errorf("classify.queue_contexts = %q", cfg.Classify.QueueContexts)
	}
	if cfg.AGI.MaxSessions != 10000 {
		t.Errorf("unset key lost its default: max_sessions = %d", cfg.AGI.MaxSessions)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, body string
		env        []string
		want       string
	}{
		{"unknown key", "agi:\n  listne: 1.2.3.4:1\n", nil, "listne"},
		{"unknown section", "recordings:\n  dir: /x\n", nil, "recordings"},
		{"unknown env", "", []string{"RECGATE_AGI_LISTNE=x"}, "RECGATE_AGI_LISTNE"},
		{"bad listen", "agi:\n  listen: nope\n", nil, "agi.listen"},
		{"bad allow", "agi:\n  allow: [10.0.0.1]\n", nil, "agi.allow"},
		{"bad duration", "agi:\n  read_timeout: soon\n", nil, "read_timeout"},
		{"zero sessions", "agi:\n  max_sessions: 0\n", nil, "agi.max_sessions"},
		{"bad fallback", "fallback: sometimes\n", nil, "fallback"},
		{"relative dir", "recording:\n  dir: monitor\n", nil, "recording.dir"},
		{"bad template", "recording:\n  file_template: \"{{.Nope}}\"\n", nil, "file_template"},
		{"hostile options", "recording:\n  mixmonitor_options: \"b,/bin/sh\"\n", nil, "mixmonitor_options"},
		{"bad feature", "ondemand:\n  feature: \"a b\"\n", nil, "ondemand.feature"},
		{"bad handler", "agi:\n  hangup_handler: \"x\"\n", nil, "hangup_handler"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level"},
		{"bad format", "log:\n  format: xml\n", nil, "log.format"},
		{"bad yaml", "agi: [\n", nil, "config"},
		{"bare number from the environment", "", []string{"RECGATE_AGI_READ_TIMEOUT=5"}, `agi.read_timeout: "5" is not a duration: write a number with a unit`},
		{"zero from the environment", "", []string{"RECGATE_SHUTDOWN_TIMEOUT=0s"}, "shutdown_timeout: must be more than 0"},
		{"session idle timeout below the touch interval", "web:\n  session_idle_timeout: 30s\n", nil, "web.session_idle_timeout must be at least 2m"},
		{"control character from the environment", "", []string{"RECGATE_CLASSIFY_IVR_MARKER_VAR=A\x1b"}, "classify.ivr_marker_var"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.body), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadConfig = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil {
		t.Fatal("a missing config file must be an error")
	}
}

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/config")

// TestConfigTestdata loads every file of testdata/config and compares the
// error with its .err file (go test -update rewrites them): the mistakes an
// operator makes, each with the message they get, at start, on SIGHUP and
// from --check-config alike (all three go through LoadConfig).
func TestConfigTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := LoadConfig(path, nil)
			if err == nil {
				t.Fatalf("%s loaded without an error", path)
			}
			got := strings.ReplaceAll(err.Error(), path, filepath.Base(path)) + "\n"
			golden := strings.TrimSuffix(path, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run go test -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestFindConfig(t *testing.T) {
	dir := t.TempDir()
	first, second, flagFile, envFile := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "flag.yaml"), filepath.Join(dir, "env.yaml")
	for _, p := range []string{second, flagFile, envFile} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	search := []string{first, second}
	env := []string{"RECGATE_CONFIG=" + envFile}
	tests := []struct {
		name    string
		flag    string
		environ []string
		search  []string
		want    string // the file found, or a part of the error
		wantErr bool
	}{
		{"--config wins", flagFile, env, search, flagFile, false},
		{"then RECGATE_CONFIG", "", env, search, envFile, false},
		{"then the first search path that exists", "", nil, search, second, false},
		{"an empty RECGATE_CONFIG is unset", "", []string{"RECGATE_CONFIG="}, search, second, false},
		{"a missing --config is an error", filepath.Join(dir, "nope.yaml"), env, search, "nope.yaml (--config)", true},
		{"a missing RECGATE_CONFIG is an error", "", []string{"RECGATE_CONFIG=" + filepath.Join(dir, "gone.yaml")}, search, "gone.yaml (RECGATE_CONFIG)", true},
		{"none found says where it looked", "", nil, []string{first}, "no configuration file: looked for " + first + " (no --config, RECGATE_CONFIG unset)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindConfig(tt.flag, tt.environ, tt.search)
			switch {
			case tt.wantErr && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("FindConfig = %q, %v; want an error containing %q", got, err, tt.want)
			case !tt.wantErr && (err != nil || got != tt.want):
				t.Errorf("FindConfig = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
