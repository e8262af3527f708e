package main

import (
	"archive/zip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// seedGDPR saves three old recordings of station 1001 (retention 1 day)
// with files: the subject as caller, the subject as number called, and
// someone else.
func seedGDPR(t *testing.T, e *cliEnv) []*rules.Recording {
	t.Helper()
	e.ok("group", "add", "sales", "--profile", "sales", "--retention-days", "1")
	e.ok("station", "add", "1001", "--group", "sales")
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now().Add(-10 * 24 * time.Hour).UTC()
	end := start.Add(time.Minute)
	var recs []*rules.Recording
	for i, p := range [][2]string{{"+48601234567", "221000000"}, {"1001", "0048 601 234 567"}, {"+48609999999", "221000000"}} {
		file := filepath.Join(e.recDir, "r"+strconv.Itoa(i)+".wav")
		if err := os.WriteFile(file, []byte("RIFF"+p[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &rules.Recording{UniqueID: "u" + strconv.Itoa(i), Tenant: rules.DefaultTenant, Station: "1001", Direction: rules.Outbound,
			Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales", File: file, CallerID: p[0], DID: p[1],
			State: rules.StateEnded, StartedAt: &start, EndedAt: &end})
	}
	if err := st.SaveRecordings(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestCLIRecordingsGDPR(t *testing.T) {
	e := newCLIEnv(t)
	recs := seedGDPR(t, e)
	caller, called, other := recs[0], recs[1], recs[2]
	id := func(r *rules.Recording) string { return strconv.FormatInt(r.ID, 10) }

	var found struct {
		Recordings []rules.Recording  `json:"recordings"`
		Erasures   []store.AuditEntry `json:"erasures"`
	}
	decodeJSON(t, e.ok("recordings", "search", "601 234 567", "--json"), &found)
	var ids []int64
	for _, r := range found.Recordings {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int64{caller.ID, called.ID}) {
		t.Fatalf("search found %v, want %d (caller) and %d (called)", ids, caller.ID, called.ID)
	}
	if r := e.run("recordings", "search", "12"); r.code != exitInvalid || !strings.Contains(r.stderr, "at least 3 digits") {
		t.Errorf("a two-digit search: %v", r)
	}

	archive := filepath.Join(e.dir, "subject.zip")
	r := e.run("recordings", "export", "+48601234567", "-o", archive, "--actor", "dpo")
	if r.code != exitOK {
		t.Fatalf("export: %v", r)
	}
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "metadata.json" {
			rc, _ := f.Open()
			var meta []map[string]any
			if err := json.NewDecoder(rc).Decode(&meta); err != nil || len(meta) != 2 {
				t.Errorf("metadata.json: %d rows, %v", len(meta), err)
			}
			rc.Close()
		}
	}
	zr.Close()
	slices.Sort(names)
	if want := []string{"audio/recording-" + id(caller) + ".wav", "audio/recording-" + id(called) + ".wav", "metadata.json"}; !slices.Equal(names, want) {
		t.Errorf("archive %v, want %v", names, want)
	}

	e.ok("recordings", "hold", id(caller), "--reason", "court 12/26", "--actor", "dpo")
	if r := e.run("recordings", "hold", id(caller)); r.code != exitConflict {
		t.Errorf("second hold: %v", r)
	}
	out := e.ok("retention", "run", "--actor", "cron")
	if !strings.Contains(out, "recording "+id(caller)+": under legal hold, kept") {
		t.Errorf("retention did not say it kept the held recording:\n%s", out)
	}
	if _, err := os.Stat(caller.File); err != nil {
		t.Errorf("retention removed a held recording's file: %v", err)
	}
	if _, err := os.Stat(other.File); !os.IsNotExist(err) {
		t.Errorf("retention kept an expired recording's file: %v", err)
	}

	if r := e.run("recordings", "erase", "601234567"); r.code != exitInvalid || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("erase without --yes: %v", r)
	}
	out = e.ok("recordings", "erase", "601234567", "--yes", "--actor", "dpo")
	if !strings.Contains(out, "erased 1 recording(s); kept 1 under legal hold; proof in the audit log: hmac-sha256:") {
		t.Errorf("erase: %s", out)
	}
	if r := e.run("recordings", "show", id(called)); r.code != exitNotFound {
		t.Errorf("the erased recording is still shown: %v", r)
	}
	if r := e.run("recordings", "show", id(caller)); r.code != exitOK {
		t.Errorf("the held recording is gone: %v", r)
	}
	if _, err := os.Stat(caller.File); err != nil {
		t.Errorf("erase removed a held recording's file: %v", err)
	}

	e.ok("recordings", "release", id(caller), "--actor", "dpo")
	out = e.ok("recordings", "erase", "+48601234567", "--yes", "--actor", "dpo")
	if !strings.Contains(out, "erased 1 recording(s); kept 0") {
		t.Errorf("erase after release: %s", out)
	}
	if _, err := os.Stat(caller.File); !os.IsNotExist(err) {
		t.Errorf("the released recording's file survived erase: %v", err)
	}
	if out := e.ok("recordings", "search", "601234567"); !strings.Contains(out, "no recordings of this number") ||
		strings.Count(out, "erased before:") != 2 {
		t.Errorf("search after erasing:\n%s", out)
	}

	audit := e.audit()
	var holds, erasures int
	for _, a := range audit {
		if strings.Contains(a.Object+a.Field+a.Before+a.After, "601234567") {
			t.Errorf("the number is in the audit log in clear: %+v", a)
		}
		if a.Field == "legal_hold" && a.Actor == "dpo" {
			holds++
		}
		if a.Object == "erasure" && a.Tenant == "default" && strings.HasPrefix(a.Before, "hmac-sha256:") {
			erasures++
		}
	}
	if holds != 2 || erasures != 2 {
		t.Errorf("audit: %d hold/release and %d erasure entries, want 2 and 2", holds, erasures)
	}
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log, _ := st.AccessLog(context.Background(), store.AccessFilter{Tenant: "default"})
	var actions []string
	for _, l := range log {
		if l.Actor != "dpo" || l.Address != cliAddress {
			t.Errorf("access log entry %+v", l)
		}
		actions = append(actions, l.Action)
	}
	slices.Sort(actions)
	if want := []string{"erase", "erase", "export", "export"}; !slices.Equal(actions, want) {
		t.Errorf("access log actions %v, want %v", actions, want)
	}
}
