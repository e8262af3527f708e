package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
)

// ConfigEnv names the environment variable that points at the
// configuration file when --config is not given.
const ConfigEnv = "RECGATE_CONFIG"

// DefaultConfigPaths are the files looked at, in this order, when neither
// --config nor RECGATE_CONFIG names one.
func DefaultConfigPaths() []string {
	return []string{"./recgate.yaml", "/etc/recgate/recgate.yaml"}
}

// FindConfig returns the configuration file to read: flagPath (--config)
// when given, else the file named by RECGATE_CONFIG in environ, else the
// first of search that exists. A file named by the flag or the variable
// must exist; with none found the error says where it looked. recgate
// never runs on built-in defaults alone: a command run in the wrong
// directory must not quietly create and use a database of its own.
func FindConfig(flagPath string, environ []string, search []string) (string, error) {
	named := func(path, by string) (string, error) {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("config %s (%s): %w", path, by, err)
		}
		return path, nil
	}
	if flagPath != "" {
		return named(flagPath, "--config")
	}
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == ConfigEnv && v != "" {
			return named(v, ConfigEnv)
		}
	}
	for _, p := range search {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no configuration file: looked for %s (no --config, %s unset); name one, or write one with `recgate init`",
		strings.Join(search, " and "), ConfigEnv)
}

// Config is recgate's configuration (SPEC 7.2): read once, decoded
// strictly, validated, then handed down as plain values.
type Config struct {
	AGI             AGIConfig       `mapstructure:"agi"`
	HTTP            HTTPConfig      `mapstructure:"http"`
	Web             WebConfig       `mapstructure:"web"`
	Store           StoreConfig     `mapstructure:"store"`
	Recording       RecordingConfig `mapstructure:"recording"`
	OnDemand        OnDemandConfig  `mapstructure:"ondemand"`
	Classify        ClassifyConfig  `mapstructure:"classify"`
	Fallback        string          `mapstructure:"fallback"`
	RulesFile       string          `mapstructure:"rules_file"`
	ShutdownTimeout time.Duration   `mapstructure:"shutdown_timeout"`
	Log             LogConfig       `mapstructure:"log"`
	AMI             AMIConfig       `mapstructure:"ami"`
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

// AMIConfig is the Asterisk Manager Interface account `recgate testcall`
// uses (dialplan-examples/manager.conf). recgate serve never uses AMI.
type AMIConfig struct {
	Address  string        `mapstructure:"address"`
	Username string        `mapstructure:"username"`
	Secret   string        `mapstructure:"secret"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

// validate checks the ami section. Username and secret may be empty
// here: only testcall needs them, and says so.
func (c *AMIConfig) validate() error {
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return fmt.Errorf("ami.address %q: %w", c.Address, err)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("ami.timeout must be positive, got %s", c.Timeout)
	}
	return nil
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
		Web:   DefaultWebConfig(),
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
		AMI:             AMIConfig{Address: "127.0.0.1:5038", Username: "recgate", Timeout: 10 * time.Second},
	}
}

// LoadConfig reads the YAML file at path over the defaults, applies
// RECGATE_<SECTION>_<KEY> environment overrides, decodes strictly (an
// unknown key is an error naming it) and validates. It is the one way a
// configuration is read: at start, on SIGHUP and by --check-config. The
// file must exist (FindConfig says which one).
func LoadConfig(path string, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, DefaultConfig())
	for _, kv := range environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "RECGATE_") || k == ConfigEnv {
			continue
		}
		key, known := envKey(v, k)
		if !known {
			return nil, fmt.Errorf("config: environment variable %s names no configuration key", k)
		}
		v.Set(key, val)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Values set from the environment above win over the file.
	if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
		var perr viper.ConfigParseError
		if errors.As(err, &perr) {
			line, col, msg := rulesfile.SyntaxError(data, perr.Unwrap())
			return nil, fmt.Errorf("config %s: invalid YAML: %s", position(path, line, col), msg)
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var cfg Config
	err = v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook,
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

// position is path:line:col as editors and compilers print it, leaving out
// what is not known.
func position(path string, line, col int) string {
	switch {
	case line > 0 && col > 0:
		return fmt.Sprintf("%s:%d:%d", path, line, col)
	case line > 0:
		return fmt.Sprintf("%s:%d", path, line)
	}
	return path
}

// durationForm is how every duration key is written.
const durationForm = "a number with a unit, such as 5s, 200ms or 1m30s"

// durationHook decodes every time.Duration key from text with a unit. A
// bare number (read_timeout: 5) is refused rather than read as
// nanoseconds: 5 ns would time every session out.
func durationHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch v := data.(type) {
	case time.Duration:
		return v, nil // a default
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: write %s", v, durationForm)
		}
		return d, nil
	}
	return nil, fmt.Errorf("%v has no unit: write %s", data, durationForm)
}

// oneLine flattens mapstructure's multi-line error report into one line:
// each problem as "key: problem", joined by "; ".
func oneLine(err error) string {
	msg := strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):")
	var parts []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if m := decodeProblem.FindStringSubmatch(line); m != nil {
			if keys, ok := strings.CutPrefix(m[2], "has invalid keys: "); ok {
				line = unknownKeys(m[1], keys)
			} else {
				line = m[1] + ": " + m[2]
			}
		} else if keys, ok := strings.CutPrefix(line, "has invalid keys: "); ok {
			line = unknownKeys("", keys)
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}

// unknownKeys names each unknown key of section with the keys it takes.
func unknownKeys(section, keys string) string {
	valid := sectionKeys(reflect.TypeFor[Config](), section)
	var out []string
	for _, k := range strings.Split(keys, ", ") {
		if section != "" {
			k = section + "." + k
		}
		out = append(out, fmt.Sprintf("%s: unknown key (valid: %s)", k, strings.Join(valid, ", ")))
	}
	return strings.Join(out, "; ")
}

// sectionKeys lists the keys of the section named by a dotted path ("" for
// the top level) of the configuration type t.
func sectionKeys(t reflect.Type, section string) []string {
	for section != "" {
		name, rest, _ := strings.Cut(section, ".")
		f, ok := fieldByTag(t, name)
		if !ok || f.Type.Kind() != reflect.Struct {
			return nil
		}
		t, section = f.Type, rest
	}
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, t.Field(i).Tag.Get("mapstructure"))
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("mapstructure") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// decodeProblem is one line of mapstructure's report: 'key' problem.
var decodeProblem = regexp.MustCompile(`^'([^']*)' (.*)$`)

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
	setWebDefaults(v, c.Web)
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
	v.SetDefault("ami.address", c.AMI.Address)
	v.SetDefault("ami.username", c.AMI.Username)
	v.SetDefault("ami.secret", c.AMI.Secret)
	v.SetDefault("ami.timeout", c.AMI.Timeout)
}

// Validate checks every value, naming the key of the first bad one.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.AGI.Listen); err != nil {
		return fmt.Errorf("agi.listen %q: %w", c.AGI.Listen, err)
	}
	if _, err := c.AllowPrefixes(); err != nil {
		return err
	}
	if err := checkValues(reflect.ValueOf(c).Elem(), ""); err != nil {
		return err
	}
	switch {
	case c.AGI.MaxSessions < 1:
		return fmt.Errorf("agi.max_sessions must be at least 1, got %d", c.AGI.MaxSessions)
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
	if err := c.Web.Validate(); err != nil {
		return err
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format %q: must be text or json", c.Log.Format)
	}
	if err := c.AMI.validate(); err != nil {
		return err
	}
	return nil
}

// checkValues checks every key of a configuration section by its type, so
// that a key added later is covered without a line of its own: a duration
// must be more than zero (a key where zero means something, such as
// "disabled", says so with the struct tag `zero:"ok"`), and no text may hold
// a control character.
func checkValues(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		key := f.Tag.Get("mapstructure")
		if prefix != "" {
			key = prefix + "." + key
		}
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			if d := time.Duration(fv.Int()); d <= 0 && !(d == 0 && f.Tag.Get("zero") == "ok") {
				return fmt.Errorf("%s: must be more than 0, got %s (write e.g. 5s or 200ms)", key, d)
			}
		case fv.Kind() == reflect.String:
			if err := rules.ValidateText(key, fv.String()); err != nil {
				return err
			}
		case fv.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			for j := range fv.Len() {
				if err := rules.ValidateText(key, fv.Index(j).String()); err != nil {
					return err
				}
			}
		case fv.Kind() == reflect.Struct:
			if err := checkValues(fv, key); err != nil {
				return err
			}
		}
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
