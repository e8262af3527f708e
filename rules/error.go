package rules

import (
	"errors"
	"fmt"
)

// Error codes shared by every package of recgate. The CLI maps them to exit
// statuses; the HTTP API will map them to status codes.
const (
	EINVALID     = "invalid"     // bad input: nothing was written
	ENOTFOUND    = "not_found"   // the station, group or recording does not exist
	ECONFLICT    = "conflict"    // the change conflicts with existing data
	EUNAVAILABLE = "unavailable" // the store is locked, missing or unreadable
	EINTERNAL    = "internal"    // a bug or an unexpected failure
)

// Error is recgate's application error: a code and a message meant for the
// operator. Wrap it with %w to add context.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}
