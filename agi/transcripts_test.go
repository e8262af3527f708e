package agi

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// sharedTranscripts is where the captures live beside the repository.
const sharedTranscripts = "../../shared/asterisk/transcripts"

// TestTranscriptCopyMatchesShared keeps testdata/transcripts, which the
// tests use so that they run in a clean clone, identical to the captures.
func TestTranscriptCopyMatchesShared(t *testing.T) {
	shared, _ := filepath.Glob(filepath.Join(sharedTranscripts, "*.raw"))
	if len(shared) == 0 {
		t.Skip("shared transcripts not present beside the repository")
	}
	local, _ := filepath.Glob("testdata/transcripts/*.raw")
	if len(local) != len(shared) {
		t.Errorf("testdata has %d transcripts, shared has %d", len(local), len(shared))
	}
	for _, s := range shared {
		want, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("testdata", "transcripts", filepath.Base(s)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: testdata copy differs from %s (%v)", filepath.Base(s), s, err)
		}
	}
}
