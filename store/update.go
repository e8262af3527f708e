package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/recgate/recgate/rules"
)

// UpdateRules changes the rules in one IMMEDIATE transaction: it loads the
// current rules inside the transaction, hands fn a copy to modify,
// validates the result (an invalid set is a rules.EINVALID error and
// nothing is written), writes only the differences and one audit row per
// change by actor, and commits. It returns the changes made. Concurrent
// updates from any process are serialised by SQLite: none is lost.
func (s *Store) UpdateRules(ctx context.Context, actor string, fn func(rs *rules.RuleSet) error) ([]Change, error) {
	return s.applyRules(ctx, "update rules", actor, func(current *rules.RuleSet) (*rules.RuleSet, error) {
		next := current.Clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// ReplaceRules replaces the whole rule set with rs (a YAML import) in one
// transaction, with the same validation and auditing as UpdateRules. rs is
// not modified or retained.
func (s *Store) ReplaceRules(ctx context.Context, actor string, rs *rules.RuleSet) ([]Change, error) {
	if rs == nil {
		return nil, rules.Errorf(rules.EINVALID, "store: replace rules: no rule set")
	}
	return s.applyRules(ctx, "replace rules", actor, func(*rules.RuleSet) (*rules.RuleSet, error) {
		return rs, nil
	})
}

func (s *Store) applyRules(ctx context.Context, op, actor string, next func(current *rules.RuleSet) (*rules.RuleSet, error)) ([]Change, error) {
	return s.applyLoaded(ctx, op, actor, loadRules, next)
}

// applyLoaded is applyRules on the part of the rules load reads inside the
// transaction: the whole set, or one tenant's scope (see loadScope). Only
// the differences between what was loaded and what next returns are
// written, so a partial load changes nothing it did not read.
func (s *Store) applyLoaded(ctx context.Context, op, actor string, load func(context.Context, querier) (*rules.RuleSet, error),
	next func(current *rules.RuleSet) (*rules.RuleSet, error)) ([]Change, error) {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsnParams
	if err != nil {
		return nil, wrap(op, err)
	}
	defer tx.Rollback()
	current, err := load(ctx, tx)
	if err != nil {
		return nil, wrap(op, err)
	}
	updated, err := next(current)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, err)
	}
	if err := updated.Validate(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", op, rules.Errorf(rules.EINVALID, "%v", err))
	}
	changes := Diff(current, updated)
	if len(changes) == 0 {
		return nil, nil
	}
	if err := writeRules(ctx, tx, current, updated); err != nil {
		return nil, wrap(op, err)
	}
	if err := insertAudit(ctx, tx, formatTime(s.now()), actor, changes); err != nil {
		return nil, wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap(op, err)
	}
	return changes, nil
}

// ruleWriter holds the statements that write rules, prepared once per
// transaction.
type ruleWriter struct {
	ctx context.Context
	err error

	upsertTenant, deleteTenant   *sql.Stmt
	upsertGroup, deleteGroup     *sql.Stmt
	upsertStation, deleteStation *sql.Stmt
	insertMode, updateMode       *sql.Stmt
	deleteMode, setAnnounce      *sql.Stmt
}

func (w *ruleWriter) prepare(tx *sql.Tx, query string) *sql.Stmt {
	if w.err != nil {
		return nil
	}
	st, err := tx.PrepareContext(w.ctx, query)
	w.err = err
	return st
}

func (w *ruleWriter) exec(st *sql.Stmt, args ...any) {
	if w.err != nil {
		return
	}
	_, w.err = st.ExecContext(w.ctx, args...)
}

// The owner of a rule row: a station; a tenant and a group; a tenant alone;
// or (all empty) the global default.
const ownerMatch = "coalesce(tenant, '') = ? AND coalesce(station_id, '') = ? AND coalesce(group_name, '') = ? AND direction = ?"

// owner names the owner of a rule row.
type owner struct{ tenant, station, group string }

// writeRules writes the differences between old and new: tenants before
// the groups they hold, groups before the stations that join them; stations
// removed before the groups they left, groups before their tenants.
// Deleting a station, group or tenant deletes its rule rows (ON DELETE
// CASCADE).
func writeRules(ctx context.Context, tx *sql.Tx, old, new *rules.RuleSet) error {
	w := &ruleWriter{ctx: ctx}
	w.upsertTenant = w.prepare(tx, `INSERT INTO tenants (id, name, timezone, retention_days, announce_required)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
		retention_days = excluded.retention_days, announce_required = excluded.announce_required`)
	w.deleteTenant = w.prepare(tx, "DELETE FROM tenants WHERE id = ?")
	w.upsertGroup = w.prepare(tx, `INSERT INTO groups (tenant, name, profile, announce, retention_days) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, name) DO UPDATE SET profile = excluded.profile, announce = excluded.announce,
		retention_days = excluded.retention_days`)
	w.deleteGroup = w.prepare(tx, "DELETE FROM groups WHERE tenant = ? AND name = ?")
	w.upsertStation = w.prepare(tx, `INSERT INTO stations (id, tenant, name, kind, group_name, announce, retention_days)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, name = excluded.name, kind = excluded.kind,
		group_name = excluded.group_name, announce = excluded.announce, retention_days = excluded.retention_days`)
	w.deleteStation = w.prepare(tx, "DELETE FROM stations WHERE id = ?")
	w.insertMode = w.prepare(tx, "INSERT INTO rules (tenant, station_id, group_name, direction, mode) VALUES (?, ?, ?, ?, ?)")
	w.updateMode = w.prepare(tx, "UPDATE rules SET mode = ? WHERE "+ownerMatch)
	w.deleteMode = w.prepare(tx, "DELETE FROM rules WHERE "+ownerMatch)
	w.setAnnounce = w.prepare(tx, "UPDATE settings SET default_announce = ? WHERE id = 1")
	if w.err != nil {
		return w.err
	}
	defer func() {
		for _, st := range []*sql.Stmt{w.upsertTenant, w.deleteTenant, w.upsertGroup, w.deleteGroup,
			w.upsertStation, w.deleteStation, w.insertMode, w.updateMode, w.deleteMode, w.setAnnounce} {
			st.Close()
		}
	}()

	if old.Defaults.Announce != new.Defaults.Announce {
		w.exec(w.setAnnounce, new.Defaults.Announce)
	}
	w.modes(owner{}, old.Defaults.Modes, new.Defaults.Modes)
	for id, t := range new.Tenants {
		o := old.Tenants[id]
		if o == nil || !sameTenantRow(o, t) {
			w.exec(w.upsertTenant, t.ID, t.Name, t.TimeZone, nullInt(t.RetentionDays), t.AnnounceRequired)
		}
		var oldModes rules.ModeSet
		var oldGroups map[string]*rules.Group
		if o != nil {
			oldModes, oldGroups = o.Modes, o.Groups
		}
		w.modes(owner{tenant: id}, oldModes, t.Modes)
		for name, g := range t.Groups {
			og := oldGroups[name]
			if og == nil || !sameGroupRow(og, g) {
				w.exec(w.upsertGroup, id, g.Name, g.Profile, nullBool(g.Announce), nullInt(g.RetentionDays))
			}
			w.modes(owner{tenant: id, group: name}, modesOf(og), g.Modes)
		}
	}
	for id, st := range new.Stations {
		o := old.Stations[id]
		if o == nil || !sameStationRow(o, st) {
			w.exec(w.upsertStation, st.ID, st.TenantID(), st.Name, string(st.Kind), nullString(st.Group),
				nullBool(st.Announce), nullInt(st.RetentionDays))
		}
		var oldModes rules.ModeSet
		if o != nil {
			oldModes = o.Modes
		}
		w.modes(owner{station: id}, oldModes, st.Modes)
	}
	for id := range old.Stations {
		if new.Stations[id] == nil {
			w.exec(w.deleteStation, id)
		}
	}
	for id, t := range old.Tenants {
		nt := new.Tenants[id]
		for name := range t.Groups {
			if nt == nil || nt.Groups[name] == nil {
				w.exec(w.deleteGroup, id, name)
			}
		}
		if nt == nil {
			w.exec(w.deleteTenant, id)
		}
	}
	return w.err
}

// modes writes the per-direction differences of one owner.
func (w *ruleWriter) modes(o owner, old, new rules.ModeSet) {
	for _, d := range rules.AllDirections() {
		before, after := old[d], new[d]
		switch {
		case before == after:
		case after == "":
			w.exec(w.deleteMode, o.tenant, o.station, o.group, string(d))
		case before == "":
			w.exec(w.insertMode, nullString(o.tenant), nullString(o.station), nullString(o.group), string(d), string(after))
		default:
			w.exec(w.updateMode, string(after), o.tenant, o.station, o.group, string(d))
		}
	}
}

func modesOf(g *rules.Group) rules.ModeSet {
	if g == nil {
		return nil
	}
	return g.Modes
}

func sameGroupRow(a, b *rules.Group) bool {
	return a.Profile == b.Profile && sameBool(a.Announce, b.Announce) && sameInt(a.RetentionDays, b.RetentionDays)
}

func sameTenantRow(a, b *rules.Tenant) bool {
	return a.Name == b.Name && a.TimeZone == b.TimeZone && sameInt(a.RetentionDays, b.RetentionDays) &&
		a.AnnounceRequired == b.AnnounceRequired
}

func sameStationRow(a, b *rules.Station) bool {
	return a.TenantID() == b.TenantID() && a.Name == b.Name && a.Kind == b.Kind && a.Group == b.Group &&
		sameBool(a.Announce, b.Announce) && sameInt(a.RetentionDays, b.RetentionDays)
}

func sameBool(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
func sameInt(a, b *int) bool   { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func nullInt(i *int) any {
	if i == nil {
		return nil
	}
	return *i
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
