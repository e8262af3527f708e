// Package gate is recgate's call handler: it serves the AGI requests the
// dialplan makes (decide at call setup, ondemand when *2 is pressed,
// hangup from the hangup handler), turning rules into the few AGI commands
// that start MixMonitor, arm the on-demand feature or do nothing, and
// keeping the recordings' metadata.
//
// It depends on small interfaces (RuleSource, RecordingStore) defined here,
// not on the store, and on the agi package for the protocol.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// The request paths recgate serves.
const (
	RequestDecide   = "decide"
	RequestOnDemand = "ondemand"
	RequestHangup   = "hangup"
)

// Requests lists the request paths recgate serves.
func Requests() []string { return []string{RequestDecide, RequestOnDemand, RequestHangup} }

// Params lists the request arguments recgate reads (from the URL query or
// key=value AGI arguments).
func Params() []string { return []string{"direction", "station", "queue", "did", "linkedid", "act"} }

// The channel variables recgate sets (SPEC 3.1).
const (
	VarDecision  = "RECGATE_DECISION"
	VarDirection = "RECGATE_DIRECTION"
	VarStation   = "RECGATE_STATION"
	VarRule      = "RECGATE_RULE"
	VarAnnounce  = "RECGATE_ANNOUNCE"
	VarFile      = "RECGATE_FILE"
	VarOnDemand  = "RECGATE_ONDEMAND" // the outcome of a *2 press
)

// RuleSource gives the current rules. The store implements it: it returns
// the last good snapshot together with an error when the database cannot
// be read, and a nil snapshot when it never could.
type RuleSource interface {
	Rules(ctx context.Context) (*rules.RuleSet, error)
}

// Config is what the handler needs to know; it can be swapped at run time
// (SetConfig) by a configuration reload.
type Config struct {
	DecisionTimeout   time.Duration    // the bound on reading the rules
	HangupHandler     string           // pushed when a recording starts or is armed, e.g. "recgate-hangup,s,1"
	OnDemandFeature   string           // the features.conf applicationmap name
	MixMonitorOptions string           // MixMonitor's options, e.g. "b"
	RemoveUnanswered  bool             // remove a recording without audio (empty or header-only) of a leg not known to be answered
	Fallback          rules.Mode       // the mode when no rules can be read
	MarkerVar         string           // the inherited IVR marker variable, e.g. "RECGATE_VIA"
	Classifier        rules.Classifier // contexts for classification
	Files             *FileNamer       // recording file names
}

// Validate checks the values the handler relies on.
func (c *Config) Validate() error {
	switch {
	case c.DecisionTimeout <= 0:
		return errors.New("agi.decision_timeout must be positive")
	case c.Files == nil:
		return errors.New("recording: no file namer")
	case !safeToken(c.OnDemandFeature):
		return fmt.Errorf("ondemand.feature %q may only contain letters, digits, '_' and '-'", c.OnDemandFeature)
	case !safeToken(c.MarkerVar):
		return fmt.Errorf("classify.ivr_marker_var %q may only contain letters, digits, '_' and '-'", c.MarkerVar)
	case !safeHandler(c.HangupHandler):
		return fmt.Errorf("agi.hangup_handler %q must look like context,exten,priority", c.HangupHandler)
	case !safeOptions(c.MixMonitorOptions):
		return fmt.Errorf("recording.mixmonitor_options %q may only contain letters, digits and ( ) . _ -", c.MixMonitorOptions)
	}
	if _, err := rules.ParseMode(string(c.Fallback)); err != nil {
		return fmt.Errorf("fallback: %w", err)
	}
	return nil
}

// Handler serves recgate's AGI requests. It implements agi.Handler.
type Handler struct {
	cfg     atomic.Pointer[Config]
	rules   RuleSource
	calls   *calls
	writer  *writer
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time

	recordings RecordingStore
	empties    *removeQueue
}

// Options are the collaborators of a Handler.
type Options struct {
	Rules      RuleSource
	Recordings RecordingStore
	Metrics    *Metrics
	Logger     *slog.Logger
	Now        func() time.Time // defaults to time.Now
	// RemoveDelay is how long after a hangup a recording that may hold no
	// audio is checked (and removed when it holds none); 0 means 3s.
	RemoveDelay time.Duration
	// MaxCalls caps the live calls tracked in memory; 0 means 50000.
	MaxCalls int
}

// New returns a Handler. Call Close to flush the metadata writer.
func New(cfg *Config, o Options) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{rules: o.Rules, metrics: o.Metrics, log: o.Logger, now: o.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.cfg.Store(cfg)
	h.calls = newCalls(h.now, o.MaxCalls, func() {
		if h.metrics != nil {
			h.metrics.CallsEvicted.Inc()
		}
	})
	h.writer = newWriter(o.Recordings, h.log, func() { h.storeError(StoreOpRecordings) })
	h.recordings = o.Recordings
	delay := o.RemoveDelay
	if delay <= 0 {
		delay = removeDelay
	}
	h.empties = newRemoveQueue(h, delay)
	return h, nil
}

// SetConfig replaces the configuration for the sessions that start after it.
func (h *Handler) SetConfig(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	h.cfg.Store(cfg)
	return nil
}

// Close flushes the recordings' metadata still queued, waiting at most
// until ctx is done, and stops checking ended recordings for audio (those
// not checked yet keep their files). Call it after the AGI server has shut
// down.
func (h *Handler) Close(ctx context.Context) error {
	h.empties.close()
	return h.writer.close(ctx)
}

// ServeAGI dispatches one AGI session by its request path.
func (h *Handler) ServeAGI(ctx context.Context, s *agi.Session) error {
	switch s.Request().Script {
	case RequestDecide:
		return h.decide(ctx, s)
	case RequestOnDemand:
		return h.onDemand(ctx, s)
	case RequestHangup:
		return h.hangup(ctx, s)
	}
	h.log.Warn("unknown request path", "script", s.Request().Script, "uniqueid", s.Request().UniqueID)
	if err := s.SetVariable(ctx, VarDecision, DecisionError); err != nil {
		return fmt.Errorf("unknown request %q: %w", s.Request().Script, err)
	}
	return fmt.Errorf("unknown request path %q", s.Request().Script)
}

func (h *Handler) storeError(op string) {
	if h.metrics != nil {
		h.metrics.StoreErrors.WithLabelValues(op).Inc()
	}
}

// currentRules reads the rules within the decision timeout. It returns nil
// when no rules at all are available (the fallback applies).
func (h *Handler) currentRules(ctx context.Context, cfg *Config) *rules.RuleSet {
	ctx, cancel := context.WithTimeout(ctx, cfg.DecisionTimeout)
	defer cancel()
	rs, err := h.rules.Rules(ctx)
	if err != nil {
		h.storeError(StoreOpRules)
		h.log.Warn("rules unavailable; using the last snapshot or the fallback", "have_snapshot", rs != nil, "err", err)
	}
	return rs
}

func safeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func safeHandler(s string) bool {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !safeToken(p) {
			return false
		}
	}
	return true
}

func safeOptions(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("()._-", c) >= 0) {
			return false
		}
	}
	return true
}

var _ agi.Handler = (*Handler)(nil)
