package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// User is a person who logs in (never its password).
type User struct {
	Login             string    `json:"login"`
	Tenant            string    `json:"tenant"`
	Role              string    `json:"role" enum:"operator,admin,listener"`
	Groups            []string  `json:"groups"`
	Disabled          bool      `json:"disabled"`
	CreatedAt         time.Time `json:"created_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
}

func userView(u *auth.User) User {
	g := u.Groups
	if g == nil {
		g = []string{}
	}
	return User{Login: u.Login, Tenant: u.Tenant, Role: string(u.Role), Groups: g, Disabled: u.Disabled,
		CreatedAt: u.CreatedAt, PasswordChangedAt: u.PasswordChangedAt}
}

// UserCreate is a new user of the tenant.
type UserCreate struct {
	Login    string   `json:"login" minLength:"1" maxLength:"64" pattern:"^[a-z0-9][a-z0-9._@-]*$"`
	Role     string   `json:"role" enum:"admin,listener"`
	Groups   []string `json:"groups,omitempty" maxItems:"100" doc:"a listener's groups; empty: all"`
	Password string   `json:"password" minLength:"12" maxLength:"256"`
}

// UserPatch changes a user; absent fields stay.
type UserPatch struct {
	Role     *string   `json:"role,omitempty" enum:"admin,listener"`
	Groups   *[]string `json:"groups,omitempty" maxItems:"100"`
	Disabled *bool     `json:"disabled,omitempty" doc:"a disabled user cannot log in; its sessions end"`
}

// PasswordBody is a new password.
type PasswordBody struct {
	Password string `json:"password" minLength:"12" maxLength:"256"`
}

// Token is an API token (never its secret, except once at creation).
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Tenant     string     `json:"tenant"`
	Role       string     `json:"role" enum:"operator,admin,listener"`
	Groups     []string   `json:"groups"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	ExpiresAt  *time.Time `json:"expires_at" nullable:"true"`
	LastUsedAt *time.Time `json:"last_used_at" nullable:"true"`
	RevokedAt  *time.Time `json:"revoked_at" nullable:"true"`
}

func tokenView(t *auth.Token) Token {
	g := t.Groups
	if g == nil {
		g = []string{}
	}
	return Token{ID: t.ID, Name: t.Name, Tenant: t.Tenant, Role: string(t.Role), Groups: g, CreatedAt: t.CreatedAt,
		CreatedBy: t.CreatedBy, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// TokenCreate is a new token of the tenant.
type TokenCreate struct {
	Name          string   `json:"name" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9._@-]*$"`
	Role          string   `json:"role" enum:"admin,listener"`
	Groups        []string `json:"groups,omitempty" maxItems:"100"`
	ExpiresInDays int      `json:"expires_in_days,omitempty" minimum:"0" maximum:"3650" doc:"0: never expires"`
}

// CreatedToken is a new token with its secret: shown this once.
type CreatedToken struct {
	Token
	Secret string `json:"token" doc:"send as Authorization: Bearer <token>; it is not stored and cannot be shown again"`
}

// UserPath names a user of a tenant in the URL.
type UserPath struct {
	TenantPath
	Login string `path:"login" maxLength:"64"`
}

// TokenPath names a token of a tenant in the URL.
type TokenPath struct {
	TenantPath
	ID int64 `path:"id" minimum:"1"`
}

// UsersOutput lists users.
type UsersOutput struct{ Body Page[User] }

// UserOutput is one user.
type UserOutput struct{ Body User }

// TokensOutput lists tokens.
type TokensOutput struct{ Body Page[Token] }

// CreatedTokenOutput is a new token.
type CreatedTokenOutput struct{ Body CreatedToken }

func (s *Server) registerAccounts() {
	tags := []string{"accounts"}
	add(s, Reader, huma.Operation{OperationID: "list-users", Method: http.MethodGet, Path: "/tenants/{tenant}/users",
		Tags: tags, Summary: "List the tenant's users"}, s.listUsers)
	add(s, Reader, huma.Operation{OperationID: "get-user", Method: http.MethodGet, Path: "/tenants/{tenant}/users/{login}",
		Tags: tags, Summary: "Get a user"}, s.getUser)
	add(s, Writer, huma.Operation{OperationID: "create-user", Method: http.MethodPost, Path: "/tenants/{tenant}/users",
		Tags: tags, Summary: "Add a user to the tenant (admin or listener)", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict}}, s.createUser)
	add(s, Writer, huma.Operation{OperationID: "patch-user", Method: http.MethodPatch, Path: "/tenants/{tenant}/users/{login}",
		Tags: tags, Summary: "Change a user's role, groups or whether it may log in"}, s.patchUser)
	add(s, Writer, huma.Operation{OperationID: "set-user-password", Method: http.MethodPut, Path: "/tenants/{tenant}/users/{login}/password",
		Tags: tags, Summary: "Set a user's password (at least 12 characters); its sessions end", DefaultStatus: http.StatusNoContent}, s.setPassword)
	add(s, Writer, huma.Operation{OperationID: "delete-user", Method: http.MethodDelete, Path: "/tenants/{tenant}/users/{login}",
		Tags: tags, Summary: "Remove a user; its sessions end", DefaultStatus: http.StatusNoContent}, s.deleteUser)
	add(s, Reader, huma.Operation{OperationID: "list-tokens", Method: http.MethodGet, Path: "/tenants/{tenant}/tokens",
		Tags: tags, Summary: "List the tenant's API tokens (never their secrets)"}, s.listTokens)
	add(s, Writer, huma.Operation{OperationID: "create-token", Method: http.MethodPost, Path: "/tenants/{tenant}/tokens",
		Tags: tags, Summary: "Create an API token; its secret is in the answer, once", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict}}, s.createToken)
	add(s, Writer, huma.Operation{OperationID: "revoke-token", Method: http.MethodDelete, Path: "/tenants/{tenant}/tokens/{id}",
		Tags: tags, Summary: "Revoke an API token for good", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusConflict}}, s.revokeToken)
}

// checkGroups refuses groups the tenant does not have, naming the field.
func (s *Server) checkGroups(ctx context.Context, tenant, loc string, groups []string) error {
	if len(groups) == 0 {
		return nil
	}
	rs, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if _, ok := tenantGroups(rs, tenant)[g]; !ok {
			return fieldError(loc, "unknown group %q (%s)", g, groupList(rs, tenant))
		}
	}
	return nil
}

// tenantUser returns the tenant's user login, 404 when it is another
// tenant's (or an operator).
func (s *Server) tenantUser(ctx context.Context, tenant, login string) (*auth.User, error) {
	u, err := s.store.User(ctx, login)
	if rules.ErrorCode(err) == rules.ENOTFOUND || err == nil && u.Tenant != tenant {
		return nil, huma.Error404NotFound("unknown user " + quote(login) + " in tenant " + tenant)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return u, nil
}

func (s *Server) listUsers(ctx context.Context, in *TenantPath) (*UsersOutput, error) {
	users, err := s.store.Users(ctx, in.Tenant)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &UsersOutput{Body: Page[User]{Items: make([]User, 0, len(users))}}
	for i := range users {
		out.Body.Items = append(out.Body.Items, userView(&users[i]))
	}
	return out, nil
}

func (s *Server) getUser(ctx context.Context, in *UserPath) (*UserOutput, error) {
	u, err := s.tenantUser(ctx, in.Tenant, in.Login)
	if err != nil {
		return nil, err
	}
	return &UserOutput{Body: userView(u)}, nil
}

func (s *Server) createUser(ctx context.Context, in *struct {
	TenantPath
	Body UserCreate
}) (*UserOutput, error) {
	b := in.Body
	if err := s.checkGroups(ctx, in.Tenant, "body.groups", b.Groups); err != nil {
		return nil, err
	}
	if b.Role != string(auth.Listener) && len(b.Groups) > 0 {
		return nil, fieldError("body.groups", "only a listener is limited to groups")
	}
	hash, err := auth.HashPassword(b.Password)
	if err != nil {
		return nil, fieldError("body.password", "%v", err)
	}
	u := &auth.User{Login: b.Login, Tenant: in.Tenant, Role: auth.Role(b.Role), Groups: b.Groups}
	if err := s.store.CreateUser(ctx, principalOf(ctx).Actor(), u, hash); err != nil {
		if rules.ErrorCode(err) == rules.ECONFLICT {
			// Logins are unique across tenants: say only that it is taken.
			return nil, huma.Error409Conflict("login " + quote(b.Login) + " is already in use")
		}
		return nil, s.fail(ctx, err)
	}
	u, err = s.store.User(ctx, u.Login)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &UserOutput{Body: userView(u)}, nil
}

func (s *Server) patchUser(ctx context.Context, in *struct {
	UserPath
	Body UserPatch
}) (*UserOutput, error) {
	if _, err := s.tenantUser(ctx, in.Tenant, in.Login); err != nil {
		return nil, err
	}
	if in.Body.Groups != nil {
		if err := s.checkGroups(ctx, in.Tenant, "body.groups", *in.Body.Groups); err != nil {
			return nil, err
		}
	}
	u, _, err := s.store.UpdateUser(ctx, principalOf(ctx).Actor(), in.Login, func(u *auth.User) error {
		if u.Tenant != in.Tenant {
			return huma.Error404NotFound("unknown user " + quote(in.Login) + " in tenant " + in.Tenant)
		}
		if in.Body.Role != nil {
			u.Role = auth.Role(*in.Body.Role)
			if u.Role != auth.Listener {
				u.Groups = nil
			}
		}
		if in.Body.Groups != nil {
			u.Groups = *in.Body.Groups
		}
		if in.Body.Disabled != nil {
			u.Disabled = *in.Body.Disabled
		}
		if u.Role != auth.Listener && len(u.Groups) > 0 {
			return fieldError("body.groups", "only a listener is limited to groups")
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &UserOutput{Body: userView(u)}, nil
}

func (s *Server) setPassword(ctx context.Context, in *struct {
	UserPath
	Body PasswordBody
}) (*struct{}, error) {
	if _, err := s.tenantUser(ctx, in.Tenant, in.Login); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(in.Body.Password)
	if err != nil {
		return nil, fieldError("body.password", "%v", err)
	}
	if err := s.store.SetUserPassword(ctx, principalOf(ctx).Actor(), in.Login, hash); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func (s *Server) deleteUser(ctx context.Context, in *UserPath) (*struct{}, error) {
	if _, err := s.tenantUser(ctx, in.Tenant, in.Login); err != nil {
		return nil, err
	}
	if err := s.store.DeleteUser(ctx, principalOf(ctx).Actor(), in.Login); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func (s *Server) listTokens(ctx context.Context, in *TenantPath) (*TokensOutput, error) {
	ts, err := s.store.Tokens(ctx, in.Tenant)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &TokensOutput{Body: Page[Token]{Items: make([]Token, 0, len(ts))}}
	for i := range ts {
		out.Body.Items = append(out.Body.Items, tokenView(&ts[i]))
	}
	return out, nil
}

func (s *Server) createToken(ctx context.Context, in *struct {
	TenantPath
	Body TokenCreate
}) (*CreatedTokenOutput, error) {
	b := in.Body
	if err := s.checkGroups(ctx, in.Tenant, "body.groups", b.Groups); err != nil {
		return nil, err
	}
	if b.Role != string(auth.Listener) && len(b.Groups) > 0 {
		return nil, fieldError("body.groups", "only a listener is limited to groups")
	}
	if err := s.tokenNameFree(ctx, in.Tenant, b.Name); err != nil {
		return nil, err
	}
	t := &auth.Token{Name: b.Name, Tenant: in.Tenant, Role: auth.Role(b.Role), Groups: b.Groups}
	if b.ExpiresInDays > 0 {
		at := time.Now().UTC().AddDate(0, 0, b.ExpiresInDays)
		t.ExpiresAt = &at
	}
	secret, hash, err := auth.NewSecret(auth.TokenPrefix)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := s.store.CreateToken(ctx, principalOf(ctx).Actor(), t, hash); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &CreatedTokenOutput{Body: CreatedToken{Token: tokenView(t), Secret: secret}}, nil
}

// tokenNameFree refuses a token name the tenant has already used: the
// audit and access logs name a token's actions "token:NAME", so two tokens
// of one name could not be told apart there (a revoked one included).
func (s *Server) tokenNameFree(ctx context.Context, tenant, name string) error {
	ts, err := s.store.Tokens(ctx, tenant)
	if err != nil {
		return s.fail(ctx, err)
	}
	for _, t := range ts {
		if t.Tenant == tenant && t.Name == name {
			return huma.Error409Conflict(fmt.Sprintf("tenant %s already has a token named %q (token %d): names tell tokens apart in the audit and access logs, choose another",
				tenant, name, t.ID))
		}
	}
	return nil
}

func (s *Server) revokeToken(ctx context.Context, in *TokenPath) (*struct{}, error) {
	t, err := s.store.Token(ctx, in.ID)
	if rules.ErrorCode(err) == rules.ENOTFOUND || err == nil && t.Tenant != in.Tenant {
		return nil, huma.Error404NotFound("unknown token " + strings.TrimSpace(quote(itoa64(in.ID))) + " in tenant " + in.Tenant)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := s.store.RevokeToken(ctx, principalOf(ctx).Actor(), in.ID); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}
