package web

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// TestGDPRThroughTheAPI: search by caller and by called number, export of
// exactly the matching files and metadata, a hold that erase respects,
// erase with its proof, each in the access or audit log; every response
// checked against the OpenAPI document.
func TestGDPRThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	e.token("admin", defaultTenant, auth.Admin)
	// a: the subject calls; b: someone else; c: the subject is called.
	recs := e.seedRecordings("+48601234567", "+48609999999", "221000000")
	recs[2].DID = "0048 601-234-567"
	recs[2].ID = 0
	if err := e.st.SaveRecordings(context.Background(), []*rules.Recording{recs[2]}); err != nil {
		t.Fatal(err)
	}
	const base = "/api/v1/tenants/default"

	var found struct {
		Recordings []SubjectRecording `json:"recordings"`
	}
	e.checked("admin", "GET", base+"/subject?number=601234567", nil).json(t, &found)
	var ids []int64
	for _, r := range found.Recordings {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int64{recs[0].ID, recs[2].ID}) {
		t.Fatalf("search found %v, want %d (caller) and %d (called)", ids, recs[0].ID, recs[2].ID)
	}
	if p := e.checked("admin", "GET", base+"/subject?number=%2B4-8", nil); p.status != 422 || !strings.Contains(p.problem(t).Detail, "at least 3 digits") {
		t.Errorf("a two-digit number: %d %s", p.status, p.body)
	}

	res := e.checked("admin", "GET", base+"/subject/export?number=%2B48601234567", nil)
	if res.status != 200 || res.header.Get("Content-Type") != "application/zip" || !strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v", res.status, res.header)
	}
	names, meta := readArchive(t, res.body)
	want := []string{"audio/recording-" + itoa64(recs[0].ID) + ".wav", "audio/recording-" + itoa64(recs[2].ID) + ".wav", "metadata.json"}
	if !slices.Equal(names, want) || len(meta) != 2 {
		t.Errorf("archive %v with %d metadata rows, want %v and 2", names, len(meta), want)
	}
	for _, m := range meta {
		if f, _ := m["file"].(string); strings.Contains(f, "/") {
			t.Errorf("the archive shows the server's path %q", f)
		}
	}

	if r := e.checked("admin", "PUT", base+"/recordings/"+itoa64(recs[0].ID)+"/hold", map[string]string{"reason": "case 7/26"}); r.status != 204 {
		t.Fatalf("hold: %d %s", r.status, r.body)
	}
	if r := e.checked("admin", "PUT", base+"/recordings/"+itoa64(recs[0].ID)+"/hold", map[string]string{}); r.status != 409 {
		t.Errorf("second hold: %d", r.status)
	}
	if r := e.checked("admin", "DELETE", base+"/recordings/"+itoa64(recs[0].ID), nil); r.status != 409 {
		t.Errorf("delete of a held recording: %d", r.status)
	}
	var er EraseResult
	r := e.checked("admin", "POST", base+"/subject/erase", map[string]string{"number": "601 234 567"})
	r.json(t, &er)
	if !slices.Equal(er.Erased, []int64{recs[2].ID}) || !slices.Equal(er.Held, []int64{recs[0].ID}) || !strings.HasPrefix(er.Proof, "hmac-sha256:") {
		t.Fatalf("erase: %d %+v", r.status, er)
	}
	if _, err := os.Stat(recs[0].File); err != nil {
		t.Errorf("the held recording's file: %v", err)
	}
	if _, err := os.Stat(recs[2].File); !os.IsNotExist(err) {
		t.Errorf("the erased recording's file: %v", err)
	}
	if r := e.checked("admin", "GET", base+"/recordings/"+itoa64(recs[2].ID), nil); r.status != 404 {
		t.Errorf("the erased recording: %d", r.status)
	}
	if r := e.checked("admin", "DELETE", base+"/recordings/"+itoa64(recs[0].ID)+"/hold", nil); r.status != 204 {
		t.Errorf("release: %d", r.status)
	}
	if r := e.checked("admin", "DELETE", base+"/recordings/"+itoa64(recs[0].ID), nil); r.status != 204 {
		t.Errorf("delete after release: %d %s", r.status, r.body)
	}

	log, _ := e.st.AccessLog(context.Background(), store.AccessFilter{Tenant: defaultTenant})
	var actions []string
	for _, l := range log {
		actions = append(actions, l.Action)
		if l.Actor != "token:admin" {
			t.Errorf("access log actor %q", l.Actor)
		}
	}
	if want := []string{"delete", "erase", "export", "export"}; !slices.Equal(actions, want) {
		t.Errorf("access log %v, want %v", actions, want)
	}
	audit, _ := e.st.AuditEntries(context.Background(), store.AuditFilter{Tenant: defaultTenant})
	var fields []string
	for _, a := range audit {
		if strings.Contains(a.Before+a.After, "601234567") {
			t.Errorf("the number in clear in the audit log: %+v", a)
		}
		if strings.HasPrefix(a.Object, "recording:") || a.Object == "erasure" {
			fields = append(fields, a.Field)
		}
	}
	if want := []string{"legal_hold", "subject", "legal_hold", "deleted"}; !slices.Equal(fields, want) {
		t.Errorf("audit fields %v, want %v", fields, want)
	}
}

func FuzzInert(f *testing.F) {
	for _, s := range []string{"", "Anna", hostile, "\u202e\u2066x\u2069", "a\x00b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := inert(s)
		for _, r := range out {
			if !printable(r) {
				t.Fatalf("inert(%q) = %q keeps %U", s, out, r)
			}
		}
		if strings.IndexFunc(s, func(r rune) bool { return !printable(r) }) < 0 && out != s {
			t.Fatalf("inert changed the printable %q to %q", s, out)
		}
	})
}

// TestEraseKeepsCallsInProgress: a call still being recorded is kept (its
// row would be written again at hangup), and so is its file.
func TestEraseKeepsCallsInProgress(t *testing.T) {
	e := newEnv(t)
	e.seedRules(seedSales)
	recs := e.seedRecordings("+48601234567", "601234567")
	recs[1].State, recs[1].EndedAt, recs[1].ID = rules.StateRecording, nil, 0
	if err := e.st.SaveRecordings(context.Background(), []*rules.Recording{recs[1]}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub, err := FindSubject(ctx, e.st, defaultTenant, "601234567", nil)
	if err != nil || len(sub.Recordings) != 2 {
		t.Fatalf("subject: %v %v", sub, err)
	}
	by := store.Removal{Tenant: defaultTenant, Actor: "dpo", Address: "cli"}
	res, err := EraseSubject(ctx, e.st, e.recDir, by, "601234567", sub)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Erased, []int64{recs[0].ID}) || !slices.Equal(res.Live, []int64{recs[1].ID}) {
		t.Errorf("erase: %+v", res)
	}
	if _, err := os.Stat(recs[1].File); err != nil {
		t.Errorf("the live call's file: %v", err)
	}
	live, _ := e.st.Recording(ctx, recs[1].ID)
	if err := DeleteRecording(ctx, e.st, e.recDir, by, live); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Errorf("delete of a live call: %v", err)
	}
}
