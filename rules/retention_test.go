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
	rs.Groups(DefaultTenant)["sales"] = &Group{Name: "sales", Profile: "sales", RetentionDays: days(90)}
	rs.Groups(DefaultTenant)["board"] = &Group{Name: "board", Profile: "management"}
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

// TestRetentionOfRecordingsWhoseStationIsGoneInATenant: the group that
// decided is looked up in the recording's tenant (another tenant may have
// a group of the same name), then the tenant's own retention applies.
func TestRetentionOfRecordingsWhoseStationIsGoneInATenant(t *testing.T) {
	days := func(n int) *int { return &n }
	rs := NewRuleSet()
	rs.Groups(DefaultTenant)["sales"] = &Group{Name: "sales", RetentionDays: days(90)}
	acme := NewTenant("acme")
	acme.RetentionDays = days(14)
	acme.Groups["sales"] = &Group{Name: "sales", RetentionDays: days(7)}
	acme.Groups["board"] = &Group{Name: "board"}
	rs.Tenants["acme"] = acme
	rs.Stations["a1"] = &Station{ID: "a1", Tenant: "acme"}
	tests := []struct {
		name, tenant, station, rule string
		wantDays                    int
		wantOK                      bool
	}{
		{"known station without group: its tenant's", "acme", "a1", "tenant:acme", 14, true},
		{"deleted station, its tenant's group", "acme", "a9", "group:sales", 7, true},
		{"deleted station, group without retention: the tenant's", "acme", "a9", "group:board", 14, true},
		{"deleted station, decided by the tenant: the tenant's", "acme", "a9", "tenant:acme", 14, true},
		{"deleted station of a removed tenant", "gone", "g9", "group:sales", 0, false},
		{"before tenants: the default tenant's group", "", "1009", "group:sales", 90, true},
		{"unknown station, no tenant", "", "9999", "default", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := rs.Retention(&Recording{Tenant: tc.tenant, Station: tc.station, Rule: tc.rule})
			if d != tc.wantDays || ok != tc.wantOK {
				t.Errorf("Retention = %d, %v; want %d, %v", d, ok, tc.wantDays, tc.wantOK)
			}
		})
	}
}

// TestRetentionOfRecordingsWithoutTenant: a station recgate never knew is
// decided by the global default and its recording has no tenant; the
// default tenant's retention_days (what `recgate tenant set default
// --retention-days N` sets on a deployment without tenants) applies to
// it, instead of keeping it forever.
func TestRetentionOfRecordingsWithoutTenant(t *testing.T) {
	days := func(n int) *int { return &n }
	rs := NewRuleSet()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ended := now.Add(-100 * 24 * time.Hour)
	r := &Recording{Station: "9999", Rule: "default", State: StateEnded, EndedAt: &ended}
	if _, ok := rs.Retention(r); ok {
		t.Fatal("a retention without any retention_days set")
	}
	rs.Tenants[DefaultTenant].RetentionDays = days(90)
	if d, ok := rs.Retention(r); d != 90 || !ok {
		t.Errorf("Retention = %d, %v; want the default tenant's 90, true", d, ok)
	}
	if !rs.Expired(r, now) {
		t.Error("not expired after 100 days with a 90-day retention")
	}
}
