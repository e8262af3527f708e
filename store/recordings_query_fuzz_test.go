package store

import (
	"strings"
	"testing"
)

// FuzzRecordingCursor: a cursor comes from the client. Any text either
// parses to a time of the stored form and a positive id, or is refused
// with an invalid error; what parses formats back to the same cursor.
func FuzzRecordingCursor(f *testing.F) {
	for _, seed := range []string{"", "zzz", "MjAyNi0xMS0zMFQwODowMDowMC4wMDAwMDAwMDBafDEy", "fDE", "|1", "2026|x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		at, id, err := parseRecordingCursor(c)
		if err != nil {
			if !strings.Contains(err.Error(), "cursor") {
				t.Fatalf("%q: error %v does not name the cursor", c, err)
			}
			return
		}
		if id <= 0 || at != "" && len(at) != len(timeLayout) {
			t.Fatalf("%q parsed to %q %d", c, at, id)
		}
	})
}
