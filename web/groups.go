package web

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/rules"
)

// Group is a department whose rules its stations inherit.
type Group struct {
	Name          string         `json:"name"`
	Tenant        string         `json:"tenant"`
	Profile       string         `json:"profile" doc:"the built-in profile it starts from; empty for none"`
	Announce      string         `json:"announce" enum:"inherit,yes,no"`
	RetentionDays *int           `json:"retention_days" nullable:"true" doc:"keep recordings this many days; null: no retention of its own"`
	Rules         DirectionRules `json:"rules" doc:"the group's own overrides on top of its profile"`
	Stations      int            `json:"stations" doc:"how many stations are in the group"`
}

// GroupPatch changes a group; absent fields stay as they are.
type GroupPatch struct {
	Profile       *string     `json:"profile,omitempty" maxLength:"64" doc:"a built-in profile (GET /api/v1/profiles); empty for none"`
	Announce      *string     `json:"announce,omitempty" enum:"inherit,yes,no"`
	RetentionDays *int        `json:"retention_days,omitempty" minimum:"-1" maximum:"36500" doc:"-1 removes the group's retention"`
	Rules         *RulesPatch `json:"rules,omitempty"`
}

// GroupCreate is a new group.
type GroupCreate struct {
	Name string `json:"name" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9._+@-]+$"`
	GroupPatch
}

func (p *GroupPatch) apply(g *rules.Group) error {
	if p.Profile != nil {
		if _, ok := rules.LookupProfile(*p.Profile); !ok && *p.Profile != "" {
			return fieldError("body.profile", "unknown profile %q (valid: %s)", *p.Profile, strings.Join(rules.ProfileNames(), ", "))
		}
		g.Profile = *p.Profile
	}
	if p.Announce != nil {
		g.Announce = parseAnnounce(*p.Announce)
	}
	if p.RetentionDays != nil {
		if *p.RetentionDays < 0 {
			g.RetentionDays = nil
		} else {
			n := *p.RetentionDays
			g.RetentionDays = &n
		}
	}
	g.Modes = p.Rules.apply(g.Modes)
	return nil
}

func groupView(rs *rules.RuleSet, tenant string, g *rules.Group) Group {
	n := 0
	for _, st := range rs.Stations {
		if st.Group == g.Name && stationTenant(st) == tenant {
			n++
		}
	}
	return Group{Name: g.Name, Tenant: tenant, Profile: g.Profile, Announce: announceOf(g.Announce),
		RetentionDays: g.RetentionDays, Rules: rulesOf(g.Modes), Stations: n}
}

func groupETag(g *rules.Group) string {
	return etagOf(struct {
		Profile, Announce string
		Retention         *int
		Rules             DirectionRules
	}{g.Profile, announceOf(g.Announce), g.RetentionDays, rulesOf(g.Modes)})
}

// GroupPath names a group of a tenant in the URL.
type GroupPath struct {
	TenantPath
	Name string `path:"name" maxLength:"64" doc:"the group's name"`
}

// GroupOutput is one group with its ETag.
type GroupOutput struct {
	ETag string `header:"ETag"`
	Body Group
}

// ListGroupsOutput is the tenant's groups.
type ListGroupsOutput struct{ Body Page[Group] }

// PatchGroupInput changes a group.
type PatchGroupInput struct {
	GroupPath
	IfMatch string `header:"If-Match" doc:"the ETag read; a stale one is refused with 412"`
	Body    GroupPatch
}

// CreateGroupInput adds a group.
type CreateGroupInput struct {
	TenantPath
	Body GroupCreate
}

// DeleteGroupInput removes a group.
type DeleteGroupInput struct {
	GroupPath
	IfMatch string `header:"If-Match" doc:"the ETag read; a stale one is refused with 412"`
	Force   bool   `query:"force" doc:"also move its stations to no group"`
}

// ProfilesOutput lists the built-in profiles.
type ProfilesOutput struct{ Body []Profile }

// Profile is a built-in set of per-direction modes a group can start from.
type Profile struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Rules       DirectionRules `json:"rules"`
}

func (s *Server) registerGroups() {
	tags := []string{"groups"}
	add(s, Reader, huma.Operation{OperationID: "list-groups", Method: http.MethodGet, Path: "/tenants/{tenant}/groups",
		Tags: tags, Summary: "List the tenant's groups"}, s.listGroups)
	add(s, Reader, huma.Operation{OperationID: "get-group", Method: http.MethodGet, Path: "/tenants/{tenant}/groups/{name}",
		Tags: tags, Summary: "Get a group (with its ETag)"}, s.getGroup)
	add(s, RuleWriter, huma.Operation{OperationID: "create-group", Method: http.MethodPost, Path: "/tenants/{tenant}/groups",
		Tags: tags, Summary: "Add a group, optionally from a built-in profile", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict}}, s.createGroup)
	add(s, RuleWriter, huma.Operation{OperationID: "patch-group", Method: http.MethodPatch, Path: "/tenants/{tenant}/groups/{name}",
		Tags: tags, Summary: "Change a group; applies from the next call", Errors: []int{http.StatusPreconditionFailed, http.StatusConflict}}, s.patchGroup)
	add(s, RuleWriter, huma.Operation{OperationID: "delete-group", Method: http.MethodDelete, Path: "/tenants/{tenant}/groups/{name}",
		Tags: tags, Summary: "Remove a group (refused while stations are in it, unless force)", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusPreconditionFailed, http.StatusConflict}}, s.deleteGroup)
	add(s, Reader, huma.Operation{OperationID: "list-profiles", Method: http.MethodGet, Path: "/profiles",
		Tags: tags, Summary: "The built-in profiles a group can start from"}, s.listProfiles)
}

func lookupGroup(rs *rules.RuleSet, tenant, name string) (*rules.Group, error) {
	g := tenantGroups(rs, tenant)[name]
	if g == nil {
		return nil, huma.Error404NotFound("unknown group " + quote(name) + " in tenant " + tenant)
	}
	return g, nil
}

func (s *Server) listGroups(ctx context.Context, in *TenantPath) (*ListGroupsOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	groups := tenantGroups(rs, in.Tenant)
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	out := &ListGroupsOutput{Body: Page[Group]{Items: []Group{}}}
	for _, n := range names {
		out.Body.Items = append(out.Body.Items, groupView(rs, in.Tenant, groups[n]))
	}
	return out, nil
}

func (s *Server) getGroup(ctx context.Context, in *GroupPath) (*GroupOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	g, err := lookupGroup(rs, in.Tenant, in.Name)
	if err != nil {
		return nil, err
	}
	return &GroupOutput{ETag: groupETag(g), Body: groupView(rs, in.Tenant, g)}, nil
}

func (s *Server) groupResult(ctx context.Context, tenant string, g *rules.Group) (*GroupOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return &GroupOutput{ETag: groupETag(g), Body: groupView(rs, tenant, g)}, nil
}

func (s *Server) patchGroup(ctx context.Context, in *PatchGroupInput) (*GroupOutput, error) {
	var written *rules.Group
	_, err := s.store.UpdateGroup(ctx, principalOf(ctx).Actor(), in.Tenant, in.Name, func(g *rules.Group) error {
		if err := checkIfMatch(in.IfMatch, groupETag(g)); err != nil {
			return err
		}
		if err := in.Body.apply(g); err != nil {
			return err
		}
		written = g.Clone()
		return nil
	})
	if err != nil {
		if rules.ErrorCode(err) == rules.ENOTFOUND {
			return nil, huma.Error404NotFound("unknown group " + quote(in.Name) + " in tenant " + in.Tenant)
		}
		return nil, s.fail(ctx, err)
	}
	return s.groupResult(ctx, in.Tenant, written)
}

func (s *Server) deleteGroup(ctx context.Context, in *DeleteGroupInput) (*struct{}, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	g, err := lookupGroup(rs, in.Tenant, in.Name)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(in.IfMatch, groupETag(g)); err != nil {
		return nil, err
	}
	var members []string
	for id, st := range rs.Stations {
		if st.Group == g.Name && stationTenant(st) == in.Tenant {
			members = append(members, id)
		}
	}
	if len(members) > 0 && !in.Force {
		sort.Strings(members)
		return nil, huma.Error409Conflict("group " + g.Name + " still has stations (" + firstOf(members, 5) +
			"): move them first, or delete with force=true to leave them in no group")
	}
	if _, err := s.store.DeleteGroup(ctx, principalOf(ctx).Actor(), in.Tenant, in.Name, in.Force); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func firstOf(s []string, n int) string {
	out := ""
	for i, v := range s {
		if i == n {
			return out + ", …"
		}
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}

func (s *Server) createGroup(ctx context.Context, in *CreateGroupInput) (*GroupOutput, error) {
	g := &rules.Group{Name: in.Body.Name}
	if err := in.Body.apply(g); err != nil {
		return nil, err
	}
	if _, err := s.store.CreateGroup(ctx, principalOf(ctx).Actor(), in.Tenant, g); err != nil {
		if rules.ErrorCode(err) == rules.ECONFLICT {
			return nil, huma.Error409Conflict("group " + quote(in.Body.Name) + " already exists in tenant " + in.Tenant)
		}
		return nil, s.fail(ctx, err)
	}
	return s.groupResult(ctx, in.Tenant, g)
}

func (s *Server) listProfiles(_ context.Context, _ *struct{}) (*ProfilesOutput, error) {
	out := &ProfilesOutput{}
	for _, p := range rules.Profiles() {
		out.Body = append(out.Body, Profile{Name: p.Name, Description: p.Description, Rules: rulesOf(p.Modes)})
	}
	return out, nil
}
