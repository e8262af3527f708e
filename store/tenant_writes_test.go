package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// TestScopedWrites runs each tenant-scoped write against a store holding
// twoTenants, applies the same change to a copy of the whole rule set by
// hand, and checks that the store then holds exactly that copy: a write
// that reads only its tenant's part changes nothing else. A refused write
// changes nothing and audits nothing.
func TestScopedWrites(t *testing.T) {
	ctx := context.Background()
	type step struct {
		name     string
		write    func(s *Store) ([]Change, error)
		want     func(rs *rules.RuleSet) // nil: the write is refused
		wantCode string
	}
	acme := func(rs *rules.RuleSet) *rules.Tenant { return rs.Tenants["acme"] }
	steps := []step{
		{"create tenant", func(s *Store) ([]Change, error) {
			nt := rules.NewTenant("beta")
			nt.TimeZone = ""
			nt.Modes = rules.ModeSet{rules.Outbound: rules.Auto}
			return s.CreateTenant(ctx, "op", nt)
		}, func(rs *rules.RuleSet) {
			nt := rules.NewTenant("beta")
			nt.Modes = rules.ModeSet{rules.Outbound: rules.Auto}
			rs.Tenants["beta"] = nt
		}, ""},
		{"create existing tenant", func(s *Store) ([]Change, error) {
			return s.CreateTenant(ctx, "op", rules.NewTenant("acme"))
		}, nil, rules.ECONFLICT},
		{"create tenant with a bad id", func(s *Store) ([]Change, error) {
			return s.CreateTenant(ctx, "op", rules.NewTenant("Bad"))
		}, nil, rules.EINVALID},
		{"update tenant", func(s *Store) ([]Change, error) {
			return s.UpdateTenant(ctx, "op", "acme", func(t *rules.Tenant) error {
				t.Name, t.TimeZone, t.AnnounceRequired = "ACME 2", "Europe/London", false
				t.Modes[rules.Internal] = rules.Auto
				delete(t.Modes, rules.InboundDirect)
				return nil
			})
		}, func(rs *rules.RuleSet) {
			t := acme(rs)
			t.Name, t.TimeZone, t.AnnounceRequired = "ACME 2", "Europe/London", false
			t.Modes = rules.ModeSet{rules.Internal: rules.Auto}
		}, ""},
		{"update tenant with a bad time zone", func(s *Store) ([]Change, error) {
			return s.UpdateTenant(ctx, "op", "acme", func(t *rules.Tenant) error { t.TimeZone = "Mars/Olympus"; return nil })
		}, nil, rules.EINVALID},
		{"update missing tenant", func(s *Store) ([]Change, error) {
			return s.UpdateTenant(ctx, "op", "nope", func(*rules.Tenant) error { return nil })
		}, nil, rules.ENOTFOUND},
		{"create station in a tenant's group", func(s *Store) ([]Change, error) {
			return s.CreateStation(ctx, "op", "acme", &rules.Station{ID: "acme-3", Group: "sales", Modes: rules.ModeSet{rules.Outbound: rules.Auto}})
		}, func(rs *rules.RuleSet) {
			rs.Stations["acme-3"] = &rules.Station{ID: "acme-3", Tenant: "acme", Group: "sales", Modes: rules.ModeSet{rules.Outbound: rules.Auto}}
		}, ""},
		{"create station with another tenant's id", func(s *Store) ([]Change, error) {
			return s.CreateStation(ctx, "op", "acme", &rules.Station{ID: "1001"})
		}, nil, rules.ECONFLICT},
		{"create station in another tenant's group", func(s *Store) ([]Change, error) {
			return s.CreateStation(ctx, "op", "acme", &rules.Station{ID: "acme-4", Group: "board"})
		}, nil, rules.EINVALID},
		{"create station in a missing tenant", func(s *Store) ([]Change, error) {
			return s.CreateStation(ctx, "op", "nope", &rules.Station{ID: "n-1"})
		}, nil, rules.ENOTFOUND},
		{"update station", func(s *Store) ([]Change, error) {
			return s.UpdateStation(ctx, "admin", "acme", "acme-2", func(st *rules.Station) error {
				st.Group, st.Announce = "sales", ptr(true)
				st.Modes = rules.ModeSet{rules.InboundQueue: rules.OnDemand}
				return nil
			})
		}, func(rs *rules.RuleSet) {
			st := rs.Stations["acme-2"]
			st.Group, st.Announce = "sales", ptr(true)
			st.Modes = rules.ModeSet{rules.InboundQueue: rules.OnDemand}
		}, ""},
		{"update another tenant's station", func(s *Store) ([]Change, error) {
			return s.UpdateStation(ctx, "admin", "acme", "1001", func(st *rules.Station) error { st.Name = "x"; return nil })
		}, nil, rules.ENOTFOUND},
		{"move a station to another tenant", func(s *Store) ([]Change, error) {
			return s.UpdateStation(ctx, "admin", "acme", "acme-2", func(st *rules.Station) error { st.Tenant, st.Group = rules.DefaultTenant, ""; return nil })
		}, nil, rules.EINVALID},
		{"update station refused by fn", func(s *Store) ([]Change, error) {
			return s.UpdateStation(ctx, "admin", "acme", "acme-2", func(st *rules.Station) error {
				st.Name = "lost"
				return rules.Errorf(rules.ECONFLICT, "stale etag")
			})
		}, nil, rules.ECONFLICT},
		{"update station of any tenant", func(s *Store) ([]Change, error) {
			return s.UpdateStation(ctx, "op", AllTenants, "acme-1", func(st *rules.Station) error { st.Name = "front desk"; return nil })
		}, func(rs *rules.RuleSet) { rs.Stations["acme-1"].Name = "front desk" }, ""},
		{"delete another tenant's station", func(s *Store) ([]Change, error) {
			return s.DeleteStation(ctx, "admin", "acme", "2001")
		}, nil, rules.ENOTFOUND},
		{"delete station", func(s *Store) ([]Change, error) {
			return s.DeleteStation(ctx, "admin", "acme", "acme-3")
		}, func(rs *rules.RuleSet) { delete(rs.Stations, "acme-3") }, ""},
		{"create a group named like another tenant's", func(s *Store) ([]Change, error) {
			return s.CreateGroup(ctx, "admin", "acme", &rules.Group{Name: "board", Profile: "management"})
		}, func(rs *rules.RuleSet) {
			acme(rs).Groups["board"] = &rules.Group{Name: "board", Profile: "management"}
		}, ""},
		{"create an existing group", func(s *Store) ([]Change, error) {
			return s.CreateGroup(ctx, "admin", "acme", &rules.Group{Name: "sales"})
		}, nil, rules.ECONFLICT},
		{"update group", func(s *Store) ([]Change, error) {
			return s.UpdateGroup(ctx, "admin", "acme", "board", func(g *rules.Group) error {
				g.Modes = rules.ModeSet{rules.Outbound: rules.OnDemand}
				g.RetentionDays = ptr(10)
				return nil
			})
		}, func(rs *rules.RuleSet) {
			g := acme(rs).Groups["board"]
			g.Modes = rules.ModeSet{rules.Outbound: rules.OnDemand}
			g.RetentionDays = ptr(10)
		}, ""},
		{"update another tenant's group", func(s *Store) ([]Change, error) {
			return s.UpdateGroup(ctx, "admin", "beta", "board", func(*rules.Group) error { return nil })
		}, nil, rules.ENOTFOUND},
		{"delete a group with stations", func(s *Store) ([]Change, error) {
			return s.DeleteGroup(ctx, "admin", "acme", "sales", false)
		}, nil, rules.ECONFLICT},
		{"delete a group with stations, forced", func(s *Store) ([]Change, error) {
			return s.DeleteGroup(ctx, "admin", "acme", "sales", true)
		}, func(rs *rules.RuleSet) {
			delete(acme(rs).Groups, "sales")
			rs.Stations["acme-1"].Group = ""
			rs.Stations["acme-2"].Group = ""
		}, ""},
		{"delete the default tenant", func(s *Store) ([]Change, error) {
			return s.DeleteTenant(ctx, "op", rules.DefaultTenant, true)
		}, nil, rules.ECONFLICT},
		{"delete a tenant with stations", func(s *Store) ([]Change, error) {
			return s.DeleteTenant(ctx, "op", "acme", false)
		}, nil, rules.ECONFLICT},
		{"delete an empty tenant", func(s *Store) ([]Change, error) {
			return s.DeleteTenant(ctx, "op", "beta", false)
		}, func(rs *rules.RuleSet) { delete(rs.Tenants, "beta") }, ""},
		{"delete a tenant with stations, forced", func(s *Store) ([]Change, error) {
			return s.DeleteTenant(ctx, "op", "acme", true)
		}, func(rs *rules.RuleSet) {
			delete(rs.Tenants, "acme")
			delete(rs.Stations, "acme-1")
			delete(rs.Stations, "acme-2")
		}, ""},
	}

	s := openTest(t, tempDB(t))
	want := twoTenants()
	if _, err := s.ReplaceRules(ctx, "op", want); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		before, _ := s.Audit(ctx, time.Time{})
		changes, err := st.write(s)
		if st.want == nil {
			if rules.ErrorCode(err) != st.wantCode {
				t.Errorf("%s: %v, want code %s", st.name, err, st.wantCode)
			}
		} else {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			prev := want.Clone()
			st.want(want)
			if d := Diff(prev, want); !reflect.DeepEqual(changes, d) {
				t.Errorf("%s: changes %v\nwant %v", st.name, changes, d)
			}
		}
		got, err := s.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: rules differ from the expected set:\n%v", st.name, Diff(want, got))
		}
		after, _ := s.Audit(ctx, time.Time{})
		if len(after)-len(before) != len(changes) {
			t.Errorf("%s: %d audit rows for %d changes", st.name, len(after)-len(before), len(changes))
		}
	}
}
