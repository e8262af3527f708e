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

// tenantExists reports whether tenant exists now: one indexed row, not
// the rules snapshot (a write path must not wait for the whole rule set
// to reload after the previous write).
func (s *Server) tenantExists(ctx context.Context, tenant string) (bool, error) {
	_, err := s.store.Tenant(ctx, tenant)
	switch rules.ErrorCode(err) {
	case "":
		return true, nil
	case rules.ENOTFOUND:
		return false, nil
	}
	return false, err
}

// auditOf returns up to limit audit entries of tenant after id after,
// oldest first.
func (s *Server) auditOf(ctx context.Context, tenant string, after int64, limit int) ([]store.AuditEntry, error) {
	return s.store.AuditEntries(ctx, store.AuditFilter{Tenant: tenant, After: after, Limit: limit})
}

// resolveFresh returns a rule set holding st, its tenant, its group and
// the global defaults, read from the store (a few rows): enough to resolve
// st right after a write without reloading every tenant's rules.
func (s *Server) resolveFresh(ctx context.Context, st *rules.Station) (*rules.RuleSet, error) {
	d, err := s.store.Defaults(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.store.Tenant(ctx, st.TenantID())
	if err != nil {
		return nil, err
	}
	if st.Group != "" {
		g, err := s.store.Group(ctx, t.ID, st.Group)
		if err != nil && rules.ErrorCode(err) != rules.ENOTFOUND {
			return nil, err
		}
		if g != nil {
			t.Groups[g.Name] = g
		}
	}
	return &rules.RuleSet{Defaults: d, Tenants: map[string]*rules.Tenant{t.ID: t}, Stations: map[string]*rules.Station{st.ID: st}}, nil
}

// checkGroup refuses a group that tenant does not have, naming the field.
func (s *Server) checkGroup(ctx context.Context, tenant, name, loc string) error {
	_, err := s.store.Group(ctx, tenant, name)
	if rules.ErrorCode(err) == rules.ENOTFOUND {
		rs, err := s.snapshot(ctx)
		if err != nil {
			return err
		}
		return fieldError(loc, "unknown group %q in tenant %s (%s)", name, tenant, groupList(rs, tenant))
	}
	if err != nil {
		return s.fail(ctx, err)
	}
	return nil
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
