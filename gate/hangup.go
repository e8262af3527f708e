package gate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// hangup serves the hangup request (SPEC 3.3), run by the hangup handler
// decide pushed, on the dead channel: it closes the recording's metadata
// with the end time and whether the call was answered, marks an armed
// call that was never activated, and removes the header-only file of an
// unanswered outbound recording.
func (h *Handler) hangup(ctx context.Context, s *agi.Session) error {
	cfg := h.cfg.Load()
	req := s.Request()
	rec, ok := h.lookup(ctx, req.UniqueID)
	if !ok {
		h.log.Debug("hangup: nothing recorded or armed on this channel", "uniqueid", req.UniqueID)
		return nil
	}
	defer h.calls.remove(req.UniqueID)

	answered := true // inbound legs run decide after answer (Dial U() or the queue gosub)
	if rec.Direction != rules.InboundDirect && rec.Direction != rules.InboundQueue {
		status, _, err := s.GetVariable(ctx, "DIALSTATUS")
		if err != nil {
			return fmt.Errorf("hangup: read DIALSTATUS: %w", err)
		}
		answered = status == "ANSWER"
	}
	now := h.now()
	rec.EndedAt, rec.Answered = &now, &answered
	switch rec.State {
	case rules.StateArmed:
		rec.State = rules.StateNotActivated
	case rules.StateRecording:
		rec.State = rules.StateEnded
		if !answered && cfg.RemoveUnanswered {
			h.removeUnanswered(cfg, &rec)
		}
	}
	h.writer.save(rec)
	h.log.Info("hangup", "uniqueid", rec.UniqueID, "station", rec.Station, "state", rec.State, "answered", answered)
	return nil
}

// removeUnanswered deletes the header-only file an unanswered call leaves
// (MixMonitor with b records nothing unbridged). The hangup handler runs
// before MixMonitor closes the file; unlinking it is safe on POSIX.
func (h *Handler) removeUnanswered(cfg *Config, rec *rules.Recording) {
	err := cfg.Files.Remove(rec.File)
	switch {
	case err == nil:
		rec.State = rules.StateRemoved
	case errors.Is(err, fs.ErrNotExist):
		h.log.Info("hangup: unanswered recording not reachable from here; left to Asterisk's host", "file", rec.File)
	default:
		h.log.Warn("hangup: remove unanswered recording", "file", rec.File, "err", err)
	}
}
