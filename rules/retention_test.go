package rules

import (
	"testing"
	"time"
)

// TestRetentionOfRecordingsWhoseStationIsGone: a station deleted since its
// calls were recorded no longer names its group; the group whose rule
// decided the recording still sets its retention, so the recordings
// expire instead of being kept forever.
func TestRetentionOfRecordingsWhoseStationIsGone(t *testing.T) {
	days := func(n int) *int { return &n }
	rs := NewRuleSet()
	rs.Groups["sales"] = &Group{Name: "sales", Profile: "sales", RetentionDays: days(90)}
	rs.Groups["board"] = &Group{Name: "board", Profile: "management"}
	rs.Stations["1001"] = &Station{ID: "1001", Kind: SIPPhone, Group: "sales", RetentionDays: days(30)}
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ended := now.Add(-100 * 24 * time.Hour)
	tests := []struct {
		name     string
		station  string
		rule     string
		wantDays int
		wantOK   bool
	}{
		{"station's own", "1001", "group:sales", 30, true},
		{"deleted station, decided by its group", "1009", "group:sales", 90, true},
		{"deleted station, decided by a group without retention", "1009", "group:board", 0, false},
		{"deleted station, decided by a deleted group", "1009", "group:gone", 0, false},
		{"deleted station, decided by its own rule", "1009", "station:1009", 0, false},
		{"unknown station, default", "9999", "default", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Recording{Station: tc.station, Rule: tc.rule, State: StateEnded, EndedAt: &ended}
			d, ok := rs.Retention(r)
			if d != tc.wantDays || ok != tc.wantOK {
				t.Errorf("Retention = %d, %v; want %d, %v", d, ok, tc.wantDays, tc.wantOK)
			}
			if got := rs.Expired(r, now); got != tc.wantOK {
				t.Errorf("Expired = %v after 100 days, want %v", got, tc.wantOK)
			}
		})
	}
}
