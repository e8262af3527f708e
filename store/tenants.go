package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/recgate/recgate/rules"
)

// AllTenants, passed where a method takes a tenant, does not restrict by
// tenant: the operator's view. Every other value restricts to that tenant.
const AllTenants = ""

const (
	tenantColumns  = "id, name, timezone, retention_days, announce_required"
	groupColumns   = "tenant, name, profile, announce, retention_days"
	stationColumns = "id, tenant, name, kind, group_name, announce, retention_days"
)

func scanTenant(r scanner) (*rules.Tenant, error) {
	var (
		t         = rules.Tenant{Groups: map[string]*rules.Group{}}
		retention sql.NullInt64
	)
	if err := r.Scan(&t.ID, &t.Name, &t.TimeZone, &retention, &t.AnnounceRequired); err != nil {
		return nil, err
	}
	t.RetentionDays = intPtr(retention)
	return &t, nil
}

func scanGroup(r scanner) (tenant string, g *rules.Group, err error) {
	var (
		grp       rules.Group
		announce  sql.NullBool
		retention sql.NullInt64
	)
	if err := r.Scan(&tenant, &grp.Name, &grp.Profile, &announce, &retention); err != nil {
		return "", nil, err
	}
	grp.Announce, grp.RetentionDays = boolPtr(announce), intPtr(retention)
	return tenant, &grp, nil
}

func scanStation(r scanner) (*rules.Station, error) {
	var (
		st        rules.Station
		group     sql.NullString
		announce  sql.NullBool
		retention sql.NullInt64
	)
	if err := r.Scan(&st.ID, &st.Tenant, &st.Name, &st.Kind, &group, &announce, &retention); err != nil {
		return nil, err
	}
	st.Group, st.Announce, st.RetentionDays = group.String, boolPtr(announce), intPtr(retention)
	return &st, nil
}

// Tenants returns every tenant ordered by id, each with its per-direction
// defaults and settings but without its groups (Tenant.Groups is empty:
// read them with Groups). For the operator's tenant list.
func (s *Store) Tenants(ctx context.Context) ([]*rules.Tenant, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+tenantColumns+" FROM tenants ORDER BY id")
	if err != nil {
		return nil, wrap("tenants", err)
	}
	defer rows.Close()
	var (
		list []*rules.Tenant
		byID = map[string]*rules.Tenant{}
	)
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, wrap("tenants", err)
		}
		list = append(list, t)
		byID[t.ID] = t
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("tenants", err)
	}
	err = s.scanModes(ctx, "tenants", "SELECT tenant, direction, mode FROM rules WHERE tenant IS NOT NULL AND group_name IS NULL",
		nil, func(owner string) *rules.ModeSet {
			if t := byID[owner]; t != nil {
				return &t.Modes
			}
			return nil
		})
	return list, err
}

// Tenant returns the tenant id with its settings and per-direction defaults
// (not its groups), or an error of code rules.ENOTFOUND.
func (s *Store) Tenant(ctx context.Context, id string) (*rules.Tenant, error) {
	t, err := scanTenant(s.db.QueryRowContext(ctx, "SELECT "+tenantColumns+" FROM tenants WHERE id = ?", id))
	if err != nil {
		return nil, notFound("tenant", err, "tenant %q not found", id)
	}
	err = s.scanModes(ctx, "tenant", "SELECT tenant, direction, mode FROM rules WHERE tenant = ? AND group_name IS NULL",
		[]any{id}, func(string) *rules.ModeSet { return &t.Modes })
	return t, err
}

// StationFilter selects stations. The zero value selects every station of
// every tenant (the operator's view).
type StationFilter struct {
	Tenant string // only this tenant's stations; AllTenants ("") for all
	Group  string // only the stations of this group of Tenant
	After  string // only ids sorting after After: a cursor for paging
	Limit  int    // at most Limit stations (0: all)
}

// Stations returns the stations f selects, ordered by id, each with its
// own per-direction modes. With f.Tenant set, the query is served by the
// (tenant, group) index and never returns another tenant's station: the
// HTTP API passes the caller's tenant here, and f.After with f.Limit for
// cursor paging.
func (s *Store) Stations(ctx context.Context, f StationFilter) ([]*rules.Station, error) {
	var (
		where []string
		args  []any
	)
	if f.Tenant != AllTenants {
		where, args = append(where, "tenant = ?"), append(args, f.Tenant)
	}
	if f.Group != "" {
		where, args = append(where, "group_name = ?"), append(args, f.Group)
	}
	if f.After != "" {
		where, args = append(where, "id > ?"), append(args, f.After)
	}
	q := "SELECT " + stationColumns + " FROM stations"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("stations", err)
	}
	defer rows.Close()
	var (
		list []*rules.Station
		byID = map[string]*rules.Station{}
	)
	for rows.Next() {
		st, err := scanStation(rows)
		if err != nil {
			return nil, wrap("stations", err)
		}
		list = append(list, st)
		byID[st.ID] = st
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("stations", err)
	}
	if len(list) == 0 {
		return list, nil
	}
	// The modes of the stations listed: one query, bounded by the page.
	mq := "SELECT r.station_id, r.direction, r.mode FROM rules r JOIN stations s ON s.id = r.station_id"
	if len(where) > 0 {
		mq += " WHERE " + strings.Join(qualify(where, "s."), " AND ")
	}
	err = s.scanModes(ctx, "stations", mq, args, func(owner string) *rules.ModeSet {
		if st := byID[owner]; st != nil {
			return &st.Modes
		}
		return nil
	})
	return list, err
}

// qualify prefixes each condition's column with p.
func qualify(conds []string, p string) []string {
	out := make([]string, len(conds))
	for i, c := range conds {
		out[i] = p + c
	}
	return out
}

// Station returns station id with its own modes, or an error of code
// rules.ENOTFOUND when it does not exist or belongs to a tenant other than
// tenant (unless tenant is AllTenants): another tenant's station looks
// exactly like a missing one.
func (s *Store) Station(ctx context.Context, tenant, id string) (*rules.Station, error) {
	q, args := "SELECT "+stationColumns+" FROM stations WHERE id = ?", []any{id}
	if tenant != AllTenants {
		q, args = q+" AND tenant = ?", append(args, tenant)
	}
	st, err := scanStation(s.db.QueryRowContext(ctx, q, args...))
	if err != nil {
		return nil, notFound("station", err, "station %q not found", id)
	}
	err = s.scanModes(ctx, "station", "SELECT station_id, direction, mode FROM rules WHERE station_id = ?",
		[]any{id}, func(string) *rules.ModeSet { return &st.Modes })
	return st, err
}

// Groups returns tenant's groups ordered by name, each with its own
// per-direction overrides. Group names are unique within a tenant only, so
// a tenant is required; an unknown tenant has no groups.
func (s *Store) Groups(ctx context.Context, tenant string) ([]*rules.Group, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+groupColumns+" FROM groups WHERE tenant = ? ORDER BY name", tenant)
	if err != nil {
		return nil, wrap("groups", err)
	}
	defer rows.Close()
	var (
		list   []*rules.Group
		byName = map[string]*rules.Group{}
	)
	for rows.Next() {
		_, g, err := scanGroup(rows)
		if err != nil {
			return nil, wrap("groups", err)
		}
		list = append(list, g)
		byName[g.Name] = g
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("groups", err)
	}
	err = s.scanModes(ctx, "groups", "SELECT group_name, direction, mode FROM rules WHERE tenant = ? AND group_name IS NOT NULL",
		[]any{tenant}, func(owner string) *rules.ModeSet {
			if g := byName[owner]; g != nil {
				return &g.Modes
			}
			return nil
		})
	return list, err
}

// Group returns tenant's group name with its own overrides, or an error of
// code rules.ENOTFOUND (also for a group of the same name in another
// tenant).
func (s *Store) Group(ctx context.Context, tenant, name string) (*rules.Group, error) {
	_, g, err := scanGroup(s.db.QueryRowContext(ctx, "SELECT "+groupColumns+" FROM groups WHERE tenant = ? AND name = ?", tenant, name))
	if err != nil {
		return nil, notFound("group", err, "group %q not found", name)
	}
	err = s.scanModes(ctx, "group", "SELECT group_name, direction, mode FROM rules WHERE tenant = ? AND group_name = ?",
		[]any{tenant, name}, func(string) *rules.ModeSet { return &g.Modes })
	return g, err
}

// scanModes runs q, whose rows are (owner, direction, mode), and sets each
// mode in the ModeSet that modes returns for the owner (nil: skip the row).
func (s *Store) scanModes(ctx context.Context, op, q string, args []any, modes func(owner string) *rules.ModeSet) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, scanModeRows(rows, modes))
}

// scanModeRows reads rows of (owner, direction, mode) into the ModeSets
// modes returns, and closes rows.
func scanModeRows(rows *sql.Rows, modes func(owner string) *rules.ModeSet) error {
	defer rows.Close()
	for rows.Next() {
		var (
			owner string
			d     rules.Direction
			m     rules.Mode
		)
		if err := rows.Scan(&owner, &d, &m); err != nil {
			return err
		}
		if ms := modes(owner); ms != nil {
			*ms = setMode(*ms, d, m)
		}
	}
	return rows.Err()
}

// notFound turns sql.ErrNoRows into a rules.ENOTFOUND error with the given
// message; other errors are wrapped as usual.
func notFound(op string, err error, format string, args ...any) error {
	if err == sql.ErrNoRows {
		return fmt.Errorf("store: %s: %w", op, rules.Errorf(rules.ENOTFOUND, format, args...))
	}
	return wrap(op, err)
}
