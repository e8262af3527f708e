package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/rules"
)

// DefaultConfigPath is read when --config is not given (and may be absent).
const DefaultConfigPath = "./recgate.yaml"

// Config is recgate's configuration (SPEC 7.2): read once, decoded
// strictly, validated, then handed down as plain values.
type Config struct {
	AGI             AGIConfig       `mapstructure:"agi"`
	HTTP            HTTPConfig      `mapstructure:"http"`
	Store           StoreConfig     `mapstructure:"store"`
	Recording       RecordingConfig `mapstructure:"recording"`
	OnDemand        OnDemandConfig  `mapstructure:"ondemand"`
	Classify        ClassifyConfig  `mapstructure:"classify"`
	Fallback        string          `mapstructure:"fallback"`
	RulesFile       string          `mapstructure:"rules_file"`
	ShutdownTimeout time.Duration   `mapstructure:"shutdown_timeout"`
	Log             LogConfig       `mapstructure:"log"`
}

// AGIConfig configures the FastAGI listener and sessions.
type AGIConfig struct {
	Listen          string        `mapstructure:"listen"`
	Allow           []string      `mapstructure:"allow"`
	MaxSessions     int           `mapstructure:"max_sessions"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout"`
	DecisionTimeout time.Duration `mapstructure:"decision_timeout"`
	HangupHandler   string        `mapstructure:"hangup_handler"`
}

// HTTPConfig configures the metrics and health listener.
type HTTPConfig struct {
	Listen string `mapstructure:"listen"`
}

// StoreConfig configures the SQLite store.
type StoreConfig struct {
	Path  string `mapstructure:"path"`
	Group string `mapstructure:"group"` // a database created is 0640 with this group; "" means 0600
}

// RecordingConfig configures recording files and MixMonitor.
type RecordingConfig struct {
	Dir               string `mapstructure:"dir"`
	FileTemplate      string `mapstructure:"file_template"`
	MixMonitorOptions string `mapstructure:"mixmonitor_options"`
	RemoveUnanswered  bool   `mapstructure:"remove_unanswered"`
}

// OnDemandConfig configures the *2 feature.
type OnDemandConfig struct {
	Feature string `mapstructure:"feature"`
}

// ClassifyConfig configures call classification when the dialplan passes
// no direction.
type ClassifyConfig struct {
	OutboundContexts []string `mapstructure:"outbound_contexts"`
	InboundContexts  []string `mapstructure:"inbound_contexts"`
	QueueContexts    []string `mapstructure:"queue_contexts"`
	IVRMarkerVar     string   `mapstructure:"ivr_marker_var"`
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// DefaultConfig returns the configuration used for every key the file and
// the environment leave out.
func DefaultConfig() Config {
	return Config{
		AGI: AGIConfig{
			Listen:          "127.0.0.1:4573",
			Allow:           []string{"127.0.0.0/8", "::1/128"},
			MaxSessions:     10000,
			ReadTimeout:     5 * time.Second,
			DecisionTimeout: 200 * time.Millisecond,
			HangupHandler:   "recgate-hangup,s,1",
		},
		HTTP:  HTTPConfig{Listen: "127.0.0.1:9573"},
		Store: StoreConfig{Path: "./recgate.db"},
		Recording: RecordingConfig{
			Dir:               "/var/spool/asterisk/monitor",
			FileTemplate:      "{{.Date}}/{{.Station}}_{{.Direction}}_{{.UniqueID}}.wav",
			MixMonitorOptions: "b",
			RemoveUnanswered:  true,
		},
		OnDemand: OnDemandConfig{Feature: "recgate_ondemand"},
		Classify: ClassifyConfig{
			OutboundContexts: []string{"from-internal"},
			InboundContexts:  []string{"from-trunk"},
			QueueContexts:    []string{},
			IVRMarkerVar:     "RECGATE_VIA",
		},
		Fallback:        "off",
		ShutdownTimeout: 10 * time.Second,
		Log:             LogConfig{Level: "info", Format: "text"},
	}
}

// LoadConfig reads the YAML file at path over the defaults, applies
// RECGATE_<SECTION>_<KEY> environment overrides, decodes strictly (an
// unknown key is an error naming it) and validates. A missing file is an
// error only when required is true (the operator named it).
func LoadConfig(path string, required bool, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, DefaultConfig())
	for _, kv := range environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "RECGATE_") {
			continue
		}
		key, known := envKey(v, k)
		if !known {
			return nil, fmt.Errorf("config: environment variable %s names no configuration key", k)
		}
		v.Set(key, val)
	}
	f, err := os.Open(path)
	switch {
	case err == nil:
		defer f.Close()
		// Values set from the environment above win over the file.
		if err := v.MergeConfig(f); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist) && !required:
	default:
		return nil, fmt.Errorf("config: %w", err)
	}
	var cfg Config
	err = v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return nil, fmt.Errorf("config %s: %s", path, oneLine(err))
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

// oneLine flattens mapstructure's multi-line error report into one line.
func oneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):")
	return strings.Join(strings.Fields(strings.ReplaceAll(msg, "'", "")), " ")
}

// envKey maps RECGATE_AGI_READ_TIMEOUT to agi.read_timeout when that key
// exists.
func envKey(v *viper.Viper, env string) (string, bool) {
	name := strings.ToLower(strings.TrimPrefix(env, "RECGATE_"))
	for _, key := range v.AllKeys() {
		if strings.ReplaceAll(key, ".", "_") == name {
			return key, true
		}
	}
	return "", false
}

func setDefaults(v *viper.Viper, c Config) {
	v.SetDefault("agi.listen", c.AGI.Listen)
	v.SetDefault("agi.allow", c.AGI.Allow)
	v.SetDefault("agi.max_sessions", c.AGI.MaxSessions)
	v.SetDefault("agi.read_timeout", c.AGI.ReadTimeout)
	v.SetDefault("agi.decision_timeout", c.AGI.DecisionTimeout)
	v.SetDefault("agi.hangup_handler", c.AGI.HangupHandler)
	v.SetDefault("http.listen", c.HTTP.Listen)
	v.SetDefault("store.path", c.Store.Path)
	v.SetDefault("store.group", c.Store.Group)
	v.SetDefault("recording.dir", c.Recording.Dir)
	v.SetDefault("recording.file_template", c.Recording.FileTemplate)
	v.SetDefault("recording.mixmonitor_options", c.Recording.MixMonitorOptions)
	v.SetDefault("recording.remove_unanswered", c.Recording.RemoveUnanswered)
	v.SetDefault("ondemand.feature", c.OnDemand.Feature)
	v.SetDefault("classify.outbound_contexts", c.Classify.OutboundContexts)
	v.SetDefault("classify.inbound_contexts", c.Classify.InboundContexts)
	v.SetDefault("classify.queue_contexts", c.Classify.QueueContexts)
	v.SetDefault("classify.ivr_marker_var", c.Classify.IVRMarkerVar)
	v.SetDefault("fallback", c.Fallback)
	v.SetDefault("rules_file", c.RulesFile)
	v.SetDefault("shutdown_timeout", c.ShutdownTimeout)
	v.SetDefault("log.level", c.Log.Level)
	v.SetDefault("log.format", c.Log.Format)
}

// Validate checks every value, naming the key of the first bad one.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.AGI.Listen); err != nil {
		return fmt.Errorf("agi.listen %q: %w", c.AGI.Listen, err)
	}
	if _, err := c.AllowPrefixes(); err != nil {
		return err
	}
	switch {
	case c.AGI.MaxSessions < 1:
		return fmt.Errorf("agi.max_sessions must be at least 1, got %d", c.AGI.MaxSessions)
	case c.AGI.ReadTimeout <= 0:
		return fmt.Errorf("agi.read_timeout must be positive, got %s", c.AGI.ReadTimeout)
	case c.AGI.DecisionTimeout <= 0:
		return fmt.Errorf("agi.decision_timeout must be positive, got %s", c.AGI.DecisionTimeout)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout must be positive, got %s", c.ShutdownTimeout)
	case c.Store.Path == "":
		return errors.New("store.path must be set")
	}
	if c.HTTP.Listen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			return fmt.Errorf("http.listen %q: %w", c.HTTP.Listen, err)
		}
	}
	if _, err := c.GateConfig(); err != nil {
		return err
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: must be text or json", c.Log.Format)
	}
	return nil
}

// AllowPrefixes parses agi.allow.
func (c *Config) AllowPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(c.AGI.Allow))
	for _, s := range c.AGI.Allow {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("agi.allow %q: not a CIDR prefix like 127.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// GateConfig builds the call handler's configuration.
func (c *Config) GateConfig() (*gate.Config, error) {
	fallback, err := rules.ParseMode(c.Fallback)
	if err != nil {
		return nil, fmt.Errorf("fallback: %w", err)
	}
	files, err := gate.NewFileNamer(c.Recording.Dir, c.Recording.FileTemplate)
	if err != nil {
		return nil, err
	}
	g := &gate.Config{
		DecisionTimeout:   c.AGI.DecisionTimeout,
		HangupHandler:     c.AGI.HangupHandler,
		OnDemandFeature:   c.OnDemand.Feature,
		MixMonitorOptions: c.Recording.MixMonitorOptions,
		RemoveUnanswered:  c.Recording.RemoveUnanswered,
		Fallback:          fallback,
		MarkerVar:         c.Classify.IVRMarkerVar,
		Classifier: rules.Classifier{
			OutboundContexts: c.Classify.OutboundContexts,
			InboundContexts:  c.Classify.InboundContexts,
			QueueContexts:    c.Classify.QueueContexts,
		},
		Files: files,
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level %q: must be debug, info, warn or error", s)
}
