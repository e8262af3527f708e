package gate

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// FileFields are the values a recording file template can use. Every field
// that can come from outside is sanitised before the template sees it.
type FileFields struct {
	Date      string // YYYY/MM/DD
	Time      string // HHMMSS
	Station   string
	Direction string
	UniqueID  string
	LinkedID  string
	CallerID  string
	DID       string
	Queue     string
}

// FileNamer builds recording file names under a directory from a template.
type FileNamer struct {
	dir  string
	tmpl *template.Template
}

// NewFileNamer parses tmpl and checks that dir is an absolute, clean path
// of safe characters and that the template renders a safe relative name.
func NewFileNamer(dir, tmpl string) (*FileNamer, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("recording.dir %q must be an absolute path", dir)
	}
	if clean := filepath.Clean(dir); clean != dir && clean+"/" != dir {
		return nil, fmt.Errorf("recording.dir %q is not a clean path (use %q)", dir, clean)
	}
	if !safePath(dir) {
		return nil, fmt.Errorf("recording.dir %q may only contain letters, digits and . _ + - /", dir)
	}
	t, err := template.New("file").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("recording.file_template: %w", err)
	}
	n := &FileNamer{dir: filepath.Clean(dir), tmpl: t}
	sample := FileFields{Date: "2026/11/24", Time: "101500", Station: "1001", Direction: "outbound",
		UniqueID: "1795511818.38", LinkedID: "1795511818.37", CallerID: "5551234", DID: "5550100", Queue: "sales"}
	if _, err := n.Name(sample); err != nil {
		return nil, fmt.Errorf("recording.file_template %q: %w", tmpl, err)
	}
	return n, nil
}

// Dir returns the recordings directory.
func (n *FileNamer) Dir() string { return n.dir }

// Name renders the file name for f: the template's output joined to the
// directory. f's fields are sanitised first; the result is rejected unless
// it stays under the directory and holds only safe characters, so nothing
// from a caller can change what MixMonitor does with it.
func (n *FileNamer) Name(f FileFields) (string, error) {
	f = FileFields{
		Date: f.Date, Time: f.Time,
		Station: fileField(f.Station), Direction: fileField(f.Direction),
		UniqueID: fileField(f.UniqueID), LinkedID: fileField(f.LinkedID),
		CallerID: fileField(f.CallerID), DID: fileField(f.DID), Queue: fileField(f.Queue),
	}
	var b bytes.Buffer
	if err := n.tmpl.Execute(&b, f); err != nil {
		return "", fmt.Errorf("render file name: %w", err)
	}
	rel := b.String()
	if rel == "" || filepath.IsAbs(rel) {
		return "", fmt.Errorf("file name %q must be a non-empty relative path", rel)
	}
	full := filepath.Join(n.dir, rel)
	if !strings.HasPrefix(full, n.dir+"/") || !safePath(full) {
		return "", fmt.Errorf("file name %q is unsafe or leaves %s", rel, n.dir)
	}
	return full, nil
}

// Under reports whether path is a clean path strictly inside the directory.
func (n *FileNamer) Under(path string) bool {
	return filepath.Clean(path) == path && strings.HasPrefix(path, n.dir+"/") && safePath(path)
}

// DateFields returns the Date and Time template fields for t.
func DateFields(t time.Time) (date, clock string) {
	return t.Format("2006/01/02"), t.Format("150405")
}

// Sanitize reduces s to the characters [A-Za-z0-9._+-]: any other byte
// becomes '_', and ".." is never left in the result. An empty or
// "unknown" value becomes "unknown".
func Sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	changed := false
	for i, c := range b {
		if !isSafeByte(c) {
			b[i], changed = '_', true
		}
	}
	for i := 1; i < len(b); i++ {
		if b[i] == '.' && b[i-1] == '.' {
			b[i], changed = '_', true
		}
	}
	if !changed {
		return s
	}
	return string(b)
}

// fileField is Sanitize for a value the template places next to its own
// text: a leading or trailing '.' becomes '_' as well, so that a caller id
// "x." in "{{.CallerID}}.wav" cannot form ".." with the template's dot (the
// name would be refused, the call left unrecorded).
func fileField(s string) string {
	s = Sanitize(s)
	if s[0] != '.' && s[len(s)-1] != '.' {
		return s
	}
	b := []byte(s)
	if b[0] == '.' {
		b[0] = '_'
	}
	if b[len(b)-1] == '.' {
		b[len(b)-1] = '_'
	}
	return string(b)
}

func isSafeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '+' || c == '-'
}

// safePath reports whether p holds only safe bytes and '/' and no "..".
func safePath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !isSafeByte(p[i]) && p[i] != '/' {
			return false
		}
	}
	return !strings.Contains(p, "..")
}

// ErrOutsideDir is returned by Remove for a path that is not, or does not
// resolve to, a file inside the recordings directory.
var ErrOutsideDir = errors.New("path is outside the recordings directory")

// Remove deletes the recording file at path, only if path is a clean path
// inside the directory and still resolves inside it once symbolic links in
// its parent directories are followed; a symbolic link itself is removed,
// never its target. A missing file gives an error matching fs.ErrNotExist.
func (n *FileNamer) Remove(path string) error {
	if err := n.CheckRemovable(path); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	return nil
}

// CheckRemovable runs Remove's checks without removing anything: nil when
// Remove would delete the file.
func (n *FileNamer) CheckRemovable(path string) error {
	if !n.Under(path) {
		return fmt.Errorf("remove %q: %w", path, ErrOutsideDir)
	}
	realDir, err := filepath.EvalSymlinks(n.dir)
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	realParent, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	if realParent != realDir && !strings.HasPrefix(realParent, realDir+"/") {
		return fmt.Errorf("remove %q: %w", path, ErrOutsideDir)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("remove %q: is a directory", path)
	}
	return nil
}
