package web

import (
	"context"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// The few places that know how tenants sit in a rules.RuleSet.

// defaultTenant holds everything from before tenants.
const defaultTenant = rules.DefaultTenant

// stationTenant is the tenant a station belongs to.
func stationTenant(st *rules.Station) string { return st.TenantID() }

// tenantGroups returns tenant's groups (nil for an unknown tenant).
func tenantGroups(rs *rules.RuleSet, tenant string) map[string]*rules.Group { return rs.Groups(tenant) }

// tenantExists reports whether tenant exists now (a store that cannot be
// read hides every tenant: the request is answered 404 rather than served
// from nothing).
func (s *Server) tenantExists(ctx context.Context, tenant string) bool {
	rs, err := s.store.Rules(ctx)
	if rs == nil {
		s.log.WarnContext(ctx, "api: rules not readable", "err", err)
		return false
	}
	return rs.Tenants[tenant] != nil
}

// auditOf returns up to limit audit entries of tenant after id after,
// oldest first.
func (s *Server) auditOf(ctx context.Context, tenant string, after int64, limit int) ([]store.AuditEntry, error) {
	return s.store.AuditEntries(ctx, store.AuditFilter{Tenant: tenant, After: after, Limit: limit})
}

// resolveWith is rs with st in place of its stored version: enough to
// resolve st's directions (its tenant, group and the defaults) without
// copying the whole rule set.
func resolveWith(rs *rules.RuleSet, st *rules.Station) *rules.RuleSet {
	small := &rules.RuleSet{Defaults: rs.Defaults, Tenants: map[string]*rules.Tenant{}, Stations: map[string]*rules.Station{st.ID: st}}
	if t := rs.Tenants[st.TenantID()]; t != nil {
		small.Tenants[t.ID] = t
	}
	return small
}
