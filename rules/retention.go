package rules

import (
	"strings"
	"time"
)

// Expired reports whether recording r is past its retention at now (see
// Retention). A recording without a retention, or already deleted, never
// expires. Age counts
// from the end of the call (or its start when the end is unknown). A call
// still marked live (its hangup was never reported) expires one day later
// than an ended one, so a running call is never touched.
func (rs *RuleSet) Expired(r *Recording, now time.Time) bool {
	if r.State == StateDeleted {
		return false
	}
	days, ok := rs.Retention(r)
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

// Retention returns how long recording r is kept: its station's
// retention_days, else its group's, else its tenant's. A station deleted
// since (or never known) no longer names a group: then the group of the
// recording's tenant whose rule decided the recording (its Rule
// "group:NAME"), if that group still exists, applies, else the recording's
// tenant's. A recording without a tenant counts as the default tenant's.
// ok is false when none sets a retention (keep forever).
func (rs *RuleSet) Retention(r *Recording) (days int, ok bool) {
	if _, known := rs.Stations[r.Station]; known {
		return rs.RetentionDays(r.Station)
	}
	tenant := r.Tenant
	if tenant == "" {
		// Before tenants (a group decided: the station was known), or a
		// station never known, decided by the global default: the
		// default tenant's, the deployment-wide retention.
		tenant = DefaultTenant
	}
	if name, isGroup := strings.CutPrefix(r.Rule, "group:"); isGroup {
		if g := rs.Group(tenant, name); g != nil && g.RetentionDays != nil {
			return *g.RetentionDays, true
		}
	}
	if t := rs.Tenants[tenant]; t != nil && t.RetentionDays != nil {
		return *t.RetentionDays, true
	}
	return 0, false
}
