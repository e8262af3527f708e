package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/rules"
)

// notAnswered are the DIALSTATUS values with which Dial says it reached
// nobody. Only these, on the channel that dialled, say a call was not
// answered; an absent or empty DIALSTATUS says nothing (the called station
// after a transfer, a queue member, a channel that never ran Dial).
var notAnswered = map[string]bool{
	"NOANSWER": true, "BUSY": true, "CANCEL": true, "CONGESTION": true, "CHANUNAVAIL": true,
}

// hangupExpr asks Asterisk, in one round trip that works on a dead
// channel, for the channel's DIALSTATUS and its state: "Up" once the leg
// was answered (the hangup handler runs before the channel driver takes
// the channel down). Seen in hangup handlers on Asterisk 22.10.1: "Up"
// with DIALSTATUS=ANSWER on an answered caller, "Up" with no DIALSTATUS on
// the answered callee, "Ring" with DIALSTATUS=NOANSWER on an unanswered
// caller.
const hangupExpr = "${DIALSTATUS}|${CHANNEL(state)}"

// hangup serves the hangup request (SPEC 3.3), run by the hangup handler
// decide pushed, on the dead channel: it closes the recording's metadata
// with the end time and whether the leg was answered, marks an armed call
// that was never activated, and has a recording that may hold no audio
// checked once MixMonitor has closed it (removeQueue).
func (h *Handler) hangup(ctx context.Context, s *agi.Session) error {
	cfg := h.cfg.Load()
	req := s.Request()
	rec, ok := h.lookup(ctx, req.UniqueID)
	if !ok {
		h.log.Debug("hangup: nothing recorded or armed on this channel", "uniqueid", req.UniqueID)
		return nil
	}
	defer h.calls.remove(req.UniqueID)

	answered, err := h.answered(ctx, s, rec.Direction)
	if err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	now := h.now()
	rec.EndedAt, rec.Answered = &now, answered
	switch rec.State {
	case rules.StateArmed:
		rec.State = rules.StateNotActivated
	case rules.StateRecording:
		rec.State = rules.StateEnded
		if cfg.RemoveUnanswered && (answered == nil || !*answered) {
			h.empties.add(cfg.Files, rec)
		}
	}
	h.writer.save(rec)
	h.log.Info("hangup", "uniqueid", rec.UniqueID, "station", rec.Station, "state", rec.State, "answered", fmtAnswered(answered))
	return nil
}

// answered says whether the leg was answered, from what Asterisk reports:
// nil when it cannot tell. Inbound legs run decide after answer (Dial U()
// or the queue gosub) and are answered by definition; DIALSTATUS is empty
// on them.
func (h *Handler) answered(ctx context.Context, s *agi.Session, d rules.Direction) (*bool, error) {
	yes, no := true, false
	if d == rules.InboundDirect || d == rules.InboundQueue {
		return &yes, nil
	}
	v, _, err := s.GetFullVariable(ctx, hangupExpr)
	if err != nil {
		return nil, fmt.Errorf("read DIALSTATUS and channel state: %w", err)
	}
	status, state, _ := strings.Cut(v, "|")
	switch {
	case status == "ANSWER":
		return &yes, nil
	case notAnswered[status]:
		return &no, nil
	case state == "Up":
		return &yes, nil
	case state != "":
		return &no, nil
	}
	return nil, nil
}

func fmtAnswered(a *bool) string {
	if a == nil {
		return "unknown"
	}
	return yesNo(*a)
}

// removeDelay is how long after the hangup a recording that may hold no
// audio is looked at: the hangup handler runs before MixMonitor has closed
// the file, so its final size is known only some time later.
const removeDelay = 3 * time.Second

// removeQueueLen bounds the recordings waiting for that look; beyond it a
// file is kept (and logged): keeping an empty file loses nothing.
const removeQueueLen = 16384

// removal is a recording to look at once due.
type removal struct {
	files *FileNamer
	rec   rules.Recording
	due   time.Time
}

// removeQueue removes, some time after their hangup, the recordings of
// unanswered (or not provably answered) legs whose file holds no audio:
// the header-only file MixMonitor b leaves when the channel was never
// bridged. A file with any audio is never removed, whatever DIALSTATUS
// said. It owns one goroutine; stop ends it, keeping the files not yet
// looked at.
type removeQueue struct {
	h     *Handler
	delay time.Duration
	queue chan removal
	stop  chan struct{}
	done  chan struct{}
}

func newRemoveQueue(h *Handler, delay time.Duration) *removeQueue {
	q := &removeQueue{h: h, delay: delay, queue: make(chan removal, removeQueueLen),
		stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *removeQueue) add(files *FileNamer, rec rules.Recording) {
	if rec.File == "" {
		return
	}
	select {
	case q.queue <- removal{files: files, rec: rec, due: time.Now().Add(q.delay)}:
	default:
		q.h.log.Warn("hangup: too many recordings waiting to be checked; keeping this one", "file", rec.File)
	}
}

func (q *removeQueue) run() {
	defer close(q.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var r removal
		select {
		case <-q.stop:
			return
		case r = <-q.queue:
		}
		if wait := time.Until(r.due); wait > 0 {
			t.Reset(wait)
			select {
			case <-q.stop:
				return
			case <-t.C:
			}
		}
		q.check(r)
	}
}

// check removes r's file if it holds no audio and marks the recording.
func (q *removeQueue) check(r removal) {
	removed, err := r.files.RemoveIfEmpty(r.rec.File)
	switch {
	case err != nil:
		q.h.log.Info("hangup: recording not checked for audio; kept", "file", r.rec.File, "err", err)
	case removed:
		r.rec.State = rules.StateRemoved
		q.h.writer.save(r.rec)
		q.h.log.Info("hangup: removed a recording without audio", "uniqueid", r.rec.UniqueID, "file", r.rec.File)
	}
}

// close stops the queue; the recordings not looked at yet keep their
// files.
func (q *removeQueue) close() {
	select {
	case <-q.stop:
	default:
		close(q.stop)
	}
	<-q.done
}
