package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

func TestSameNumber(t *testing.T) {
	for _, tc := range []struct {
		field, query string
		want         bool
	}{
		{"+48601234567", "601234567", true},
		{"0048601234567", "+48 601-234-567", true},
		{"601234567", "+48601234567", true},
		{"1001", "1001", true},
		{"11001", "1001", false}, // short numbers only exactly
		{"601234567", "601234568", false},
		{"", "601234567", false},
		{"<script>601234567</script>", "601234567", true},
		{"anonymous", "601234567", false},
	} {
		if got := SameNumber(tc.field, tc.query); got != tc.want {
			t.Errorf("SameNumber(%q, %q) = %v, want %v", tc.field, tc.query, got, tc.want)
		}
	}
}

// seedSubject saves recordings of tenants a and b and returns them by
// uniqueid.
func seedSubject(t *testing.T, s *Store) map[string]*rules.Recording {
	t.Helper()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	recs := []*rules.Recording{
		{UniqueID: "caller", CallerID: "+48601234567", DID: "221112233"},
		{UniqueID: "called", CallerID: "1001", DID: "0048 601 234 567"},
		{UniqueID: "other", CallerID: "+48601999999", DID: "221112233"},
		{UniqueID: "tenant-b", CallerID: "601234567", DID: "1"},
	}
	for i, r := range recs {
		r.Station, r.Direction, r.Mode, r.Rule, r.State = "1001", rules.Outbound, rules.Auto, "default", rules.StateEnded
		r.File = "/rec/" + r.UniqueID + ".wav"
		at := now.Add(time.Duration(i) * time.Minute)
		r.StartedAt = &at
	}
	for _, r := range recs {
		r.Tenant = "a"
		if r.UniqueID == "tenant-b" {
			r.Tenant = "b"
		}
	}
	if err := s.SaveRecordings(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	out := map[string]*rules.Recording{}
	for _, r := range recs {
		out[r.UniqueID] = r
	}
	return out
}

func uniqueIDs(recs []rules.Recording) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.UniqueID)
	}
	slices.Sort(out)
	return out
}

func TestSubjectRecordingsFindsCallerAndCalledInTheTenantOnly(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	seedSubject(t, s)
	got, err := s.SubjectRecordings(ctx, SubjectQuery{Tenant: "a", Number: "601 234 567"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := uniqueIDs(got); !slices.Equal(ids, []string{"called", "caller"}) {
		t.Errorf("subject in tenant a: %v, want called and caller", ids)
	}
	got, _ = s.SubjectRecordings(ctx, SubjectQuery{Tenant: "a", Number: "601234567", Stations: []string{}})
	if len(got) != 0 {
		t.Errorf("an empty scope found %v", uniqueIDs(got))
	}
	if _, err := s.SubjectRecordings(ctx, SubjectQuery{Tenant: "a", Number: "+4"}); rules.ErrorCode(err) != rules.EINVALID {
		t.Errorf("a two-character number: %v, want EINVALID", err)
	}
}

func TestHoldRefusesDeleteAndEraseUntilReleased(t *testing.T) {
	s := openTest(t, tempDB(t))
	ctx := context.Background()
	recs := seedSubject(t, s)
	caller, called := recs["caller"].ID, recs["called"].ID
	by := Removal{Tenant: "a", Actor: "anna", Address: "192.0.2.1"}

	if err := s.HoldRecording(ctx, "anna", caller, "court case 12/26"); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldRecording(ctx, "anna", caller, ""); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Errorf("second hold: %v, want ECONFLICT", err)
	}
	if err := s.HoldRecording(ctx, "anna", 9999, ""); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("hold of a missing recording: %v, want ENOTFOUND", err)
	}
	if err := s.DeleteRecording(ctx, by, caller); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Errorf("delete of a held recording: %v, want ECONFLICT", err)
	}
	if _, err := s.EraseRecordings(ctx, by, "601234567", []int64{caller, called}); rules.ErrorCode(err) != rules.ECONFLICT {
		t.Errorf("erase with a held recording: %v, want ECONFLICT", err)
	}
	if _, err := s.Recording(ctx, called); err != nil {
		t.Fatalf("a refused erasure erased: %v", err)
	}
	// The database itself refuses to drop a held row.
	if _, err := s.db.Exec("DELETE FROM recordings WHERE id = ?", caller); err == nil {
		t.Error("the foreign key let a held recording's row go")
	}

	er, err := s.EraseRecordings(ctx, by, "+48 601 234 567", []int64{called})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(er.Erased, []int64{called}) || !strings.HasPrefix(er.Proof, "hmac-sha256:") {
		t.Fatalf("erasure %+v", er)
	}
	if _, err := s.Recording(ctx, called); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("erased recording still there: %v", err)
	}
	audit, _ := s.Audit(ctx, time.Time{})
	for _, e := range audit {
		if strings.Contains(e.Before+e.After+e.Object, "601234567") {
			t.Errorf("the number is in the audit log in clear: %+v", e)
		}
	}
	proofs, err := s.Erasures(ctx, "a", "0048601234567")
	if err != nil || len(proofs) != 1 || proofs[0].Actor != "anna" {
		t.Fatalf("the erasure is not found again by its number: %+v %v", proofs, err)
	}
	if other, _ := s.Erasures(ctx, "a", "601999999"); len(other) != 0 {
		t.Errorf("another number finds the erasure: %+v", other)
	}

	if err := s.ReleaseRecording(ctx, "anna", caller); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseRecording(ctx, "anna", caller); rules.ErrorCode(err) != rules.ENOTFOUND {
		t.Errorf("second release: %v", err)
	}
	if err := s.DeleteRecording(ctx, by, caller); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Recording(ctx, caller)
	if r.State != rules.StateDeleted || r.DeletedAt == nil {
		t.Errorf("deleted recording: %+v", r)
	}
	log, _ := s.AccessLog(ctx, AccessFilter{Tenant: "a"})
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{AccessDelete, AccessErase}) {
		t.Errorf("access log actions %v, want delete, erase", actions)
	}
	var holds []string
	for _, e := range audit {
		if e.Field == "legal_hold" {
			holds = append(holds, e.After)
		}
	}
	if !slices.Equal(holds, []string{"yes court case 12/26"}) {
		t.Errorf("hold audit %v", holds)
	}
}

func FuzzSameNumber(f *testing.F) {
	for _, s := range [][2]string{{"+48601234567", "601234567"}, {"0048 601-234-567", "1001"}, {"", "x"}, {"<script>", "00"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if SameNumber(a, b) != SameNumber(b, a) {
			t.Fatalf("SameNumber(%q, %q) is not symmetric", a, b)
		}
		if SameNumber(a, b) && (NumberDigits(a) == "" || NumberDigits(b) == "") {
			t.Fatalf("SameNumber(%q, %q) without digits", a, b)
		}
		if d := NumberDigits(a); d != "" && !SameNumber(a, d) {
			t.Fatalf("%q is not the same number as its digits %q", a, d)
		}
	})
}
