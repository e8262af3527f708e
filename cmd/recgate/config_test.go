package main

import (
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
	cfg, err := LoadConfig(filepath.Join(t.TempDir(), "absent.yaml"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
}

func TestLoadConfigExampleIsDefaults(t *testing.T) {
	cfg, err := LoadConfig("../../config.example.yaml", true, nil)
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
	cfg, err := LoadConfig(p, true, env)
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tt.body), true, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadConfig = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfigMissingNamedFile(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), true, nil); err == nil {
		t.Fatal("a named, missing config file must be an error")
	}
}
