package gate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// errStillThere is returned by Remove when the file was not found through
// the recordings directory but its path still names something: a
// directory swapped for a symbolic link while retention ran, say. It does
// not match fs.ErrNotExist, so the caller does not mark the file gone.
var errStillThere = errors.New("not found inside the recordings directory, but the path still exists")

// open returns a handle on the recordings directory that no path can
// escape (os.Root), and path relative to it.
func (n *FileNamer) open(path string) (*os.Root, string, error) {
	if !n.Under(path) {
		return nil, "", fmt.Errorf("%q: %w", path, ErrOutsideDir)
	}
	root, err := os.OpenRoot(n.dir)
	if err != nil {
		return nil, "", err
	}
	return root, strings.TrimPrefix(path, n.dir+"/"), nil
}

// Remove deletes the recording file at path through a handle on the
// directory (os.Root): a symbolic link among its parents that leads out of
// the directory is refused at the moment of the deletion, not checked
// before it, and a symbolic link itself is removed, never its target. A
// missing file gives an error matching fs.ErrNotExist, but only when a
// second look at the path finds nothing either.
func (n *FileNamer) Remove(path string) error {
	root, rel, err := n.open(path)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(rel)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("remove %q: is a directory", path)
	}
	if err == nil {
		err = root.Remove(rel)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); !errors.Is(lerr, fs.ErrNotExist) {
			return fmt.Errorf("remove %q: %w", path, errStillThere)
		}
	}
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, n.explain(path, err))
	}
	return nil
}

// explain adds ErrOutsideDir to an error of os.Root refusing a path whose
// parent resolves outside the directory (a symbolic link leading out).
// It only names the reason; the refusal itself was os.Root's.
func (n *FileNamer) explain(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	realDir, derr := filepath.EvalSymlinks(n.dir)
	realParent, perr := filepath.EvalSymlinks(filepath.Dir(path))
	if derr == nil && perr == nil && realParent != realDir && !strings.HasPrefix(realParent, realDir+"/") {
		return fmt.Errorf("%w: %w", ErrOutsideDir, err)
	}
	return err
}

// CheckRemovable runs Remove's checks without removing anything: nil when
// Remove would delete the file.
func (n *FileNamer) CheckRemovable(path string) error {
	root, rel, err := n.open(path)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(rel)
	if err != nil {
		return fmt.Errorf("remove %q: %w", path, n.explain(path, err))
	}
	if fi.IsDir() {
		return fmt.Errorf("remove %q: is a directory", path)
	}
	return nil
}

// wavHeaderLen is the size of the header MixMonitor writes to a WAV file
// before any audio: a file of that size holds no sound.
const wavHeaderLen = 44

// RemoveIfEmpty deletes the recording file at path when it provably holds
// no audio: empty, or a WAV header (44 bytes) whose data chunk is empty.
// It reports whether it removed the file. Call it only once MixMonitor
// has closed the file (some time after the channel hung up).
func (n *FileNamer) RemoveIfEmpty(path string) (bool, error) {
	root, rel, err := n.open(path)
	if err != nil {
		return false, fmt.Errorf("remove empty recording: %w", err)
	}
	defer root.Close()
	empty, err := emptyRecording(root, rel)
	if err != nil || !empty {
		return false, err
	}
	if err := root.Remove(rel); err != nil {
		return false, fmt.Errorf("remove empty recording %q: %w", path, err)
	}
	return true, nil
}

// emptyRecording reports whether rel is a regular file with no audio.
func emptyRecording(root *os.Root, rel string) (bool, error) {
	fi, err := root.Lstat(rel)
	if err != nil {
		return false, fmt.Errorf("remove empty recording: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > wavHeaderLen {
		return false, nil
	}
	if fi.Size() == 0 {
		return true, nil
	}
	f, err := root.Open(rel)
	if err != nil {
		return false, fmt.Errorf("remove empty recording: %w", err)
	}
	defer f.Close()
	var hdr [wavHeaderLen + 1]byte
	k, err := io.ReadFull(f, hdr[:])
	if k != wavHeaderLen || !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, nil // grew since, or not a header at all
	}
	// RIFF....WAVE, and the data chunk's size (the last four bytes) is 0.
	return string(hdr[0:4]) == "RIFF" && string(hdr[8:12]) == "WAVE" &&
		string(hdr[36:40]) == "data" && hdr[40]|hdr[41]|hdr[42]|hdr[43] == 0, nil
}
