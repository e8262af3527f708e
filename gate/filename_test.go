package gate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1001", "1001"},
		{"acme-1001", "acme-1001"},
		{"+4930123456", "+4930123456"},
		{"", "unknown"},
		{"../../etc/passwd", ".__.__etc_passwd"},
		{"..", "._"},
		{"a,b(c)|d$e{f}^g\"h\\i\nj", "a_b_c__d_e_f__g_h_i_j"},
		{"${SHELL}", "__SHELL_"},
		{"1795511818.38", "1795511818.38"},
		{"Zoë", "Zo__"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64)},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(Sanitize(tt.in), "..") {
			t.Errorf("Sanitize(%q) kept ..", tt.in)
		}
	}
}

func TestFileNamerName(t *testing.T) {
	n, err := NewFileNamer("/var/spool/asterisk/monitor", "{{.Date}}/{{.Station}}_{{.Direction}}_{{.UniqueID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	got, err := n.Name(FileFields{Date: "2026/11/24", Station: "1001", Direction: "outbound", UniqueID: "1795511818.38"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/var/spool/asterisk/monitor/2026/11/24/1001_outbound_1795511818.38.wav"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
}

// TestFileNamerHostile checks that caller-controlled fields can neither
// leave the directory nor put a MixMonitor separator or shell or
// expression character into the file name.
func TestFileNamerHostile(t *testing.T) {
	n, err := NewFileNamer("/rec", "{{.CallerID}}/{{.DID}}/{{.Queue}}_{{.Station}}_{{.UniqueID}}_{{.LinkedID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	hostile := []string{"..", "../..", "/etc/passwd", "a,b", "x(y)", "a|b", "$(reboot)", "${SHELL}", "^x", `a"b`, `a\b`,
		"a\nEXEC System rm", "a'b", "a b", "..%2f..", "\x00", "é"}
	for _, h := range hostile {
		f := FileFields{Date: "2026/11/24", Station: h, Direction: "outbound", UniqueID: h, LinkedID: h, CallerID: h, DID: h, Queue: h}
		got, err := n.Name(f)
		if err != nil {
			t.Fatalf("Name(%q): %v", h, err)
		}
		if !strings.HasPrefix(got, "/rec/") || filepath.Clean(got) != got || strings.Contains(got, "..") {
			t.Errorf("Name(%q) = %q escapes or is unclean", h, got)
		}
		if strings.ContainsAny(got, ",()|$\"{}^\\\n '") {
			t.Errorf("Name(%q) = %q holds a dangerous character", h, got)
		}
	}
}

func TestNewFileNamerRejects(t *testing.T) {
	tests := []struct{ dir, tmpl, want string }{
		{"relative/dir", "{{.UniqueID}}.wav", "absolute"},
		{"/var/spool/../etc", "{{.UniqueID}}.wav", "clean"},
		{"/var/spool monitor", "{{.UniqueID}}.wav", "may only contain"},
		{"/rec", "{{.Nope}}.wav", "file_template"},
		{"/rec", "../{{.UniqueID}}.wav", "unsafe"},
		{"/rec", "/abs/{{.UniqueID}}.wav", "relative"},
		{"/rec", "{{.UniqueID}},b.wav", "unsafe"},
		{"/rec", "{{.UniqueID", "file_template"},
	}
	for _, tt := range tests {
		_, err := NewFileNamer(tt.dir, tt.tmpl)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFileNamer(%q, %q) = %v, want error containing %q", tt.dir, tt.tmpl, err, tt.want)
		}
	}
}

func TestFileNamerRemove(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rec")
	outside := filepath.Join(root, "outside")
	for _, d := range []string{filepath.Join(dir, "2026"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string) {
		if err := os.WriteFile(p, []byte("RIFF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inside := filepath.Join(dir, "2026", "a.wav")
	secret := filepath.Join(outside, "secret.wav")
	write(inside)
	write(secret)
	// A directory link inside the recordings dir pointing outside it.
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	n, err := NewFileNamer(dir, "{{.UniqueID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Remove(inside); err != nil {
		t.Fatalf("Remove(inside) = %v", err)
	}
	if _, err := os.Stat(inside); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("inside file still there: %v", err)
	}
	if err := n.Remove(inside); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(missing) = %v, want ErrNotExist", err)
	}
	for _, p := range []string{secret, filepath.Join(dir, "..", "outside", "secret.wav"), filepath.Join(dir, "escape", "secret.wav"), dir} {
		if err := n.Remove(p); err == nil {
			t.Errorf("Remove(%q) succeeded, want refusal", p)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the directory was touched: %v", err)
	}
}

func TestAddFeature(t *testing.T) {
	tests := []struct{ cur, want string }{
		{"", "recgate_ondemand"},
		{"myfeature", "myfeature#recgate_ondemand"},
		{"a#recgate_ondemand", "a#recgate_ondemand"},
		{"recgate_ondemand", "recgate_ondemand"},
	}
	for _, tt := range tests {
		if got := addFeature(tt.cur, "recgate_ondemand"); got != tt.want {
			t.Errorf("addFeature(%q) = %q, want %q", tt.cur, got, tt.want)
		}
	}
}

// TestFileNamerFieldNextToADot: a value ending or starting with '.' next
// to the template's own '.' must not form "..": the name would be refused
// and a caller could keep the call from being recorded.
func TestFileNamerFieldNextToADot(t *testing.T) {
	n, err := NewFileNamer("/rec", "{{.CallerID}}.{{.DID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"x.", ".x", ".", "..", "...", "x..", "a.b"} {
		got, err := n.Name(FileFields{CallerID: v, DID: v})
		if err != nil {
			t.Errorf("Name with %q: %v", v, err)
			continue
		}
		if strings.Contains(got, "..") || !strings.HasPrefix(got, "/rec/") {
			t.Errorf("Name with %q = %q", v, got)
		}
	}
	if got, _ := n.Name(FileFields{CallerID: "a.b", DID: "1795511818.38"}); got != "/rec/a.b.1795511818.38.wav" {
		t.Errorf("inner dots changed: %q", got)
	}
}

// TestFileNamerRemoveWhileDirectorySwapped: a directory inside recording.dir
// swapped for a symbolic link to elsewhere while files are removed (the
// check-then-delete race of a path-based check) never costs a file outside
// recording.dir.
func TestFileNamerRemoveWhileDirectorySwapped(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "rec")
	outside := filepath.Join(root, "outside")
	day := filepath.Join(dir, "day")
	for _, d := range []string{day, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const files = 300
	for i := 0; i < files; i++ {
		for _, d := range []string{day, outside} {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.wav", i)), []byte("RIFF"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := NewFileNamer(dir, "{{.UniqueID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	swapped := make(chan error, 1)
	go func() {
		parked := filepath.Join(dir, "day.parked")
		for {
			select {
			case <-stop:
				swapped <- nil
				return
			default:
			}
			if err := os.Rename(day, parked); err != nil {
				swapped <- err
				return
			}
			if err := os.Symlink(outside, day); err != nil {
				swapped <- err
				return
			}
			if err := os.Remove(day); err != nil {
				swapped <- err
				return
			}
			if err := os.Rename(parked, day); err != nil {
				swapped <- err
				return
			}
		}
	}()
	for i := 0; i < files; i++ {
		_ = n.Remove(filepath.Join(day, fmt.Sprintf("%d.wav", i)))
	}
	close(stop)
	if err := <-swapped; err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != files {
		t.Errorf("%d files outside recording.dir deleted", files-len(left))
	}
}

func TestRemoveIfEmpty(t *testing.T) {
	dir := t.TempDir()
	n, err := NewFileNamer(dir, "{{.UniqueID}}.wav")
	if err != nil {
		t.Fatal(err)
	}
	header := make([]byte, wavHeaderLen)
	copy(header, "RIFF")
	copy(header[8:], "WAVEfmt ")
	copy(header[36:], "data")
	withData := append([]byte(nil), header...)
	withData[40] = 1
	tests := []struct {
		name    string
		content []byte
		want    bool
	}{
		{"empty", nil, true},
		{"header only", header, true},
		{"header and audio", append(append([]byte(nil), header...), make([]byte, 320)...), false},
		{"header that counts data", withData, false},
		{"44 bytes, not a WAV header", make([]byte, wavHeaderLen), false},
		{"short", []byte("RIFF"), false},
	}
	for i, tc := range tests {
		p := filepath.Join(dir, fmt.Sprintf("%d.wav", i))
		if err := os.WriteFile(p, tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := n.RemoveIfEmpty(p)
		if err != nil || got != tc.want {
			t.Errorf("%s: RemoveIfEmpty = %v, %v; want %v", tc.name, got, err, tc.want)
		}
		if _, err := os.Stat(p); (err == nil) == tc.want {
			t.Errorf("%s: file there = %v after RemoveIfEmpty = %v", tc.name, err == nil, got)
		}
	}
}
