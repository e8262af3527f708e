package web

import (
	"time"

	"context"
	"github.com/recgate/recgate/store"

	"github.com/recgate/recgate/rules"
)

// The few places that know how tenants sit in a rules.RuleSet.

// defaultTenant holds everything from before tenants.
const defaultTenant = "default"

// stationTenant is the tenant a station belongs to.
func stationTenant(_ *rules.Station) string { return defaultTenant }

// tenantGroups returns tenant's groups (nil for an unknown tenant). The
// map is the rule set's own: adding to it adds a group.
func tenantGroups(rs *rules.RuleSet, tenant string) map[string]*rules.Group {
	if tenant != defaultTenant {
		return nil
	}
	return rs.Groups
}

// tenantExists reports whether tenant exists now.
func (s *Server) tenantExists(ctx context.Context, tenant string) bool {
	return tenant == defaultTenant
}

// auditOf returns up to limit audit entries of tenant after id after,
// oldest first.
func (s *Server) auditOf(ctx context.Context, tenant string, after int64, limit int) ([]store.AuditEntry, error) {
	all, err := s.store.Audit(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.ID > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}
