package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// register adds every operation of the API. Each one names its access
// level (routes.go), which authorize enforces before the handler runs.
func (s *Server) register() {
	s.registerAuth()
	s.registerTenants()
	s.registerStations()
	s.registerGroups()
	s.registerRecordings()
	s.registerLogs()
	s.registerAccounts()
	s.registerGDPR() // gdpr.go
}

// Tenant is one of the provider's customers, as far as the API shows it.
type Tenant struct {
	ID string `json:"id"`
}

// TenantsOutput lists tenants.
type TenantsOutput struct{ Body Page[Tenant] }

// TenantOutput is one tenant.
type TenantOutput struct{ Body Tenant }

func (s *Server) registerTenants() {
	tags := []string{"tenants"}
	add(s, Anyone, huma.Operation{OperationID: "list-tenants", Method: http.MethodGet, Path: "/tenants",
		Tags: tags, Summary: "The tenants the caller sees: all for an operator, its own for the others"}, s.listTenants)
	add(s, Anyone, huma.Operation{OperationID: "get-tenant", Method: http.MethodGet, Path: "/tenants/{tenant}",
		Tags: tags, Summary: "Get a tenant"}, func(ctx context.Context, in *TenantPath) (*TenantOutput, error) {
		return &TenantOutput{Body: Tenant{ID: in.Tenant}}, nil
	})
}

func (s *Server) listTenants(ctx context.Context, _ *struct{}) (*TenantsOutput, error) {
	p := principalOf(ctx)
	out := &TenantsOutput{Body: Page[Tenant]{Items: []Tenant{}}}
	for _, id := range []string{defaultTenant} {
		if p.SeesTenant(id) {
			out.Body.Items = append(out.Body.Items, Tenant{ID: id})
		}
	}
	return out, nil
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
