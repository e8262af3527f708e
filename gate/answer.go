package gate

import (
	"context"
	"time"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// Who carries out a decision on the channel, chosen by the request's act
// argument (decide?act=dialplan). Without it recgate acts, as dialplans
// written for recgate before act existed expect.
const (
	// ActRecgate: recgate runs MixMonitor, arms the on-demand feature and
	// pushes the hangup handler itself: 1 command for off, 3 for auto and
	// ondemand.
	ActRecgate = "recgate"
	// ActDialplan: recgate answers with every variable in one command and
	// the dialplan acts on them with no network in between: 1 command for
	// every mode (the shipped examples).
	ActDialplan = "dialplan"
)

// The variables of the one-command answer (act=dialplan) that tell the
// dialplan how to act; RECGATE_FILE names the file to record to.
const (
	VarMixMonitorOptions = "RECGATE_MIXMONITOR_OPTIONS" // auto: MixMonitor's options
	VarFeature           = "RECGATE_FEATURE"            // ondemand: the feature to add to DYNAMIC_FEATURES
	VarHangupHandler     = "RECGATE_HANGUP_HANDLER"     // set in every answer; when not empty, push it
)

// act returns who acts on this request's decision. An act value recgate
// does not know is logged and recgate acts: the call is still decided.
func (h *Handler) act(req *agi.Request) string {
	switch v := req.Param("act"); v {
	case ActDialplan:
		return ActDialplan
	case "", ActRecgate:
	default:
		h.log.Warn("decide: unknown act argument; recgate acts", "uniqueid", req.UniqueID, "act", Sanitize(v))
	}
	return ActRecgate
}

// answer is decide's answer when the dialplan acts (act=dialplan): the
// variables of handOver in one command, then the recording started or
// armed is tracked and its metadata saved, as when recgate acts itself.
// Nothing is tracked or saved when the answer did not reach Asterisk: the
// dialplan then starts nothing (it fails open) and pushes no hangup
// handler that would ever close the row.
func (h *Handler) answer(ctx context.Context, s *agi.Session, start time.Time, cfg *Config, c call, dec rules.Decision, prev rules.Recording, tracked bool) error {
	vars, rec, err := h.handOver(ctx, s, cfg, c, dec, prev, tracked)
	if err != nil {
		return h.decideFailed(ctx, s, start, c, dec, err)
	}
	if err := h.decided(ctx, s, start, c, dec, vars); err != nil {
		return err
	}
	if rec != nil {
		h.calls.put(*rec)
		h.writer.save(*rec)
		if h.metrics != nil && rec.State == rules.StateRecording {
			h.metrics.RecordingsStarted.WithLabelValues(directionLabel(rec.Direction), string(rec.Trigger)).Inc()
		}
	}
	return nil
}

// handOver returns the variables that tell the dialplan what to do with
// decision dec, and the recording it starts or arms (nil for none), sending
// no command of its own: the whole decision is then one round trip. The
// dialplan, on RECGATE_DECISION:
//
//   - auto: MixMonitor(${RECGATE_FILE},${RECGATE_MIXMONITOR_OPTIONS}),
//     unless the channel already records (MIXMONITOR_FILENAME is set: no
//     second MixMonitor on a channel, also after a restart of recgate);
//   - ondemand: RECGATE_FEATURE appended to this channel's own
//     DYNAMIC_FEATURES (no __ inheritance, the features already there
//     kept);
//   - and, when RECGATE_HANGUP_HANDLER is not empty, it is pushed with
//     Set(CHANNEL(hangup_handler_push)=${RECGATE_HANGUP_HANDLER}).
//
// Every value is one recgate built from safe characters (the file name
// sanitised, the options, feature and handler validated configuration),
// so nothing from the caller reaches MixMonitor's arguments or the
// dialplan's evaluation.
//
// The one exception to one round trip is decide's own on a channel that
// may have been decided before recgate restarted and that neither memory
// nor the store knows (calls.mayHaveMissed): recgate then reads
// MIXMONITOR_FILENAME first, as when it acts itself, so that its metadata
// names the file really being recorded.
func (h *Handler) handOver(ctx context.Context, s *agi.Session, cfg *Config, c call, dec rules.Decision, prev rules.Recording, tracked bool) ([]variable, *rules.Recording, error) {
	vars := make([]variable, 0, 10)
	var started *rules.Recording
	push := false
	switch dec.Mode {
	case rules.Auto:
		rec := prev
		file, err := h.untrackedRecording(ctx, s, c, tracked)
		if err != nil {
			return nil, nil, err
		}
		if file != "" {
			vars = append(vars, variable{VarFile, file}, variable{VarMixMonitorOptions, cfg.MixMonitorOptions})
			break
		}
		if !tracked || rec.State != rules.StateRecording {
			now := h.now()
			rec = newRecording(c, dec, now)
			file, err := newFileName(cfg, &rec, now)
			if err != nil {
				return nil, nil, err
			}
			rec.File, rec.Trigger, rec.State, rec.StartedAt = file, rules.TriggerAuto, rules.StateRecording, &now
			started = &rec
			push = !tracked
		}
		vars = append(vars, variable{VarFile, rec.File}, variable{VarMixMonitorOptions, cfg.MixMonitorOptions})
	case rules.OnDemand:
		vars = append(vars, variable{VarFeature, cfg.OnDemandFeature})
		if !tracked {
			rec := newRecording(c, dec, h.now())
			started = &rec
			push = true
		} else if prev.State == rules.StateRecording {
			vars = append(vars, variable{VarFile, prev.File})
		}
	}
	// Always set, so that a handler named by an earlier decision on the
	// same channel is not pushed twice.
	handler := ""
	if push {
		handler = cfg.HangupHandler
	}
	return append(vars, variable{VarHangupHandler, handler}), started, nil
}

// msetValue returns v as it must be written in an MSet argument for MSet
// to set exactly v, and whether it can be. MSet (pbx_builtin_setvar_multiple)
// splits its argument with Asterisk's application argument parser: a
// comma ends a pair unless inside double quotes or parentheses, quotes and
// backslashes are removed. So a value of letters, digits and
// . _ + - / : @ # travels as it is, parentheses only balanced (an open one
// would swallow the pairs after it), and a value with a comma (a hangup
// handler "recgate-hangup,s,1") inside double quotes. Anything else
// (quotes, backslashes, brackets, $, spaces) cannot.
func msetValue(v string) (string, bool) {
	depth, comma := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case isSafeByte(c) || c == '/' || c == ':' || c == '@' || c == '#':
		case c == ',':
			comma = true
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth < 0 {
				return "", false
			}
		default:
			return "", false
		}
	}
	if depth != 0 {
		return "", false
	}
	if comma {
		return `"` + v + `"`, true
	}
	return v, true
}
