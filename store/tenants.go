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

func scanTenant(r scanner, extra ...any) (*rules.Tenant, error) {
	var (
		t         = rules.Tenant{Groups: map[string]*rules.Group{}}
		retention sql.NullInt64
	)
	if err := r.Scan(append([]any{&t.ID, &t.Name, &t.TimeZone, &retention, &t.AnnounceRequired}, extra...)...); err != nil {
		return nil, err
	}
	t.RetentionDays = intPtr(retention)
	return &t, nil
}

func scanGroup(r scanner, extra ...any) (tenant string, g *rules.Group, err error) {
	var (
		grp       rules.Group
		announce  sql.NullBool
		retention sql.NullInt64
	)
	if err := r.Scan(append([]any{&tenant, &grp.Name, &grp.Profile, &announce, &retention}, extra...)...); err != nil {
		return "", nil, err
	}
	grp.Announce, grp.RetentionDays = boolPtr(announce), intPtr(retention)
	return tenant, &grp, nil
}

func scanStation(r scanner, extra ...any) (*rules.Station, error) {
	var (
		st        rules.Station
		group     sql.NullString
		announce  sql.NullBool
		retention sql.NullInt64
	)
	if err := r.Scan(append([]any{&st.ID, &st.Tenant, &st.Name, &st.Kind, &group, &announce, &retention}, extra...)...); err != nil {
		return nil, err
	}
	st.Group, st.Announce, st.RetentionDays = group.String, boolPtr(announce), intPtr(retention)
	return &st, nil
}

// The reads below are one statement each: the objects LEFT JOINed with
// their rule rows, so an object and its modes come from one consistent
// state of the database (what an ETag is computed from), with no second
// query.

// qualified returns the comma-separated columns prefixed with alias.
func qualified(columns, alias string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

// queryOwners runs q, whose rows are an owner's columns then the direction
// and mode of one of its rule rows (NULL when it has none), an owner's rows
// adjacent. scan reads one row (passing the two extra destinations on) and
// returns the owner's key and value; modes returns the value's ModeSet.
func queryOwners[T any](ctx context.Context, db *sql.DB, q string, args []any,
	scan func(r scanner, extra ...any) (string, T, error), modes func(T) *rules.ModeSet) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		list    []T
		lastKey string
	)
	for rows.Next() {
		var d, m sql.NullString
		key, v, err := scan(rows, &d, &m)
		if err != nil {
			return nil, err
		}
		if len(list) == 0 || key != lastKey {
			list, lastKey = append(list, v), key
		}
		if d.Valid {
			ms := modes(list[len(list)-1])
			*ms = setMode(*ms, rules.Direction(d.String), rules.Mode(m.String))
		}
	}
	return list, rows.Err()
}

func tenantRow(r scanner, extra ...any) (string, *rules.Tenant, error) {
	t, err := scanTenant(r, extra...)
	if err != nil {
		return "", nil, err
	}
	return t.ID, t, nil
}

func groupRow(r scanner, extra ...any) (string, *rules.Group, error) {
	_, g, err := scanGroup(r, extra...)
	if err != nil {
		return "", nil, err
	}
	return g.Name, g, nil
}

func stationRow(r scanner, extra ...any) (string, *rules.Station, error) {
	st, err := scanStation(r, extra...)
	if err != nil {
		return "", nil, err
	}
	return st.ID, st, nil
}

func tenantModes(t *rules.Tenant) *rules.ModeSet   { return &t.Modes }
func groupModes(g *rules.Group) *rules.ModeSet     { return &g.Modes }
func stationModes(s *rules.Station) *rules.ModeSet { return &s.Modes }

// tenantsQuery selects tenants with their own defaults' rule rows.
const tenantsQuery = "SELECT %s, r.direction, r.mode FROM tenants t " +
	"LEFT JOIN rules r ON r.tenant = t.id AND r.group_name IS NULL %s ORDER BY t.id"

// Tenants returns every tenant ordered by id, each with its per-direction
// defaults and settings but without its groups (Tenant.Groups is empty:
// read them with Groups). For the operator's tenant list.
func (s *Store) Tenants(ctx context.Context) ([]*rules.Tenant, error) {
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(tenantsQuery, qualified(tenantColumns, "t"), ""), nil, tenantRow, tenantModes)
	if err != nil {
		return nil, wrap("tenants", err)
	}
	return list, nil
}

// Tenant returns the tenant id with its settings and per-direction defaults
// (not its groups), or an error of code rules.ENOTFOUND.
func (s *Store) Tenant(ctx context.Context, id string) (*rules.Tenant, error) {
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(tenantsQuery, qualified(tenantColumns, "t"), "WHERE t.id = ?"),
		[]any{id}, tenantRow, tenantModes)
	if err != nil {
		return nil, wrap("tenant", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("store: tenant: %w", rules.Errorf(rules.ENOTFOUND, "tenant %q not found", id))
	}
	return list[0], nil
}

// StationFilter selects stations. The zero value selects every station of
// every tenant (the operator's view).
type StationFilter struct {
	Tenant string // only this tenant's stations; AllTenants ("") for all
	Group  string // only the stations of this group of Tenant
	After  string // only ids sorting after After: a cursor for paging
	Limit  int    // at most Limit stations (0: all)
}

// stationsQuery selects a page of stations (the inner query's WHERE and
// LIMIT) with their rule rows.
const stationsQuery = "SELECT %s, r.direction, r.mode FROM (SELECT * FROM stations %s ORDER BY id %s) s " +
	"LEFT JOIN rules r ON r.station_id = s.id ORDER BY s.id"

// Stations returns the stations f selects, ordered by id, each with its
// own per-direction modes, in one statement. With f.Tenant set, the query
// is served by the (tenant, group) index and never returns another
// tenant's station: the HTTP API passes the caller's tenant here, and
// f.After with f.Limit for cursor paging.
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
	cond, limit := "", ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit > 0 {
		limit = fmt.Sprintf("LIMIT %d", f.Limit)
	}
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(stationsQuery, qualified(stationColumns, "s"), cond, limit), args, stationRow, stationModes)
	if err != nil {
		return nil, wrap("stations", err)
	}
	return list, nil
}

// Station returns station id with its own modes, or an error of code
// rules.ENOTFOUND when it does not exist or belongs to a tenant other than
// tenant (unless tenant is AllTenants): another tenant's station looks
// exactly like a missing one.
func (s *Store) Station(ctx context.Context, tenant, id string) (*rules.Station, error) {
	cond, args := "WHERE id = ?", []any{id}
	if tenant != AllTenants {
		cond, args = cond+" AND tenant = ?", append(args, tenant)
	}
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(stationsQuery, qualified(stationColumns, "s"), cond, ""), args, stationRow, stationModes)
	if err != nil {
		return nil, wrap("station", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("store: station: %w", rules.Errorf(rules.ENOTFOUND, "station %q not found", id))
	}
	return list[0], nil
}

// groupsQuery selects a tenant's groups with their overrides' rule rows.
const groupsQuery = "SELECT %s, r.direction, r.mode FROM groups g " +
	"LEFT JOIN rules r ON r.tenant = g.tenant AND r.group_name = g.name WHERE g.tenant = ? %s ORDER BY g.name"

// Groups returns tenant's groups ordered by name, each with its own
// per-direction overrides. Group names are unique within a tenant only, so
// a tenant is required; an unknown tenant has no groups.
func (s *Store) Groups(ctx context.Context, tenant string) ([]*rules.Group, error) {
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(groupsQuery, qualified(groupColumns, "g"), ""), []any{tenant}, groupRow, groupModes)
	if err != nil {
		return nil, wrap("groups", err)
	}
	return list, nil
}

// Group returns tenant's group name with its own overrides, or an error of
// code rules.ENOTFOUND (also for a group of the same name in another
// tenant).
func (s *Store) Group(ctx context.Context, tenant, name string) (*rules.Group, error) {
	list, err := queryOwners(ctx, s.db, fmt.Sprintf(groupsQuery, qualified(groupColumns, "g"), "AND g.name = ?"),
		[]any{tenant, name}, groupRow, groupModes)
	if err != nil {
		return nil, wrap("group", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("store: group: %w", rules.Errorf(rules.ENOTFOUND, "group %q not found", name))
	}
	return list[0], nil
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
