package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeFmtCheckOutsideGit: `make fmt-check` (part of `make test`) finds
// a badly formatted file in a copy of the tree that is not a git checkout
// (a tarball, a CI cache), instead of passing by checking nothing.
func TestMakeFmtCheckOutsideGit(t *testing.T) {
	for _, tool := range []string{"make", "gofmt"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found in PATH: install it (apt-get install make; gofmt comes with Go)", tool)
		}
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"Makefile":        string(makefile),
		"good/good.go":    "package good\n\nfunc Good() {}\n",
		"bad/bad.go":      "package bad\nfunc  Bad( ) {  }\n",
		"x/testdata/t.go": "package  ignored\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() (string, error) {
		cmd := exec.Command("make", "-s", "fmt-check")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err == nil || !strings.Contains(out, "bad/bad.go") || strings.Contains(out, "good.go") || strings.Contains(out, "testdata") {
		t.Errorf("make fmt-check outside git: %v\n%s\nwant a failure naming bad/bad.go only", err, out)
	}
	if err := os.Remove(filepath.Join(dir, "bad/bad.go")); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err != nil {
		t.Errorf("make fmt-check of a formatted tree: %v\n%s", err, out)
	}
}
