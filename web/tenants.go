package web

import (
	"context"
	"net/http"
	"sort"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/rules"
)

// Tenant is one of the provider's customers: its settings and
// per-direction defaults.
type Tenant struct {
	ID               string         `json:"id"`
	Name             string         `json:"name"`
	TimeZone         string         `json:"timezone" doc:"IANA time zone used wherever a person reads a time"`
	RetentionDays    *int           `json:"retention_days" nullable:"true" doc:"keep recordings this many days when neither station nor group says; null: forever"`
	AnnounceRequired bool           `json:"announce_required" doc:"every recorded call of the tenant is announced"`
	Defaults         DirectionRules `json:"defaults" doc:"the tenant's default per direction (inherit: the global default)"`
	Stations         int            `json:"stations"`
	Groups           int            `json:"groups"`
}

// TenantPatch changes a tenant; absent fields stay as they are.
type TenantPatch struct {
	Name             *string     `json:"name,omitempty" maxLength:"200"`
	TimeZone         *string     `json:"timezone,omitempty" maxLength:"64"`
	RetentionDays    *int        `json:"retention_days,omitempty" minimum:"-1" maximum:"36500" doc:"-1 removes it"`
	AnnounceRequired *bool       `json:"announce_required,omitempty"`
	Defaults         *RulesPatch `json:"defaults,omitempty"`
}

// TenantCreate is a new tenant.
type TenantCreate struct {
	ID string `json:"id" minLength:"1" maxLength:"63" pattern:"^[a-z0-9][a-z0-9-]*$"`
	TenantPatch
}

func (p *TenantPatch) apply(t *rules.Tenant) error {
	if p.Name != nil {
		t.Name = *p.Name
	}
	if p.TimeZone != nil {
		if err := rules.ValidateTimeZone(*p.TimeZone); err != nil {
			return fieldError("body.timezone", "%v", err)
		}
		t.TimeZone = *p.TimeZone
	}
	if p.RetentionDays != nil {
		if *p.RetentionDays < 0 {
			t.RetentionDays = nil
		} else {
			n := *p.RetentionDays
			t.RetentionDays = &n
		}
	}
	if p.AnnounceRequired != nil {
		t.AnnounceRequired = *p.AnnounceRequired
	}
	t.Modes = p.Defaults.apply(t.Modes)
	return nil
}

func tenantView(rs *rules.RuleSet, t *rules.Tenant) Tenant {
	n := 0
	for _, st := range rs.Stations {
		if st.TenantID() == t.ID {
			n++
		}
	}
	return Tenant{ID: t.ID, Name: t.Name, TimeZone: t.TimeZone, RetentionDays: t.RetentionDays,
		AnnounceRequired: t.AnnounceRequired, Defaults: rulesOf(t.Modes), Stations: n, Groups: len(t.Groups)}
}

// TenantsOutput lists tenants.
type TenantsOutput struct{ Body Page[Tenant] }

// TenantOutput is one tenant.
type TenantOutput struct{ Body Tenant }

// DeleteTenantInput removes a tenant.
type DeleteTenantInput struct {
	TenantPath
	Force bool `query:"force" doc:"also remove its stations and groups"`
}

func (s *Server) registerTenants() {
	tags := []string{"tenants"}
	add(s, Anyone, huma.Operation{OperationID: "list-tenants", Method: http.MethodGet, Path: "/tenants",
		Tags: tags, Summary: "The tenants the caller sees: all for an operator, its own for the others"}, s.listTenants)
	add(s, Anyone, huma.Operation{OperationID: "get-tenant", Method: http.MethodGet, Path: "/tenants/{tenant}",
		Tags: tags, Summary: "Get a tenant's settings"}, s.getTenant)
	add(s, TenantWriter, huma.Operation{OperationID: "create-tenant", Method: http.MethodPost, Path: "/tenants",
		Tags: tags, Summary: "Add a tenant (operators)", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict}}, s.createTenant)
	add(s, TenantWriter, huma.Operation{OperationID: "patch-tenant", Method: http.MethodPatch, Path: "/tenants/{tenant}",
		Tags: tags, Summary: "Change a tenant's settings and defaults (operators)"}, s.patchTenant)
	add(s, TenantWriter, huma.Operation{OperationID: "delete-tenant", Method: http.MethodDelete, Path: "/tenants/{tenant}",
		Tags: tags, Summary: "Remove a tenant (operators; refused while it has stations or groups, unless force)",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusConflict}}, s.deleteTenant)
}

func (s *Server) listTenants(ctx context.Context, _ *struct{}) (*TenantsOutput, error) {
	p := principalOf(ctx)
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(rs.Tenants))
	for id := range rs.Tenants {
		if p.SeesTenant(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := &TenantsOutput{Body: Page[Tenant]{Items: make([]Tenant, 0, len(ids))}}
	for _, id := range ids {
		out.Body.Items = append(out.Body.Items, tenantView(rs, rs.Tenants[id]))
	}
	return out, nil
}

func (s *Server) getTenant(ctx context.Context, in *TenantPath) (*TenantOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	t := rs.Tenants[in.Tenant]
	if t == nil {
		return nil, huma.Error404NotFound("unknown tenant " + quote(in.Tenant))
	}
	return &TenantOutput{Body: tenantView(rs, t)}, nil
}

func (s *Server) createTenant(ctx context.Context, in *struct{ Body TenantCreate }) (*TenantOutput, error) {
	t := rules.NewTenant(in.Body.ID)
	if err := in.Body.apply(t); err != nil {
		return nil, err
	}
	if _, err := s.store.CreateTenant(ctx, principalOf(ctx).Actor(), t); err != nil {
		return nil, s.fail(ctx, err)
	}
	return s.getTenant(ctx, &TenantPath{Tenant: t.ID})
}

func (s *Server) patchTenant(ctx context.Context, in *struct {
	TenantPath
	Body TenantPatch
}) (*TenantOutput, error) {
	if _, err := s.store.UpdateTenant(ctx, principalOf(ctx).Actor(), in.Tenant, in.Body.apply); err != nil {
		return nil, s.fail(ctx, err)
	}
	return s.getTenant(ctx, &in.TenantPath)
}

func (s *Server) deleteTenant(ctx context.Context, in *DeleteTenantInput) (*struct{}, error) {
	if _, err := s.store.DeleteTenant(ctx, principalOf(ctx).Actor(), in.Tenant, in.Force); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}
