package rules

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// ValidateText checks a free-text value people type and read (a station's
// name, an actor, a configuration value): any letter of any language,
// digits, spaces and punctuation are fine; a control character (ESC, a
// newline, a tab, DEL, C1), a character that reorders or hides text on
// screen (bidirectional overrides, line and paragraph separators) or bytes
// that are not UTF-8 are refused, so that nothing stored can drive an
// operator's terminal or forge a line of output. field names the value in
// the message (a flag, a YAML key). The error has code EINVALID.
func ValidateText(field, s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return Errorf(EINVALID, "%s: %s is not valid UTF-8 text (byte %d)", field, strconv.QuoteToASCII(s), i+1)
			}
		}
		if unsafeRune(r) {
			return Errorf(EINVALID, "%s: %s holds the control character %U at character %d; use letters, digits, spaces and punctuation only",
				field, strconv.QuoteToASCII(s), r, utf8.RuneCountInString(s[:i])+1)
		}
	}
	return nil
}

// unsafeRune reports a character that must not be stored as text.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional embeddings, overrides, isolates and marks
	}
	return false
}

// Printable returns s as it may be written to a terminal: unchanged when it
// holds only text ValidateText accepts, else quoted with Go escapes
// ("\x1b[31m"), so a value stored before validation existed, or one that
// came from outside (a caller id), shows its escapes instead of acting on
// the terminal.
func Printable(s string) string {
	for i, r := range s {
		if unsafeRune(r) || (r == utf8.RuneError && !validAt(s, i)) {
			return strconv.Quote(s)
		}
	}
	return s
}

func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size > 1
}
