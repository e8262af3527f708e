package store

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/recgate/recgate/rules"
)

// TestDatabaseFilesArePrivate: the database and its -wal and -shm files
// hold callers' numbers; under the usual umask (022) they were created
// rw-r--r--. They are created 0600, or 0640 with the group named.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	tests := []struct {
		name  string
		opts  []Option
		want  fs.FileMode
		group int
	}{
		{"owner only", nil, 0o600, -1},
		{"with a group", []Option{WithGroup(strconv.Itoa(os.Getgid()))}, 0o640, os.Getgid()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "recgate.db")
			ctx := context.Background()
			st, err := Open(ctx, path, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rs := rules.NewRuleSet()
			rs.Stations["1001"] = &rules.Station{ID: "1001", Kind: rules.SIPPhone}
			if _, err := st.ReplaceRules(ctx, "test", rs); err != nil { // writes the WAL
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tc.want {
					t.Errorf("%s: mode %v, want %v", filepath.Base(p), got, tc.want)
				}
				if gid := int(fi.Sys().(*syscall.Stat_t).Gid); tc.group >= 0 && gid != tc.group {
					t.Errorf("%s: group %d, want %d", filepath.Base(p), gid, tc.group)
				}
			}
		})
	}
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), WithGroup("no-such-group-recgate")); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("an unknown group: %v, want %s", err, rules.EINVALID)
	}
}
