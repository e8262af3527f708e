package gate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// call is what decide learned about the call from the request.
type call struct {
	uniqueID, linkedID string
	station            string
	callerID, did      string
	queue              string
	file               string // a recording already started, when decide then fails
}

// callFromRequest copies what decide keeps of the request. Every value is
// a copy (strings.Clone) bounded to maxField bytes: the request's strings
// share the memory of its whole environment block, which a call tracked
// for hours must not keep alive.
func callFromRequest(req *agi.Request) call {
	c := call{
		uniqueID: req.UniqueID,
		linkedID: req.Param("linkedid"),
		station:  req.Param("station"),
		callerID: known(req.CallerID),
		did:      req.Param("did"),
		queue:    req.Param("queue"),
	}
	if c.station == "" {
		c.station = rules.StationFromChannel(req.Channel)
	}
	if c.did == "" {
		c.did = known(req.DNID)
	}
	// On an inbound leg recgate runs on the called station's channel,
	// whose caller id is the station's own: the examples pass the caller's
	// number (the connected line) as caller.
	if p := req.Param("caller"); p != "" {
		c.callerID = p
	}
	for _, f := range []*string{&c.uniqueID, &c.linkedID, &c.station, &c.callerID, &c.did, &c.queue} {
		*f = clip(*f)
	}
	return c
}

// maxField bounds each value a tracked call keeps: Asterisk's uniqueids
// are at most 150 bytes (AST_MAX_UNIQUEID), extensions and caller ids 80.
const maxField = 150

// clip returns a copy of s, cut to maxField bytes (and to whole UTF-8
// characters).
func clip(s string) string {
	if len(s) > maxField {
		s = strings.ToValidUTF8(s[:maxField], "")
	}
	return strings.Clone(s)
}

// known maps Asterisk's "unknown" placeholder to "".
func known(s string) string {
	if s == "unknown" {
		return ""
	}
	return s
}

// decide serves the decide request (SPEC 3.1): classify, resolve, act, and
// set the RECGATE_* variables, in as few round trips as the mode needs:
// off 1, auto 3 (MixMonitor, hangup handler, variables), ondemand 3
// (read DYNAMIC_FEATURES, hangup handler, variables). With act=dialplan
// every mode takes one: recgate answers and the dialplan acts (handOver).
func (h *Handler) decide(ctx context.Context, s *agi.Session) error {
	start := time.Now()
	cfg := h.cfg.Load()
	req := s.Request()
	c := callFromRequest(req)
	if c.station != "" {
		if err := rules.ValidateStationID(c.station); err != nil {
			h.log.Warn("decide: ignoring unusable station id", "uniqueid", req.UniqueID, "err", err)
			c.station = ""
		}
	}

	if c.uniqueID == "" {
		// Asterisk always sends agi_uniqueid; without it the channel could
		// not be told from another one (its recording, the *2 press, the
		// hangup). The dialplan's fail-open decides instead.
		return h.decideFailed(ctx, s, start, c, rules.Decision{Source: rules.SourceFallback}, errors.New("no agi_uniqueid in the request"))
	}
	if len(req.UniqueID) > maxField {
		// Longer than Asterisk ever makes one; kept clipped it would not
		// match the hangup's.
		return h.decideFailed(ctx, s, start, c, rules.Decision{Source: rules.SourceFallback},
			fmt.Errorf("agi_uniqueid longer than %d bytes", maxField))
	}
	rs := h.currentRules(ctx, cfg)
	dir, classified, err := h.direction(ctx, s, cfg, rs, c.queue)
	if err != nil {
		return h.decideFailed(ctx, s, start, c, rules.Decision{Source: rules.SourceFallback}, err)
	}
	var dec rules.Decision
	switch {
	case !classified:
		dec = rules.Fallback(c.station, "", cfg.Fallback)
		if h.metrics != nil {
			h.metrics.Unclassified.Inc()
		}
	case rs == nil:
		dec = rules.Fallback(c.station, dir, cfg.Fallback)
	default:
		dec = rs.Resolve(c.station, dir)
	}
	if dec.Source == rules.SourceFallback {
		dec.Announce = dec.Mode != rules.Off
	}

	prev, tracked := h.calls.get(c.uniqueID)
	if !tracked && dec.Mode != rules.Off && h.calls.mayHaveMissed(c.uniqueID) {
		// The channel may have been decided before recgate restarted (or
		// before it was forgotten): the store may know it.
		prev, tracked = h.lookup(ctx, c.uniqueID)
	}
	if h.act(req) == ActDialplan {
		return h.answer(ctx, s, start, cfg, c, dec, prev, tracked)
	}
	vars := make([]variable, 0, 7)
	switch dec.Mode {
	case rules.Auto:
		rec := prev
		file, err := h.untrackedRecording(ctx, s, c, tracked)
		if err != nil {
			return h.decideFailed(ctx, s, start, c, dec, err)
		}
		if file != "" {
			vars = append(vars, variable{VarFile, file})
			break
		}
		if !tracked || rec.State != rules.StateRecording {
			rec = newRecording(c, dec, h.now())
			if err := h.startMixMonitor(ctx, s, cfg, &rec, rules.TriggerAuto); err != nil {
				return h.decideFailed(ctx, s, start, c, dec, err)
			}
			// Recording now: keep track of it whatever happens next, so a
			// later request (or the dialplan's fail-open) never starts a
			// second MixMonitor on this channel.
			h.calls.put(rec)
			h.writer.save(rec)
			if !tracked {
				if err := h.pushHangupHandler(ctx, s, cfg); err != nil {
					c.file = rec.File
					return h.decideFailed(ctx, s, start, c, dec, err)
				}
			}
		}
		vars = append(vars, variable{VarFile, rec.File})
	case rules.OnDemand:
		features, err := h.armFeatures(ctx, s, cfg)
		if err != nil {
			return h.decideFailed(ctx, s, start, c, dec, err)
		}
		vars = append(vars, variable{"DYNAMIC_FEATURES", features})
		if !tracked {
			if err := h.pushHangupHandler(ctx, s, cfg); err != nil {
				return h.decideFailed(ctx, s, start, c, dec, err)
			}
			rec := newRecording(c, dec, h.now())
			h.calls.put(rec)
			h.writer.save(rec)
		} else if prev.State == rules.StateRecording {
			vars = append(vars, variable{VarFile, prev.File})
		}
	}
	return h.decided(ctx, s, start, c, dec, vars)
}

// decided sets vars and the variables every decision sets, in one command
// when their values allow, then counts and logs the decision.
func (h *Handler) decided(ctx context.Context, s *agi.Session, start time.Time, c call, dec rules.Decision, vars []variable) error {
	direction := directionLabel(dec.Direction)
	vars = append(vars,
		variable{VarDirection, direction},
		variable{VarStation, c.station},
		variable{VarRule, dec.Rule},
		variable{VarAnnounce, yesNo(dec.Announce)},
		variable{VarDecision, string(dec.Mode)}, // last: empty until everything else is done
	)
	if err := setVariables(ctx, s, vars); err != nil {
		return h.decideFailed(ctx, s, start, c, dec, err)
	}
	elapsed := time.Since(start)
	if h.metrics != nil {
		h.metrics.Decisions.WithLabelValues(direction, string(dec.Mode), string(dec.Source)).Inc()
		h.metrics.DecisionDuration.Observe(elapsed.Seconds())
	}
	h.log.Info("decide", "uniqueid", c.uniqueID, "station", c.station, "direction", direction,
		"decision", dec.Mode, "rule", dec.Rule, "commands", s.Commands(), "duration", elapsed)
	return nil
}

// decideFailed reports decision dec that could not be carried out: it sets
// RECGATE_DECISION=error when the channel still listens, so the dialplan
// applies its own default, and counts and logs the cause.
func (h *Handler) decideFailed(ctx context.Context, s *agi.Session, start time.Time, c call, dec rules.Decision, cause error) error {
	if h.metrics != nil {
		h.metrics.Decisions.WithLabelValues(directionLabel(dec.Direction), DecisionError, string(dec.Source)).Inc()
		h.metrics.DecisionDuration.Observe(time.Since(start).Seconds())
	}
	h.log.Error("decide failed", "uniqueid", c.uniqueID, "station", c.station, "err", cause)
	if errors.Is(cause, agi.ErrClosed) {
		return fmt.Errorf("decide: %w", cause)
	}
	vars := []variable{{VarDecision, DecisionError}}
	if c.file != "" { // the dialplan's fail-open must not start a second recording
		vars = []variable{{VarFile, c.file}, {VarDecision, DecisionError}}
	}
	if err := setVariables(ctx, s, vars); err != nil {
		return fmt.Errorf("decide: %w (and setting %s: %v)", cause, VarDecision, err)
	}
	return fmt.Errorf("decide: %w", cause)
}

// direction returns the direction passed by the dialplan or, when absent
// or invalid, classifies the call (SPEC 3.4), fetching the IVR marker
// variable only when nothing else already answered.
func (h *Handler) direction(ctx context.Context, s *agi.Session, cfg *Config, rs *rules.RuleSet, queue string) (rules.Direction, bool, error) {
	req := s.Request()
	if p := req.Param("direction"); p != "" {
		d, err := rules.ParseDirection(p)
		if err == nil {
			return d, true, nil
		}
		h.log.Warn("decide: ignoring bad direction argument; classifying", "uniqueid", req.UniqueID, "err", err)
	}
	ci := rules.CallInfo{Queue: queue, Context: req.Context, Extension: req.Extension}
	if cfg.Classifier.NeedsMarker(ci) {
		v, _, err := s.GetVariable(ctx, cfg.MarkerVar)
		if err != nil {
			return "", false, fmt.Errorf("read %s: %w", cfg.MarkerVar, err)
		}
		ci.Marker = v
	}
	d, ok := cfg.Classifier.Classify(ci, rs)
	return d, ok, nil
}

// directionLabel is how a call's direction is shown to the dialplan
// (RECGATE_DIRECTION), in metrics, logs and file names: a call that could
// not be classified has no direction (and is stored without one) and is
// shown as "unclassified".
func directionLabel(d rules.Direction) string {
	if d == "" {
		return DirectionUnclassified
	}
	return string(d)
}

func newRecording(c call, dec rules.Decision, now time.Time) rules.Recording {
	r := rules.Recording{
		UniqueID: c.uniqueID, LinkedID: c.linkedID, Tenant: dec.Tenant, Station: c.station,
		Direction: dec.Direction, Mode: dec.Mode, Rule: dec.Rule,
		CallerID: c.callerID, DID: c.did, Queue: c.queue,
	}
	if dec.Mode == rules.OnDemand {
		r.State, r.ArmedAt = rules.StateArmed, &now
	}
	return r
}

// startMixMonitor starts recording this channel into a file named from the
// template, and marks rec as recording.
func (h *Handler) startMixMonitor(ctx context.Context, s *agi.Session, cfg *Config, rec *rules.Recording, trigger rules.Trigger) error {
	now := h.now()
	file, err := newFileName(cfg, rec, now)
	if err != nil {
		return err
	}
	args := file
	if cfg.MixMonitorOptions != "" {
		args += "," + cfg.MixMonitorOptions
	}
	res, err := s.Exec(ctx, "MixMonitor", args)
	if err != nil {
		return fmt.Errorf("start MixMonitor: %w", err)
	}
	if res != 0 {
		return fmt.Errorf("start MixMonitor: application answered %d (is app_mixmonitor loaded?)", res)
	}
	rec.File, rec.Trigger, rec.State, rec.StartedAt = file, trigger, rules.StateRecording, &now
	if h.metrics != nil {
		h.metrics.RecordingsStarted.WithLabelValues(directionLabel(rec.Direction), string(trigger)).Inc()
	}
	return nil
}

// newFileName names the file rec is recorded to when it starts at now.
func newFileName(cfg *Config, rec *rules.Recording, now time.Time) (string, error) {
	date, clock := DateFields(now)
	file, err := cfg.Files.Name(FileFields{
		Date: date, Time: clock, Station: rec.Station, Direction: directionLabel(rec.Direction),
		UniqueID: rec.UniqueID, LinkedID: rec.LinkedID, CallerID: rec.CallerID, DID: rec.DID, Queue: rec.Queue,
	})
	if err != nil {
		return "", fmt.Errorf("recording file: %w", err)
	}
	return file, nil
}

// untrackedRecording returns the file MixMonitor already records this
// channel into although neither memory nor the store knows it (decided
// before recgate restarted, or forgotten: calls.mayHaveMissed), so that no
// second MixMonitor starts; "" otherwise. It asks Asterisk
// (MIXMONITOR_FILENAME, set by MixMonitor when it starts), a round trip
// paid only on such channels, never on a call recgate saw start.
func (h *Handler) untrackedRecording(ctx context.Context, s *agi.Session, c call, tracked bool) (string, error) {
	if tracked || !h.calls.mayHaveMissed(c.uniqueID) {
		return "", nil
	}
	file, _, err := s.GetVariable(ctx, "MIXMONITOR_FILENAME")
	if err != nil {
		return "", fmt.Errorf("read MIXMONITOR_FILENAME: %w", err)
	}
	if file != "" {
		h.log.Warn("decide: the channel already records, started before recgate knew it; starting no second recording",
			"uniqueid", c.uniqueID, "file", file)
	}
	return file, nil
}

// pushHangupHandler makes Asterisk call the hangup request when the
// channel ends, so the recording's metadata is closed.
func (h *Handler) pushHangupHandler(ctx context.Context, s *agi.Session, cfg *Config) error {
	if err := s.SetVariable(ctx, "CHANNEL(hangup_handler_push)", cfg.HangupHandler); err != nil {
		return fmt.Errorf("push hangup handler: %w", err)
	}
	return nil
}

// armFeatures reads the channel's DYNAMIC_FEATURES and returns it with the
// on-demand feature added (once), keeping the features already there.
func (h *Handler) armFeatures(ctx context.Context, s *agi.Session, cfg *Config) (string, error) {
	cur, _, err := s.GetVariable(ctx, "DYNAMIC_FEATURES")
	if err != nil {
		return "", fmt.Errorf("read DYNAMIC_FEATURES: %w", err)
	}
	return addFeature(cur, cfg.OnDemandFeature), nil
}

// addFeature adds feature to a '#'-separated DYNAMIC_FEATURES value unless
// it is already there.
func addFeature(features, feature string) string {
	if features == "" {
		return feature
	}
	for _, f := range strings.Split(features, "#") {
		if f == feature {
			return features
		}
	}
	return features + "#" + feature
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// variable is a channel variable to set.
type variable struct{ name, value string }

// setVariables sets vars in one round trip with MSet when every value can
// travel inside an MSet argument unchanged (msetValue); a value that
// cannot is set on its own with SET VARIABLE, which the agi package
// escapes.
func setVariables(ctx context.Context, s *agi.Session, vars []variable) error {
	var b strings.Builder
	for _, v := range vars {
		enc, ok := msetValue(v.value)
		if !ok {
			if err := s.SetVariable(ctx, v.name, v.value); err != nil {
				return fmt.Errorf("set %s: %w", v.name, err)
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v.name)
		b.WriteByte('=')
		b.WriteString(enc)
	}
	if b.Len() == 0 {
		return nil
	}
	res, err := s.Exec(ctx, "MSet", b.String())
	if err != nil {
		return fmt.Errorf("set variables: %w", err)
	}
	if res != 0 {
		return fmt.Errorf("set variables: MSet answered %d", res)
	}
	return nil
}
