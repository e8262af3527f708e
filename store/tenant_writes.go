package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/recgate/recgate/rules"
)

// The writes below change one tenant's objects and read only what they
// need inside their transaction (the tenant, its groups, the stations
// concerned), not the whole rule set: the HTTP API's writes cost the same
// with ten stations or a hundred thousand. Each is validated before it is
// written, audited with actor, applied in one transaction, and returns the
// changes made (nil when nothing changed). A station or group of another
// tenant answers rules.ENOTFOUND, exactly like a missing one.

// scope names what loadScope reads besides the tenant and its groups.
type scope struct {
	tenant       string   // the tenant, with its defaults and groups
	stations     []string // these stations, whatever their tenant
	allStations  bool     // every station of the tenant
	groupMembers string   // the stations of this group of the tenant
}

// loadScope reads, in q's transaction, the default tenant's row (every rule
// set has it), sc.tenant with its defaults and groups, and the stations sc
// names, each with its rule rows. A tenant that does not exist is simply
// absent from the result.
func loadScope(ctx context.Context, q querier, sc scope) (*rules.RuleSet, error) {
	rs := &rules.RuleSet{Tenants: map[string]*rules.Tenant{}, Stations: map[string]*rules.Station{}}
	rows, err := q.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ? OR id = ?", rules.DefaultTenant, sc.tenant)
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read tenants: %w", err)
		}
		rs.Tenants[t.ID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	if rows, err = q.QueryContext(ctx, "SELECT "+groupColumns+" FROM groups WHERE tenant = ?", sc.tenant); err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	for rows.Next() {
		tenant, g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read groups: %w", err)
		}
		rs.Groups(tenant)[g.Name] = g
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}

	var (
		where []string
		args  []any
	)
	if len(sc.stations) > 0 {
		where = append(where, "id IN ("+strings.Repeat("?, ", len(sc.stations)-1)+"?)")
		for _, id := range sc.stations {
			args = append(args, id)
		}
	}
	if sc.allStations {
		where, args = append(where, "tenant = ?"), append(args, sc.tenant)
	}
	if sc.groupMembers != "" {
		where, args = append(where, "(tenant = ? AND group_name = ?)"), append(args, sc.tenant, sc.groupMembers)
	}
	if len(where) > 0 {
		cond := strings.Join(where, " OR ")
		if rows, err = q.QueryContext(ctx, "SELECT "+stationColumns+" FROM stations WHERE "+cond, args...); err != nil {
			return nil, fmt.Errorf("read stations: %w", err)
		}
		for rows.Next() {
			st, err := scanStation(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stations: %w", err)
			}
			rs.Stations[st.ID] = st
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stations: %w", err)
		}
		if rows, err = q.QueryContext(ctx, "SELECT station_id, direction, mode FROM rules WHERE station_id IN (SELECT id FROM stations WHERE "+cond+")", args...); err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		if err := scanModeRows(rows, func(owner string) *rules.ModeSet {
			if st := rs.Stations[owner]; st != nil {
				return &st.Modes
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
	}
	if rows, err = q.QueryContext(ctx, "SELECT coalesce(group_name, ''), direction, mode FROM rules WHERE tenant = ?", sc.tenant); err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	t := rs.Tenants[sc.tenant]
	if err := scanModeRows(rows, func(group string) *rules.ModeSet {
		switch {
		case t == nil:
			return nil
		case group == "":
			return &t.Modes
		case t.Groups[group] != nil:
			return &t.Groups[group].Modes
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return rs, nil
}

// updateScope loads sc, hands fn a copy to change, and writes the result,
// refusing any change outside sc.tenant.
func (s *Store) updateScope(ctx context.Context, op, actor string, sc scope, fn func(rs *rules.RuleSet) error) ([]Change, error) {
	load := func(ctx context.Context, q querier) (*rules.RuleSet, error) { return loadScope(ctx, q, sc) }
	return s.applyLoaded(ctx, op, actor, load, func(current *rules.RuleSet) (*rules.RuleSet, error) {
		next := current.Clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		for _, c := range Diff(current, next) {
			if c.Tenant != sc.tenant {
				return nil, rules.Errorf(rules.EINVALID, "%s: a change outside tenant %s (%s %s)", op, sc.tenant, c.Object, c.Field)
			}
		}
		return next, nil
	})
}

// tenantOf returns the tenant to scope a station write to: tenant, or for
// AllTenants the station's own (ENOTFOUND when it does not exist).
func (s *Store) tenantOf(ctx context.Context, tenant, station string) (string, error) {
	if tenant != AllTenants {
		return tenant, nil
	}
	var t string
	if err := s.db.QueryRowContext(ctx, "SELECT tenant FROM stations WHERE id = ?", station).Scan(&t); err != nil {
		return "", notFound("station", err, "station %q not found", station)
	}
	return t, nil
}

// CreateTenant adds tenant t (settings, defaults and groups; its stations
// are added with CreateStation). An existing id is rules.ECONFLICT. An
// empty TimeZone is rules.DefaultTimeZone.
func (s *Store) CreateTenant(ctx context.Context, actor string, t *rules.Tenant) ([]Change, error) {
	if t == nil {
		return nil, rules.Errorf(rules.EINVALID, "store: create tenant: no tenant")
	}
	return s.updateScope(ctx, "create tenant", actor, scope{tenant: t.ID}, func(rs *rules.RuleSet) error {
		if rs.Tenants[t.ID] != nil {
			return rules.Errorf(rules.ECONFLICT, "tenant %s already exists", t.ID)
		}
		c := t.Clone()
		if c.TimeZone == "" {
			c.TimeZone = rules.DefaultTimeZone
		}
		rs.Tenants[c.ID] = c
		return nil
	})
}

// UpdateTenant changes tenant id's settings and per-direction defaults
// (and, if fn wants, its groups) in one audited transaction. fn gets a copy
// with the tenant's groups; its stations are not loaded, so removing a
// group that still has stations fails (rules.ECONFLICT): use DeleteGroup.
// The id cannot change. A missing tenant is rules.ENOTFOUND.
func (s *Store) UpdateTenant(ctx context.Context, actor, id string, fn func(t *rules.Tenant) error) ([]Change, error) {
	return s.updateScope(ctx, "update tenant", actor, scope{tenant: id}, func(rs *rules.RuleSet) error {
		t := rs.Tenants[id]
		if t == nil {
			return rules.Errorf(rules.ENOTFOUND, "tenant %q not found", id)
		}
		if err := fn(t); err != nil {
			return err
		}
		if t.ID != id {
			return rules.Errorf(rules.EINVALID, "a tenant's id cannot change (%s)", id)
		}
		return nil
	})
}

// DeleteTenant removes tenant id. A tenant that still has stations or
// groups is rules.ECONFLICT unless force, which removes them with it (their
// recordings' metadata stays). The default tenant cannot be removed.
func (s *Store) DeleteTenant(ctx context.Context, actor, id string, force bool) ([]Change, error) {
	if id == rules.DefaultTenant {
		return nil, rules.Errorf(rules.ECONFLICT, "tenant %s cannot be removed", rules.DefaultTenant)
	}
	return s.updateScope(ctx, "delete tenant", actor, scope{tenant: id, allStations: true}, func(rs *rules.RuleSet) error {
		t := rs.Tenants[id]
		if t == nil {
			return rules.Errorf(rules.ENOTFOUND, "tenant %q not found", id)
		}
		stations := rs.TenantStationIDs(id)
		if (len(stations) > 0 || len(t.Groups) > 0) && !force {
			return rules.Errorf(rules.ECONFLICT, "tenant %s still has %d station(s) and %d group(s); use --force to remove them with it",
				id, len(stations), len(t.Groups))
		}
		for _, st := range stations {
			delete(rs.Stations, st)
		}
		delete(rs.Tenants, id)
		return nil
	})
}

// CreateStation adds st to tenant (st.Tenant must be empty or tenant).
// Station ids are unique across tenants: an id in use anywhere is
// rules.ECONFLICT. Its group must be one of tenant's.
func (s *Store) CreateStation(ctx context.Context, actor, tenant string, st *rules.Station) ([]Change, error) {
	if st == nil {
		return nil, rules.Errorf(rules.EINVALID, "store: create station: no station")
	}
	if st.Tenant != "" && st.Tenant != tenant {
		return nil, rules.Errorf(rules.EINVALID, "station %s: tenant %q, not %q", st.ID, st.Tenant, tenant)
	}
	return s.updateScope(ctx, "create station", actor, scope{tenant: tenant, stations: []string{st.ID}}, func(rs *rules.RuleSet) error {
		if rs.Tenants[tenant] == nil {
			return rules.Errorf(rules.ENOTFOUND, "tenant %q not found", tenant)
		}
		if rs.Stations[st.ID] != nil {
			return rules.Errorf(rules.ECONFLICT, "station %s already exists", st.ID)
		}
		c := st.Clone()
		c.Tenant = tenant
		rs.Stations[c.ID] = c
		return nil
	})
}

// UpdateStation changes station id of tenant (AllTenants: whichever tenant
// it is in) through fn, which gets a copy. Its id and tenant cannot change;
// its group must be one of its tenant's. A station that is missing or in
// another tenant is rules.ENOTFOUND. fn may return an error (e.g. a
// rules.ECONFLICT for a stale ETag) to change nothing.
func (s *Store) UpdateStation(ctx context.Context, actor, tenant, id string, fn func(st *rules.Station) error) ([]Change, error) {
	tenant, err := s.tenantOf(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return s.updateScope(ctx, "update station", actor, scope{tenant: tenant, stations: []string{id}}, func(rs *rules.RuleSet) error {
		st := rs.Stations[id]
		if st == nil || st.TenantID() != tenant {
			return rules.Errorf(rules.ENOTFOUND, "station %q not found", id)
		}
		if err := fn(st); err != nil {
			return err
		}
		if st.ID != id || st.TenantID() != tenant {
			return rules.Errorf(rules.EINVALID, "station %s: its id and tenant cannot change here", id)
		}
		return nil
	})
}

// DeleteStation removes station id of tenant (AllTenants: any) and its own
// rules; its recordings' metadata stays. Missing or another tenant's is
// rules.ENOTFOUND.
func (s *Store) DeleteStation(ctx context.Context, actor, tenant, id string) ([]Change, error) {
	tenant, err := s.tenantOf(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	return s.updateScope(ctx, "delete station", actor, scope{tenant: tenant, stations: []string{id}}, func(rs *rules.RuleSet) error {
		if st := rs.Stations[id]; st == nil || st.TenantID() != tenant {
			return rules.Errorf(rules.ENOTFOUND, "station %q not found", id)
		}
		delete(rs.Stations, id)
		return nil
	})
}

// CreateGroup adds g to tenant. A name already used in tenant is
// rules.ECONFLICT; other tenants' names do not matter.
func (s *Store) CreateGroup(ctx context.Context, actor, tenant string, g *rules.Group) ([]Change, error) {
	if g == nil {
		return nil, rules.Errorf(rules.EINVALID, "store: create group: no group")
	}
	return s.updateScope(ctx, "create group", actor, scope{tenant: tenant}, func(rs *rules.RuleSet) error {
		t := rs.Tenants[tenant]
		if t == nil {
			return rules.Errorf(rules.ENOTFOUND, "tenant %q not found", tenant)
		}
		if t.Groups[g.Name] != nil {
			return rules.Errorf(rules.ECONFLICT, "group %s already exists", g.Name)
		}
		t.Groups[g.Name] = g.Clone()
		return nil
	})
}

// UpdateGroup changes tenant's group name through fn, which gets a copy.
// The name cannot change. Missing (or only in another tenant) is
// rules.ENOTFOUND.
func (s *Store) UpdateGroup(ctx context.Context, actor, tenant, name string, fn func(g *rules.Group) error) ([]Change, error) {
	return s.updateScope(ctx, "update group", actor, scope{tenant: tenant}, func(rs *rules.RuleSet) error {
		g := rs.Group(tenant, name)
		if g == nil {
			return rules.Errorf(rules.ENOTFOUND, "group %q not found", name)
		}
		if err := fn(g); err != nil {
			return err
		}
		if g.Name != name {
			return rules.Errorf(rules.EINVALID, "group %s: its name cannot change", name)
		}
		return nil
	})
}

// DeleteGroup removes tenant's group name. A group with stations is
// rules.ECONFLICT unless force, which moves them to no group.
func (s *Store) DeleteGroup(ctx context.Context, actor, tenant, name string, force bool) ([]Change, error) {
	return s.updateScope(ctx, "delete group", actor, scope{tenant: tenant, groupMembers: name}, func(rs *rules.RuleSet) error {
		t := rs.Tenants[tenant]
		if t == nil || t.Groups[name] == nil {
			return rules.Errorf(rules.ENOTFOUND, "group %q not found", name)
		}
		members := rs.TenantStationIDs(tenant)
		if len(members) > 0 && !force {
			return rules.Errorf(rules.ECONFLICT, "group %s still has %d station(s) (%s); use --force to move them to no group",
				name, len(members), strings.Join(members[:min(len(members), 10)], ", "))
		}
		for _, id := range members {
			rs.Stations[id].Group = ""
		}
		delete(t.Groups, name)
		return nil
	})
}
