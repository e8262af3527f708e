package rules

import "time"

// Expired reports whether recording r is past its retention at now: the
// station's retention_days, else its group's. A recording without a
// retention, or already deleted, never expires. Age counts
// from the end of the call (or its start when the end is unknown). A call
// still marked live (its hangup was never reported) expires one day later
// than an ended one, so a running call is never touched.
func (rs *RuleSet) Expired(r *Recording, now time.Time) bool {
	if r.State == StateDeleted {
		return false
	}
	days, ok := rs.RetentionDays(r.Station)
	if !ok {
		return false
	}
	if r.State == StateArmed || r.State == StateRecording {
		days++
	}
	t := r.EndedAt
	if t == nil {
		t = r.StartedAt
	}
	if t == nil {
		t = r.ArmedAt
	}
	if t == nil {
		return false
	}
	return now.Sub(*t) >= time.Duration(days)*24*time.Hour
}
