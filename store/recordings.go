package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/recgate/recgate/rules"
)

// RecordingFilter selects recordings. Zero fields do not filter.
type RecordingFilter struct {
	Tenant  string                 // only this tenant's recordings; AllTenants ("") for all
	Station string                 // only this station's recordings
	Since   time.Time              // started (or armed) at or after Since
	States  []rules.RecordingState // only recordings in one of these states
	Limit   int                    // at most Limit recordings (0: all)
}

const recordingColumns = `id, uniqueid, linkedid, tenant, station, direction, mode, trigger_by, rule, file,
	callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at, answered, deleted_at`

// recordingTime is when a recording began: started, else armed.
const recordingTime = "coalesce(started_at, armed_at)"

// upsertRecording writes one recording's row, inserted or replaced by
// uniqueid (a channel's row is written again as its state moves on).
const upsertRecording = `INSERT INTO recordings (uniqueid, linkedid, tenant, station, direction, mode,
		trigger_by, rule, file, callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at,
		answered, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (uniqueid) DO UPDATE SET linkedid = excluded.linkedid, tenant = excluded.tenant, station = excluded.station,
		direction = excluded.direction, mode = excluded.mode, trigger_by = excluded.trigger_by,
		rule = excluded.rule, file = excluded.file, callerid = excluded.callerid, did = excluded.did,
		queue = excluded.queue, state = excluded.state, armed_at = excluded.armed_at,
		started_at = excluded.started_at, pressed_at = excluded.pressed_at, ended_at = excluded.ended_at,
		answered = excluded.answered, deleted_at = excluded.deleted_at`

// SaveRecordings inserts or updates (by UniqueID) a batch of recordings in
// one transaction, and sets the ID of each. It is meant for an asynchronous
// writer, so the call path never waits on SQLite.
func (s *Store) SaveRecordings(ctx context.Context, recs []*rules.Recording) error {
	if len(recs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("save recordings", err)
	}
	defer tx.Rollback()
	// Exec, not a RETURNING query per row: inside a transaction every
	// database/sql Rows starts a goroutine, which cost more than the
	// insert. The ids are read back once per batch below.
	st, err := tx.PrepareContext(ctx, upsertRecording)
	if err != nil {
		return wrap("save recordings", err)
	}
	defer st.Close()
	for _, r := range recs {
		if r.UniqueID == "" {
			return rules.Errorf(rules.EINVALID, "store: save recordings: recording of station %q has no uniqueid", r.Station)
		}
		_, err := st.ExecContext(ctx, r.UniqueID, r.LinkedID, r.Tenant, r.Station, string(r.Direction), string(r.Mode),
			string(r.Trigger), r.Rule, r.File, r.CallerID, r.DID, r.Queue, string(r.State),
			nullTime(r.ArmedAt), nullTime(r.StartedAt), nullTime(r.PressedAt), nullTime(r.EndedAt),
			nullBool(r.Answered), nullTime(r.DeletedAt))
		if err != nil {
			return wrap(fmt.Sprintf("save recording %s", r.UniqueID), err)
		}
	}
	ids, err := recordingIDs(ctx, tx, recs)
	if err != nil {
		return wrap("save recordings", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap("save recordings", err)
	}
	for _, r := range recs {
		r.ID = ids[r.UniqueID]
	}
	return nil
}

// recordingIDs reads the ids of recs' rows by uniqueid, a chunk of rows
// per query.
func recordingIDs(ctx context.Context, tx *sql.Tx, recs []*rules.Recording) (map[string]int64, error) {
	const chunk = 500
	ids := make(map[string]int64, len(recs))
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		args := make([]any, len(part))
		for i, r := range part {
			args[i] = r.UniqueID
		}
		q := "SELECT uniqueid, id FROM recordings WHERE uniqueid IN (?" + strings.Repeat(", ?", len(part)-1) + ")"
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var uid string
			var id int64
			if err := rows.Scan(&uid, &id); err != nil {
				rows.Close()
				return nil, err
			}
			ids[uid] = id
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Recording returns the recording with the given id, or a rules.ENOTFOUND
// error.
func (s *Store) Recording(ctx context.Context, id int64) (*rules.Recording, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = ?", id)
	r, err := scanRecording(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "store: recording %d not found", id)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("recording %d", id), err)
	}
	return r, nil
}

// RecordingByUniqueID returns the recording of the channel with the given
// UNIQUEID, or a rules.ENOTFOUND error.
func (s *Store) RecordingByUniqueID(ctx context.Context, uniqueid string) (*rules.Recording, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE uniqueid = ?", uniqueid)
	r, err := scanRecording(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "store: recording of uniqueid %q not found", uniqueid)
	}
	if err != nil {
		return nil, wrap(fmt.Sprintf("recording of uniqueid %q", uniqueid), err)
	}
	return r, nil
}

// Recordings returns the recordings matching f, newest first.
func (s *Store) Recordings(ctx context.Context, f RecordingFilter) ([]rules.Recording, error) {
	var (
		where []string
		args  []any
	)
	if f.Tenant != AllTenants {
		where, args = append(where, "tenant = ?"), append(args, f.Tenant)
	}
	if f.Station != "" {
		where, args = append(where, "station = ?"), append(args, f.Station)
	}
	if !f.Since.IsZero() {
		where, args = append(where, recordingTime+" >= ?"), append(args, formatTime(f.Since))
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	query := "SELECT " + recordingColumns + " FROM recordings"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + recordingTime + " DESC, id DESC"
	if f.Limit > 0 {
		query, args = query+" LIMIT ?", append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap("list recordings", err)
	}
	defer rows.Close()
	var recs []rules.Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, wrap("list recordings", err)
		}
		recs = append(recs, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list recordings", err)
	}
	return recs, nil
}

// MarkRecordingsDeleted marks the recordings with the given ids deleted
// (by retention) at the given time, in one transaction.
func (s *Store) MarkRecordingsDeleted(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("mark recordings deleted", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, "UPDATE recordings SET state = ?, deleted_at = ? WHERE id = ?")
	if err != nil {
		return wrap("mark recordings deleted", err)
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, string(rules.StateDeleted), formatTime(at), id); err != nil {
			return wrap(fmt.Sprintf("mark recording %d deleted", id), err)
		}
	}
	return wrap("mark recordings deleted", tx.Commit())
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRecording(sc scanner) (*rules.Recording, error) {
	var (
		r                                 rules.Recording
		armed, started, pressed, ended, d sql.NullString
		answered                          sql.NullBool
	)
	if err := sc.Scan(&r.ID, &r.UniqueID, &r.LinkedID, &r.Tenant, &r.Station, &r.Direction, &r.Mode, &r.Trigger,
		&r.Rule, &r.File, &r.CallerID, &r.DID, &r.Queue, &r.State,
		&armed, &started, &pressed, &ended, &answered, &d); err != nil {
		return nil, err
	}
	var err error
	for _, t := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&r.ArmedAt, armed}, {&r.StartedAt, started}, {&r.PressedAt, pressed}, {&r.EndedAt, ended}, {&r.DeletedAt, d}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return nil, err
		}
	}
	r.Answered = boolPtr(answered)
	return &r, nil
}
