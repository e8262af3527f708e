package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// Access says who may call an operation. Tenant-scoped operations (a
// {tenant} in the path) are further limited to principals that see the
// tenant: the others get 404, as if it did not exist.
type Access string

// The access levels, from the most open.
const (
	Public       Access = "public"       // no credentials: login, the OpenAPI document
	Anyone       Access = "anyone"       // any logged-in user or token
	Recordings   Access = "recordings"   // any role of the tenant; a listener only within its groups
	Reader       Access = "reader"       // admins and operators: read configuration and logs
	Writer       Access = "writer"       // admins and operators: change users and tokens
	RuleWriter   Access = "rulewriter"   // admins and operators: change rules; refused when rules_file is set
	TenantWriter Access = "tenantwriter" // operators only: change tenants; refused when rules_file is set
)

// Route is one operation of the API and who may call it.
type Route struct {
	Method, Path, OperationID string
	Access                    Access
	Write                     bool // changes state
}

// TenantScoped reports whether the route is under /tenants/{tenant}.
func (r Route) TenantScoped() bool { return strings.Contains(r.Path, "{tenant}") }

const metaAccess = "recgate.access"

// add registers an operation with its access level.
func add[I, O any](s *Server, acc Access, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metaAccess] = acc
	op.MaxBodyBytes = s.cfg.MaxBodyBytes
	op.Path = "/api/v1" + op.Path
	switch acc {
	case Public:
	default:
		op.Security = []map[string][]string{{"bearer": {}}, {"session": {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
	}
	write := op.Method != http.MethodGet && op.Method != http.MethodHead
	if strings.Contains(op.Path, "{") {
		op.Errors = append(op.Errors, http.StatusNotFound)
	}
	if strings.Contains(op.Path, "{tenant}") {
		op.Errors = append(op.Errors, http.StatusServiceUnavailable)
	}
	if acc == RuleWriter || acc == TenantWriter {
		op.Errors = append(op.Errors, http.StatusConflict) // rules_file
	}
	if write {
		op.Errors = append(op.Errors, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge)
	}
	s.routes = append(s.routes, Route{Method: op.Method, Path: op.Path, OperationID: op.OperationID, Access: acc, Write: write})
	huma.Register(s.api, op, h)
}

type principalKey struct{}

// principalOf returns the request's principal (nil on public routes).
func principalOf(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey{}).(*auth.Principal)
	return p
}

// authorize is the one place where access is checked, for every
// operation: it finds the principal (token or session), refuses a request
// without one (401), hides tenants the principal does not see (404), and
// refuses roles below the operation's access level (403).
func (s *Server) authorize(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	acc, ok := op.Metadata[metaAccess].(Access)
	if !ok {
		huma.WriteErr(s.api, ctx, http.StatusInternalServerError, "operation without an access level")
		return
	}
	if acc == Public {
		next(ctx)
		return
	}
	r, w := unwrap(ctx)
	p, status, msg := s.authenticate(r)
	if p == nil {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="recgate"`)
		}
		huma.WriteErr(s.api, ctx, status, msg)
		return
	}
	if strings.Contains(op.Path, "{tenant}") {
		tenant := ctx.Param("tenant")
		exists := false
		if p.SeesTenant(tenant) {
			var err error
			if exists, err = s.tenantExists(r.Context(), tenant); err != nil {
				s.log.WarnContext(r.Context(), "api: tenant not readable", "tenant", tenant, "err", err)
				huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "the store is not available right now; try again")
				return
			}
		}
		if !exists {
			huma.WriteErr(s.api, ctx, http.StatusNotFound, "unknown tenant "+quote(tenant))
			return
		}
	}
	if msg := denied(p, acc); msg != "" {
		huma.WriteErr(s.api, ctx, http.StatusForbidden, msg)
		return
	}
	if acc == RuleWriter || acc == TenantWriter {
		if err := rules.RulesFileManaged(s.cfg.RulesFile); err != nil {
			huma.WriteErr(s.api, ctx, http.StatusConflict, err.Error())
			return
		}
	}
	next(huma.WithValue(ctx, principalKey{}, p))
}

// denied says why p may not call an operation of level acc ("" if it may).
func denied(p *auth.Principal, acc Access) string {
	switch acc {
	case Anyone, Recordings:
		return ""
	case Reader, Writer, RuleWriter:
		if p.Role == auth.Listener {
			return "a listener may only list, play and download recordings"
		}
		return ""
	case TenantWriter:
		if p.Role != auth.Operator {
			return "only an operator may do this"
		}
		return ""
	}
	return "unknown access level"
}

func quote(s string) string { return `"` + s + `"` }
