package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/recgate/recgate/rules"
)

// codedError gives a driver error a rules.Error code while keeping the
// driver error in the chain (errors.As(err, &sqlite3.Error{}) and
// errors.Is(err, context.DeadlineExceeded) still work).
type codedError struct {
	code  *rules.Error
	cause error
}

// Error is the cause's message on one line (pgconn lists a failed
// connection's attempts one per line).
func (e *codedError) Error() string {
	msg := e.cause.Error()
	if !strings.Contains(msg, "\n") {
		return msg
	}
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}
func (e *codedError) Unwrap() []error { return []error{e.code, e.cause} }

// wrap prefixes err with the operation and gives it a rules.Error code
// derived from its type. It returns nil for nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var re *rules.Error
	if errors.As(err, &re) {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return fmt.Errorf("store: %s: %w", op, withCode(codeOf(err), err))
}

// unavailable is wrap with the code forced to EUNAVAILABLE: whatever went
// wrong, the store could not answer.
func unavailable(op string, err error) error {
	return fmt.Errorf("store: %s: %w", op, withCode(rules.EUNAVAILABLE, err))
}

func withCode(code string, err error) error {
	return &codedError{code: &rules.Error{Code: code, Message: err.Error()}, cause: err}
}

// codeOf maps a driver or context error to a rules.Error code by type,
// never by message text.
func codeOf(err error) string {
	var se sqlite3.Error
	switch {
	case errors.As(err, &se):
		switch se.Code {
		case sqlite3.ErrConstraint:
			return rules.ECONFLICT
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrCorrupt, sqlite3.ErrNotADB,
			sqlite3.ErrCantOpen, sqlite3.ErrIoErr, sqlite3.ErrFull, sqlite3.ErrReadonly,
			sqlite3.ErrPerm, sqlite3.ErrInterrupt, sqlite3.ErrProtocol, sqlite3.ErrNoLFS,
			sqlite3.ErrAuth:
			return rules.EUNAVAILABLE
		}
		return rules.EINTERNAL
	case errors.As(err, new(*pgconn.PgError)):
		return pgCode(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return rules.EUNAVAILABLE
	case errors.As(err, new(*pgconn.ConnectError)), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, new(net.Error)):
		// The database could not be reached, or the connection broke.
		return rules.EUNAVAILABLE
	case errors.Is(err, sql.ErrNoRows):
		return rules.ENOTFOUND
	case errors.Is(err, sql.ErrConnDone):
		return rules.EUNAVAILABLE
	}
	return rules.EINTERNAL
}

// pgCode maps a PostgreSQL error to a code by its SQLSTATE class
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
func pgCode(err error) string {
	var pe *pgconn.PgError
	errors.As(err, &pe)
	switch {
	case len(pe.Code) != 5:
		return rules.EINTERNAL
	case pe.Code[:2] == "23": // integrity constraint violation
		return rules.ECONFLICT
	case pe.Code[:2] == "22": // data exception: a value the column cannot take
		return rules.EINVALID
	case pe.Code[:2] == "08", // connection exception
		pe.Code[:2] == "53", // insufficient resources
		pe.Code[:2] == "57", // operator intervention: shutdown, cancel
		pe.Code[:2] == "40", // transaction rollback: serialization, deadlock
		pe.Code == "25006",  // read-only transaction (a standby)
		pe.Code == "55P03":  // lock not available
		return rules.EUNAVAILABLE
	}
	return rules.EINTERNAL
}

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so that
// the text order of stored timestamps is their time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime formats t for a nullable column.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseTime parses a stored timestamp; NULL gives nil.
func parseTime(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, ns.String)
	if err != nil {
		return nil, fmt.Errorf("bad timestamp %q: %w", ns.String, err)
	}
	return &t, nil
}
