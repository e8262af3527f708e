package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/recgate/recgate/rules"
)

// The GDPR (RODO) tools of SPEC 10: data-subject search, legal hold,
// delete and erase. Files are the caller's to remove (the store owns the
// database only); every method here that changes a recording writes its
// access log and audit entries in the same transaction as the change.

// LegalHold keeps a recording whatever retention, delete and erase say,
// until it is released.
type LegalHold struct {
	RecordingID int64     `json:"recording_id"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
}

// MinSubjectDigits is the fewest digits a data-subject search accepts: a
// shorter "number" would match half the log.
const MinSubjectDigits = 3

// NumberDigits returns the digits of a phone number as a person or a PBX
// writes it ("+48 601-234-567" → "48601234567"), without an international
// "00" prefix ("0048…" → "48…"; a country code never starts with 0).
func NumberDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if rest, ok := strings.CutPrefix(d, "00"); ok && rest != "" && rest[0] != '0' {
		return rest
	}
	return d
}

// SameNumber reports whether the number in field (a caller id or a number
// called) is the subject's number query: the same digits, or, for numbers
// of nine digits or more, one ending with the other ("601234567" is
// "+48601234567" is "0048601234567"). Short numbers (extensions) match
// only exactly.
func SameNumber(field, query string) bool {
	a, b := NumberDigits(field), NumberDigits(query)
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return len(a) >= 9 && len(b) >= 9 && (strings.HasSuffix(a, b) || strings.HasSuffix(b, a))
}

// SubjectQuery finds a data subject's recordings: a tenant's recordings
// whose caller id or number called is Number (SameNumber).
type SubjectQuery struct {
	Tenant string
	Number string
	// Stations, when not nil, limits the search to these stations (a
	// listener's scope); an empty non-nil list selects none.
	Stations []string
}

// ValidateSubjectNumber checks a data-subject search's number.
func ValidateSubjectNumber(number string) error {
	if n := len(NumberDigits(number)); n < MinSubjectDigits {
		return rules.Errorf(rules.EINVALID, "number %q: give the phone number, at least %d digits", number, MinSubjectDigits)
	}
	return nil
}

// SubjectRecordings returns every recording of q's tenant (in any state,
// deleted ones included: their metadata is personal data too) whose
// caller id or number called is q.Number, newest first.
func (s *Store) SubjectRecordings(ctx context.Context, q SubjectQuery) ([]rules.Recording, error) {
	if q.Tenant == "" {
		return nil, rules.Errorf(rules.EINVALID, "store: subject recordings: no tenant")
	}
	if err := ValidateSubjectNumber(q.Number); err != nil {
		return nil, err
	}
	out := []rules.Recording{}
	if q.Stations != nil && len(q.Stations) == 0 {
		return out, nil
	}
	where, args := "tenant = ?", []any{q.Tenant}
	if q.Stations != nil {
		where += " AND station IN (?" + strings.Repeat(", ?", len(q.Stations)-1) + ")"
		for _, st := range q.Stations {
			args = append(args, st)
		}
	}
	// The numbers are compared in Go (SameNumber): the SQL narrows the
	// rows to those holding the number's last digits somewhere.
	digits := NumberDigits(q.Number)
	tail := digits[max(0, len(digits)-6):]
	where += " AND (instr(callerid, ?) > 0 OR instr(did, ?) > 0 OR callerid GLOB '*[^0-9+]*' OR did GLOB '*[^0-9+]*')"
	args = append(args, tail, tail)
	rows, err := s.db.QueryContext(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE "+where+
		" ORDER BY coalesce("+recordingTime+", '') DESC, id DESC", args...)
	if err != nil {
		return nil, wrap("subject recordings", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, wrap("subject recordings", err)
		}
		if SameNumber(r.CallerID, q.Number) || SameNumber(r.DID, q.Number) {
			out = append(out, *r)
		}
	}
	return out, wrap("subject recordings", rows.Err())
}

// LegalHolds returns the holds on the recordings ids (every hold when ids
// is empty), by recording id.
func (s *Store) LegalHolds(ctx context.Context, ids ...int64) (map[int64]LegalHold, error) {
	q, args := "SELECT recording_id, at, actor, reason FROM legal_holds", []any{}
	if len(ids) > 0 {
		q += " WHERE recording_id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("legal holds", err)
	}
	defer rows.Close()
	out := map[int64]LegalHold{}
	for rows.Next() {
		var (
			h  LegalHold
			at sql.NullString
		)
		if err := rows.Scan(&h.RecordingID, &at, &h.Actor, &h.Reason); err != nil {
			return nil, wrap("legal holds", err)
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, wrap("legal holds", err)
		}
		h.At = *t
		out[h.RecordingID] = h
	}
	return out, wrap("legal holds", rows.Err())
}

// HoldRecording puts recording id under legal hold, audited. A recording
// already held is a conflict.
func (s *Store) HoldRecording(ctx context.Context, actor string, id int64, reason string) error {
	if len(reason) > 500 {
		return rules.Errorf(rules.EINVALID, "the reason of a legal hold is at most 500 bytes, got %d", len(reason))
	}
	return s.inTxAt(ctx, "hold recording", func(tx *sql.Tx, now string) error {
		tenant, err := recordingTenantOf(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO legal_holds (recording_id, at, actor, reason) VALUES (?, ?, ?, ?)
			ON CONFLICT (recording_id) DO NOTHING`, id, now, actor, reason)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rules.Errorf(rules.ECONFLICT, "recording %d is already under legal hold", id)
		}
		return insertAudit(ctx, tx, now, actor, []Change{{Tenant: tenant, Object: recordingObject(id), Field: "legal_hold",
			Before: "no", After: strings.TrimSpace("yes " + reason)}})
	})
}

// ReleaseRecording ends recording id's legal hold, audited.
func (s *Store) ReleaseRecording(ctx context.Context, actor string, id int64) error {
	return s.inTxAt(ctx, "release recording", func(tx *sql.Tx, now string) error {
		tenant, err := recordingTenantOf(ctx, tx, id)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM legal_holds WHERE recording_id = ?", id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rules.Errorf(rules.ENOTFOUND, "recording %d is not under legal hold", id)
		}
		return insertAudit(ctx, tx, now, actor, []Change{{Tenant: tenant, Object: recordingObject(id), Field: "legal_hold", Before: "yes", After: "no"}})
	})
}

// Removal is who deletes or erases recordings, from where, in which tenant.
type Removal struct {
	Tenant, Actor, Address string
}

// DeleteRecording marks recording id deleted (its file is the caller's to
// remove first), with an access log entry and an audit entry. A held
// recording is refused (ECONFLICT).
func (s *Store) DeleteRecording(ctx context.Context, by Removal, id int64) error {
	return s.inTxAt(ctx, "delete recording", func(tx *sql.Tx, now string) error {
		if err := refuseHeld(ctx, tx, []int64{id}); err != nil {
			return err
		}
		var file, state string
		err := tx.QueryRowContext(ctx, "SELECT file, state FROM recordings WHERE id = ?", id).Scan(&file, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return rules.Errorf(rules.ENOTFOUND, "store: recording %d not found", id)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE recordings SET state = ?, deleted_at = ? WHERE id = ?",
			string(rules.StateDeleted), now, id); err != nil {
			return err
		}
		if err := insertAccess(ctx, tx, now, by, AccessDelete, id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, now, by.Actor, []Change{{Tenant: by.Tenant, Object: recordingObject(id), Field: "deleted",
			Before: state + " " + file, After: string(rules.StateDeleted)}})
	})
}

// Erasure is the outcome of erasing a data subject's recordings.
type Erasure struct {
	Erased []int64 // the recordings whose metadata is gone
	Proof  string  // the keyed hash kept in the audit log instead of the number
}

// EraseRecordings deletes the rows of recordings ids, erased for the data
// subject number (their files are the caller's to remove first), and
// leaves an access log entry per recording and one audit entry that
// proves the erasure by a keyed hash of the number, never the number
// itself. A held recording among ids refuses the whole erasure
// (ECONFLICT): leave held ones out.
func (s *Store) EraseRecordings(ctx context.Context, by Removal, number string, ids []int64) (*Erasure, error) {
	if err := ValidateSubjectNumber(number); err != nil {
		return nil, err
	}
	out := &Erasure{}
	err := s.inTxAt(ctx, "erase recordings", func(tx *sql.Tx, now string) error {
		if err := refuseHeld(ctx, tx, ids); err != nil {
			return err
		}
		proof, err := subjectProof(ctx, tx, number)
		if err != nil {
			return err
		}
		out.Proof = proof
		st, err := tx.PrepareContext(ctx, "DELETE FROM recordings WHERE id = ?")
		if err != nil {
			return err
		}
		defer st.Close()
		for _, id := range ids {
			res, err := st.ExecContext(ctx, id)
			if err != nil {
				return fmt.Errorf("recording %d: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // erased before
			}
			if err := insertAccess(ctx, tx, now, by, AccessErase, id); err != nil {
				return err
			}
			out.Erased = append(out.Erased, id)
		}
		list := make([]string, len(out.Erased))
		for i, id := range out.Erased {
			list[i] = strconv.FormatInt(id, 10)
		}
		return insertAudit(ctx, tx, now, by.Actor, []Change{{Tenant: by.Tenant, Object: "erasure", Field: "subject",
			Before: proof, After: fmt.Sprintf("erased %d recording(s): %s", len(out.Erased), strings.Join(list, ", "))}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubjectProof returns the keyed hash that an erasure for number left in
// the audit log, to find that entry again.
func (s *Store) SubjectProof(ctx context.Context, number string) (string, error) {
	if err := ValidateSubjectNumber(number); err != nil {
		return "", err
	}
	var proof string
	err := s.inTxAt(ctx, "subject proof", func(tx *sql.Tx, _ string) error {
		var err error
		proof, err = subjectProof(ctx, tx, number)
		return err
	})
	return proof, err
}

// Erasures returns the audit entries of erasures done in tenant for the
// data subject number, oldest first.
func (s *Store) Erasures(ctx context.Context, tenant, number string) ([]AuditEntry, error) {
	proof, err := s.SubjectProof(ctx, number)
	if err != nil {
		return nil, err
	}
	entries, err := s.AuditEntries(ctx, AuditFilter{Tenant: tenant})
	if err != nil {
		return nil, err
	}
	var out []AuditEntry
	for _, e := range entries {
		if e.Object == "erasure" && e.Before == proof {
			out = append(out, e)
		}
	}
	return out, nil
}

// LogExport writes an export access log entry for every recording of ids,
// in one transaction, before the archive is sent.
func (s *Store) LogExport(ctx context.Context, by Removal, ids []int64) error {
	return s.inTxAt(ctx, "log export", func(tx *sql.Tx, now string) error {
		for _, id := range ids {
			if err := insertAccess(ctx, tx, now, by, AccessExport, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// subjectProof is "hmac-sha256:" and the HMAC of the number's digits
// (NumberDigits, its last nine for long numbers, so every way of writing
// it gives one proof) under the database's GDPR key.
func subjectProof(ctx context.Context, tx *sql.Tx, number string) (string, error) {
	var key []byte
	if err := tx.QueryRowContext(ctx, "SELECT key FROM gdpr_key WHERE id = 1").Scan(&key); err != nil {
		return "", fmt.Errorf("gdpr key: %w", err)
	}
	d := NumberDigits(number)
	if len(d) > 9 {
		d = d[len(d)-9:]
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(d))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)), nil
}

func refuseHeld(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var held sql.NullInt64
	err := tx.QueryRowContext(ctx, "SELECT min(recording_id) FROM legal_holds WHERE recording_id IN (?"+
		strings.Repeat(", ?", len(ids)-1)+")", args...).Scan(&held)
	if err != nil {
		return err
	}
	if held.Valid {
		return rules.Errorf(rules.ECONFLICT, "recording %d is under legal hold: release it first", held.Int64)
	}
	return nil
}

// recordingTenantOf returns the tenant of recording id.
func recordingTenantOf(ctx context.Context, tx *sql.Tx, id int64) (string, error) {
	var tenant string
	err := tx.QueryRowContext(ctx, "SELECT tenant FROM recordings WHERE id = ?", id).Scan(&tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return "", rules.Errorf(rules.ENOTFOUND, "store: recording %d not found", id)
	}
	return tenant, err
}

func insertAccess(ctx context.Context, tx *sql.Tx, now string, by Removal, action string, id int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO access_log (at, tenant, actor, address, action, recording_id)
		VALUES (?, ?, ?, ?, ?, ?)`, now, by.Tenant, by.Actor, by.Address, action, id)
	return err
}

func recordingObject(id int64) string { return "recording:" + strconv.FormatInt(id, 10) }

// inTxAt is inTx with the time now, formatted for the database.
func (s *Store) inTxAt(ctx context.Context, op string, fn func(tx *sql.Tx, now string) error) error {
	return s.inTx(ctx, op, func(tx *sql.Tx) error { return fn(tx, formatTime(s.now())) })
}
