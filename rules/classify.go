package rules

import (
	"slices"
	"strings"
)

// CallInfo is what recgate knows about a call when it classifies it.
type CallInfo struct {
	Queue     string // the queue argument, if any
	Marker    string // the IVR marker variable's value; empty when unset or not fetched
	Context   string // the dialplan context the AGI ran in (agi_context)
	Extension string // the dialled extension (agi_extension)
}

// Classifier classifies calls whose direction the dialplan did not pass.
type Classifier struct {
	OutboundContexts []string
	InboundContexts  []string
	QueueContexts    []string
}

// NeedsMarker reports whether the IVR marker variable must be fetched from
// the channel to classify the call: only when neither a queue argument nor
// the context already says it came through a queue.
func (c *Classifier) NeedsMarker(ci CallInfo) bool {
	return ci.Queue == "" && !slices.Contains(c.QueueContexts, ci.Context)
}

// Classify returns the direction of a call, in the order of SPEC 3.4:
// queue argument, IVR marker or queue context → inbound_queue; inbound
// context → inbound_direct; outbound context → outbound, or internal when
// the dialled extension is a known station. ok is false when the call
// cannot be classified.
func (c *Classifier) Classify(ci CallInfo, rs *RuleSet) (d Direction, ok bool) {
	switch {
	case ci.Queue != "" || ci.Marker != "" || slices.Contains(c.QueueContexts, ci.Context):
		return InboundQueue, true
	case slices.Contains(c.InboundContexts, ci.Context):
		return InboundDirect, true
	case slices.Contains(c.OutboundContexts, ci.Context):
		if rs != nil && rs.IsStation(ci.Extension) {
			return Internal, true
		}
		return Outbound, true
	}
	return "", false
}

// StationFromChannel extracts the station id from an Asterisk channel name:
// "PJSIP/1001-0000002a", "SIP/1001-0000002a" and "IAX2/1001-1234" give
// "1001" (the text before the last '-', so "PJSIP/acme-1001-0000002a" gives
// "acme-1001"); "Local/1001@from-internal-00000aa4;2" gives "1001". Any
// other technology, or a name that does not parse into a valid station id,
// gives "".
func StationFromChannel(channel string) string {
	tech, rest, ok := strings.Cut(channel, "/")
	if !ok || rest == "" {
		return ""
	}
	switch tech {
	case "PJSIP", "SIP", "IAX2":
		if i := strings.LastIndexByte(rest, '-'); i > 0 {
			rest = rest[:i]
		}
		if strings.ContainsAny(rest, "/@;") {
			return ""
		}
		return validOrEmpty(rest)
	case "Local":
		exten, _, ok := strings.Cut(rest, "@")
		if !ok {
			return ""
		}
		return validOrEmpty(exten)
	}
	return ""
}

// validOrEmpty returns id when it is a valid station id, else "", so a
// hostile channel name never yields an id that reaches variables, logs or
// file names.
func validOrEmpty(id string) string {
	if ValidateStationID(id) != nil || id[0] == '-' {
		return ""
	}
	return id
}
