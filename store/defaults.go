package store

import (
	"context"

	"github.com/recgate/recgate/rules"
)

// Defaults returns the global defaults (per-direction modes and the
// announce setting) without loading the rule set: with the tenant and
// group of one station, enough to resolve that station after a write.
func (s *Store) Defaults(ctx context.Context) (rules.Defaults, error) {
	var d rules.Defaults
	if err := s.db.QueryRowContext(ctx, "SELECT default_announce FROM settings WHERE id = 1").Scan(&d.Announce); err != nil {
		return d, wrap("defaults", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT direction, mode FROM rules
		WHERE tenant IS NULL AND station_id IS NULL AND group_name IS NULL`)
	if err != nil {
		return d, wrap("defaults", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dir rules.Direction
		var m rules.Mode
		if err := rows.Scan(&dir, &m); err != nil {
			return d, wrap("defaults", err)
		}
		d.Modes = setMode(d.Modes, dir, m)
	}
	return d, wrap("defaults", rows.Err())
}
