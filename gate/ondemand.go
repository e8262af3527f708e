package gate

import (
	"context"
	"errors"
	"fmt"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// onDemand serves the ondemand request (SPEC 3.2), run when the employee
// presses *2: it starts MixMonitor on the channel if decide armed it and
// the station's current rule still allows recording. A second press starts
// nothing (idempotent, not a toggle).
func (h *Handler) onDemand(ctx context.Context, s *agi.Session) error {
	cfg := h.cfg.Load()
	req := s.Request()
	rec, tracked := h.lookup(ctx, req.UniqueID)
	if tracked && !h.calls.claim(req.UniqueID) {
		// Another press on the same channel is being served right now.
		return h.onDemandDone(ctx, s, rec, OnDemandAlreadyRecording, nil)
	}
	if tracked {
		defer h.calls.release(req.UniqueID)
		rec, _ = h.calls.get(req.UniqueID)
	}
	switch {
	case !tracked:
		return h.onDemandDone(ctx, s, rec, OnDemandNotArmed, nil)
	case rec.State == rules.StateRecording:
		return h.onDemandDone(ctx, s, rec, OnDemandAlreadyRecording, nil)
	case rec.State != rules.StateArmed:
		return h.onDemandDone(ctx, s, rec, OnDemandNotArmed, nil)
	}
	// A call armed without a direction (unclassified) was armed by the
	// fallback mode: that is still the rule that applies to it.
	mode := cfg.Fallback
	if rs := h.currentRules(ctx, cfg); rs != nil && rec.Direction != "" {
		mode = rs.Resolve(rec.Station, rec.Direction).Mode
	}
	if mode == rules.Off {
		return h.onDemandDone(ctx, s, rec, OnDemandNotAllowed, nil)
	}
	if err := h.startMixMonitor(ctx, s, cfg, &rec, rules.TriggerOnDemand); err != nil {
		return h.onDemandDone(ctx, s, rec, OnDemandError, err)
	}
	rec.PressedAt = rec.StartedAt
	h.calls.put(rec)
	h.writer.save(rec)
	return h.onDemandDone(ctx, s, rec, OnDemandStarted, nil)
}

// lookup finds the recording state of a channel: in memory, else (after a
// restart of recgate) in the store.
func (h *Handler) lookup(ctx context.Context, uniqueid string) (rules.Recording, bool) {
	if rec, ok := h.calls.get(uniqueid); ok {
		return rec, true
	}
	if h.recordings == nil || uniqueid == "" {
		return rules.Recording{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Load().DecisionTimeout)
	defer cancel()
	r, err := h.recordings.RecordingByUniqueID(ctx, uniqueid)
	if err != nil {
		if rules.ErrorCode(err) != rules.ENOTFOUND {
			h.storeError(StoreOpRecordings)
			h.log.Warn("look up recording", "uniqueid", uniqueid, "err", err)
		}
		return rules.Recording{}, false
	}
	if r.State != rules.StateArmed && r.State != rules.StateRecording {
		return rules.Recording{}, false
	}
	h.calls.put(*r)
	return *r, true
}

// onDemandDone tells the channel the outcome of a press (RECGATE_ONDEMAND,
// and RECGATE_FILE when it records), counts and logs it.
func (h *Handler) onDemandDone(ctx context.Context, s *agi.Session, rec rules.Recording, result string, cause error) error {
	if h.metrics != nil {
		h.metrics.OnDemand.WithLabelValues(result).Inc()
	}
	uid := s.Request().UniqueID
	switch {
	case cause != nil:
		h.log.Error("ondemand failed", "uniqueid", uid, "station", rec.Station, "err", cause)
	case result == OnDemandStarted:
		h.log.Info("ondemand", "uniqueid", uid, "station", rec.Station, "result", result, "file", rec.File)
	default:
		h.log.Info("ondemand: nothing started", "uniqueid", uid, "station", rec.Station, "result", result,
			"reason", onDemandReasons[result])
	}
	vars := []variable{{VarOnDemand, result}}
	if rec.State == rules.StateRecording {
		vars = append(vars, variable{VarFile, rec.File})
	}
	if err := setVariables(ctx, s, vars); err != nil {
		if cause != nil {
			return errors.Join(cause, err)
		}
		return fmt.Errorf("ondemand: %w", err)
	}
	if cause != nil {
		return fmt.Errorf("ondemand: %w", cause)
	}
	return nil
}

var onDemandReasons = map[string]string{
	OnDemandAlreadyRecording: "the channel is already recording",
	OnDemandNotArmed:         "decide did not arm on-demand recording on this channel",
	OnDemandNotAllowed:       "the station's current rule no longer allows recording this call",
}
