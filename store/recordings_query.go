package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/recgate/recgate/rules"
)

// RecordingQuery selects a page of recordings for the API: a tenant's,
// filtered, newest first, after a cursor. Zero fields do not filter.
type RecordingQuery struct {
	Tenant string // only this tenant's recordings; required

	// Stations, when not nil, limits the recordings to these stations (a
	// group's, or a listener's scope); an empty non-nil list selects none.
	Stations  []string
	Station   string
	Direction rules.Direction
	Trigger   rules.Trigger
	Since     time.Time // began at or after
	Until     time.Time // began before
	Number    string    // the caller id or the number called contains this
	Cursor    string    // from the previous page's NextCursor
	Limit     int       // page size (1 to 1000)
}

// QueryRecordings returns a page of recordings matching q, newest first,
// and the cursor of the next page ("" on the last one).
func (s *Store) QueryRecordings(ctx context.Context, q RecordingQuery) ([]rules.Recording, string, error) {
	if q.Tenant == "" {
		return nil, "", rules.Errorf(rules.EINVALID, "store: query recordings: no tenant")
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		return nil, "", rules.Errorf(rules.EINVALID, "limit must be between 1 and 1000, got %d", q.Limit)
	}
	if q.Stations != nil && len(q.Stations) == 0 {
		return []rules.Recording{}, "", nil
	}
	// A recording carries its station's tenant from call setup on, so a
	// station moved or removed later does not move its recordings.
	where := []string{"tenant = ?"}
	args := []any{q.Tenant}
	if q.Stations != nil {
		where = append(where, "station IN (?"+strings.Repeat(", ?", len(q.Stations)-1)+")")
		for _, st := range q.Stations {
			args = append(args, st)
		}
	}
	for _, f := range []struct {
		col string
		val string
	}{{"station", q.Station}, {"direction", string(q.Direction)}, {"trigger_by", string(q.Trigger)}} {
		if f.val != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.val)
		}
	}
	if !q.Since.IsZero() {
		where, args = append(where, recordingTime+" >= ?"), append(args, formatTime(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, recordingTime+" < ?"), append(args, formatTime(q.Until))
	}
	if q.Number != "" {
		where, args = append(where, "(instr(callerid, ?) > 0 OR instr(did, ?) > 0)"), append(args, q.Number, q.Number)
	}
	if q.Cursor != "" {
		at, id, err := parseRecordingCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(coalesce("+recordingTime+", '') < ? OR coalesce("+recordingTime+", '') = ? AND id < ?)")
		args = append(args, at, at, id)
	}
	query := "SELECT " + recordingColumns + " FROM recordings WHERE " + strings.Join(where, " AND ") +
		" ORDER BY coalesce(" + recordingTime + ", '') DESC, id DESC LIMIT ?"
	args = append(args, q.Limit+1)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", wrap("query recordings", err)
	}
	defer rows.Close()
	recs := []rules.Recording{}
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, "", wrap("query recordings", err)
		}
		recs = append(recs, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("query recordings", err)
	}
	next := ""
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		last := recs[len(recs)-1]
		next = recordingCursor(last)
	}
	return recs, next, nil
}

func recordingCursor(r rules.Recording) string {
	t := r.StartedAt
	if t == nil {
		t = r.ArmedAt
	}
	at := ""
	if t != nil {
		at = formatTime(*t)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(at + "|" + strconv.FormatInt(r.ID, 10)))
}

func parseRecordingCursor(c string) (string, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		at, idText, ok := strings.Cut(string(b), "|")
		id, err := strconv.ParseInt(idText, 10, 64)
		if ok && err == nil && id > 0 && (at == "" || len(at) == len(timeLayout)) {
			return at, id, nil
		}
	}
	return "", 0, rules.Errorf(rules.EINVALID, "cursor %q is not one this server gave (use next_cursor as returned)", shorten(c))
}

func shorten(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s…", s[:40])
	}
	return s
}
