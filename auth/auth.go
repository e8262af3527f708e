// Package auth owns recgate's accounts domain: roles, users, API tokens and
// sessions as values, who may see what (Principal), password hashing
// (argon2id), the secrets behind session cookies and API tokens (only
// their hashes are stored), and login throttling.
//
// It does no I/O: the store persists users, sessions and tokens; the web
// layer turns requests into a Principal.
package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is what a user or token may do (SPEC 9).
type Role string

// The roles.
const (
	Operator Role = "operator" // the provider: every tenant, everything
	Admin    Role = "admin"    // one tenant: its rules, users, tokens, recordings, logs
	Listener Role = "listener" // one tenant, optionally some groups: list, play and download recordings
)

var allRoles = []Role{Operator, Admin, Listener}

// ParseRole returns the role named s, or an error listing the valid ones.
func ParseRole(s string) (Role, error) {
	for _, r := range allRoles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("invalid role %q (valid: operator, admin, listener)", s)
}

// User is a person who logs in to the API or the panel.
type User struct {
	ID                int64     `json:"id"`
	Login             string    `json:"login"`
	Tenant            string    `json:"tenant"` // empty for operators
	Role              Role      `json:"role"`
	Groups            []string  `json:"groups"` // a listener's groups; empty: every group of the tenant
	Disabled          bool      `json:"disabled"`
	CreatedAt         time.Time `json:"created_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
}

// Token is an API token of a program. Its secret is shown once, at
// creation; only its hash is kept.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Tenant     string     `json:"tenant"` // empty for operator tokens
	Role       Role       `json:"role"`
	Groups     []string   `json:"groups"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Active reports whether the token may be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// MaxLoginLength bounds logins and token names.
const MaxLoginLength = 64

// ValidateLogin checks a login: 1 to 64 characters of lower-case letters,
// digits and . _ @ -, starting with a letter or digit.
func ValidateLogin(login string) error {
	if err := validateName(login, true); err != nil {
		return fmt.Errorf("invalid login %q: %w", login, err)
	}
	return nil
}

// ValidateTokenName checks a token's name with the rules of logins, upper
// case allowed.
func ValidateTokenName(name string) error {
	if err := validateName(name, false); err != nil {
		return fmt.Errorf("invalid token name %q: %w", name, err)
	}
	return nil
}

func validateName(s string, lower bool) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if len(s) > MaxLoginLength {
		return fmt.Errorf("longer than %d characters", MaxLoginLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || !lower && c >= 'A' && c <= 'Z' ||
			i > 0 && (c == '.' || c == '_' || c == '@' || c == '-')
		if !ok {
			return fmt.Errorf("character %q not allowed at %d (use lower-case letters, digits and . _ @ -, starting with a letter or digit)", c, i+1)
		}
	}
	return nil
}

// validateScope checks that role, tenant and groups fit together: an
// operator has no tenant and no groups, an admin a tenant and no groups, a
// listener a tenant and any groups. validTenant checks a tenant id.
func validateScope(role Role, tenant string, groups []string, validTenant func(string) error) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	switch {
	case role == Operator && tenant != "":
		return fmt.Errorf("an operator belongs to no tenant (got tenant %q)", tenant)
	case role != Operator && tenant == "":
		article := "a"
		if role == Admin {
			article = "an"
		}
		return fmt.Errorf("%s %s needs a tenant", article, role)
	case role != Listener && len(groups) > 0:
		return fmt.Errorf("only a listener is limited to groups (role is %s)", role)
	}
	if tenant != "" && validTenant != nil {
		if err := validTenant(tenant); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if g == "" || strings.ContainsAny(g, ", \t\n") {
			return fmt.Errorf("invalid group name %q", g)
		}
	}
	return nil
}

// Validate checks a user's login, role, tenant and groups. validTenant
// checks a tenant id (nil: any non-empty id).
func (u *User) Validate(validTenant func(string) error) error {
	if err := ValidateLogin(u.Login); err != nil {
		return err
	}
	if err := validateScope(u.Role, u.Tenant, u.Groups, validTenant); err != nil {
		return fmt.Errorf("user %s: %w", u.Login, err)
	}
	return nil
}

// Validate checks a token's name, role, tenant and groups.
func (t *Token) Validate(validTenant func(string) error) error {
	if err := ValidateTokenName(t.Name); err != nil {
		return err
	}
	if err := validateScope(t.Role, t.Tenant, t.Groups, validTenant); err != nil {
		return fmt.Errorf("token %s: %w", t.Name, err)
	}
	return nil
}

// Principal is who makes a request: a logged-in user or a token, with what
// it may see.
type Principal struct {
	UserID  int64    // set for a user
	TokenID int64    // set for a token
	Name    string   // the user's login or the token's name
	Tenant  string   // empty for operators
	Role    Role     // its role
	Groups  []string // a listener's groups; empty: all of the tenant's
}

// Actor is the name written in the audit and access logs: the login for a
// user, "token:NAME" for a token.
func (p *Principal) Actor() string {
	if p.TokenID != 0 {
		return fmt.Sprintf("token:%s", p.Name)
	}
	return p.Name
}

// SeesTenant reports whether p may see tenant's objects at all.
func (p *Principal) SeesTenant(tenant string) bool {
	return p.Role == Operator || p.Tenant == tenant
}

// SeesGroup reports whether p may see the recordings of stations in group
// (of a tenant it sees). A listener limited to groups sees only those: a
// station in no group is outside every such listener's scope.
func (p *Principal) SeesGroup(group string) bool {
	if p.Role != Listener || len(p.Groups) == 0 {
		return true
	}
	return group != "" && slices.Contains(p.Groups, group)
}

// Writes reports whether p may change rules, users and tokens of the
// tenants it sees.
func (p *Principal) Writes() bool { return p.Role == Operator || p.Role == Admin }

// UserPrincipal is the principal of a logged-in user.
func UserPrincipal(u *User) *Principal {
	return &Principal{UserID: u.ID, Name: u.Login, Tenant: u.Tenant, Role: u.Role, Groups: u.Groups}
}

// TokenPrincipal is the principal of a program using token t.
func TokenPrincipal(t *Token) *Principal {
	return &Principal{TokenID: t.ID, Name: t.Name, Tenant: t.Tenant, Role: t.Role, Groups: t.Groups}
}
