package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/recgate/recgate/rules"
)

// Access log actions (SPEC 10): what was done to a recording.
const (
	AccessPlay     = "play"
	AccessDownload = "download"
	AccessExport   = "export"
	AccessDelete   = "delete"
	AccessErase    = "erase"
)

// AccessEntry is one row of the access log: who did what to which
// recording, when and from which address.
type AccessEntry struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Tenant      string    `json:"tenant"`
	Actor       string    `json:"actor"`
	Address     string    `json:"address"`
	Action      string    `json:"action"`
	RecordingID int64     `json:"recording_id"`
}

// LogAccess appends e to the access log (its ID and, when zero, At are
// set here).
func (s *Store) LogAccess(ctx context.Context, e *AccessEntry) error {
	switch e.Action {
	case AccessPlay, AccessDownload, AccessExport, AccessDelete, AccessErase:
	default:
		return rules.Errorf(rules.EINVALID, "store: log access: invalid action %q", e.Action)
	}
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO access_log (at, tenant, actor, address, action, recording_id)
		VALUES (?, ?, ?, ?, ?, ?)`, formatTime(e.At), e.Tenant, e.Actor, e.Address, e.Action, e.RecordingID)
	if err != nil {
		return wrap("log access", err)
	}
	e.ID, err = res.LastInsertId()
	return wrap("log access", err)
}

// AccessFilter selects access log entries. Zero fields do not filter.
type AccessFilter struct {
	Tenant   string // only this tenant's entries
	BeforeID int64  // only entries older than this id (cursor paging)
	Limit    int    // at most this many (0: all)
}

// AccessLog returns the access log entries matching f, newest first.
func (s *Store) AccessLog(ctx context.Context, f AccessFilter) ([]AccessEntry, error) {
	q := "SELECT id, at, tenant, actor, address, action, recording_id FROM access_log WHERE 1 = 1"
	var args []any
	if f.Tenant != "" {
		q, args = q+" AND tenant = ?", append(args, f.Tenant)
	}
	if f.BeforeID > 0 {
		q, args = q+" AND id < ?", append(args, f.BeforeID)
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q, args = q+" LIMIT ?", append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("access log", err)
	}
	defer rows.Close()
	var out []AccessEntry
	for rows.Next() {
		var (
			e  AccessEntry
			at sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &e.Tenant, &e.Actor, &e.Address, &e.Action, &e.RecordingID); err != nil {
			return nil, wrap("access log", err)
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, wrap("access log", err)
		}
		e.At = *t
		out = append(out, e)
	}
	return out, wrap("access log", rows.Err())
}
