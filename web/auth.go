package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// sessionCookie is the name of the login session's cookie.
const sessionCookie = "recgate_session"

// errWrongLogin is the one answer to a failed login: it never says which
// part was wrong.
const errWrongLogin = "wrong login or password"

func unwrap(ctx huma.Context) (*http.Request, http.ResponseWriter) { return humago.Unwrap(ctx) }

// authenticate finds the principal of r: a bearer token, else a session
// cookie. It returns nil with the status and detail to answer otherwise.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, int, string) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || !auth.LooksLikeToken(strings.TrimSpace(tok)) {
			return nil, http.StatusUnauthorized, "the Authorization header must be: Bearer <an API token from recgate token create>"
		}
		t, err := s.store.TokenByHash(ctx, auth.HashSecret(strings.TrimSpace(tok)))
		switch {
		case rules.ErrorCode(err) == rules.ENOTFOUND:
			return nil, http.StatusUnauthorized, "unknown API token"
		case err != nil:
			return nil, http.StatusServiceUnavailable, "cannot check the token right now; try again"
		case !t.Active(time.Now()):
			return nil, http.StatusUnauthorized, "this API token was revoked or has expired"
		}
		// The last-used time is kept to the minute: a write per request
		// would serialise every API call on SQLite's write lock.
		if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) >= time.Minute {
			if err := s.store.TouchToken(ctx, t.ID); err != nil {
				s.log.WarnContext(ctx, "api: token last-used time not recorded", "token", t.ID, "err", err)
			}
		}
		return auth.TokenPrincipal(t), 0, ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		u, err := s.store.SessionUser(ctx, auth.HashSecret(c.Value), s.cfg.SessionIdle)
		switch {
		case rules.ErrorCode(err) == rules.ENOTFOUND:
			return nil, http.StatusUnauthorized, "the session has ended: log in again"
		case err != nil:
			return nil, http.StatusServiceUnavailable, "cannot check the session right now; try again"
		}
		return auth.UserPrincipal(u), 0, ""
	}
	return nil, http.StatusUnauthorized, "log in (POST /api/v1/login) or send Authorization: Bearer <token>"
}

// LoginInput is a login attempt.
type LoginInput struct {
	Body struct {
		Login    string `json:"login" minLength:"1" maxLength:"64" doc:"the user's login"`
		Password string `json:"password" minLength:"1" maxLength:"256" doc:"the user's password"`
	}
}

// LoginOutput sets the session cookie.
type LoginOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
	Body      Me
}

// Me is who the caller is.
type Me struct {
	Login  string   `json:"login" doc:"the user's login, or the token's name"`
	Kind   string   `json:"kind" enum:"user,token"`
	Role   string   `json:"role" enum:"operator,admin,listener"`
	Tenant string   `json:"tenant" doc:"the tenant; empty for an operator"`
	Groups []string `json:"groups" doc:"a listener's groups; empty: all of the tenant's"`
}

func meOf(p *auth.Principal) Me {
	m := Me{Login: p.Name, Kind: "user", Role: string(p.Role), Tenant: p.Tenant, Groups: p.Groups}
	if p.TokenID != 0 {
		m.Kind = "token"
	}
	if m.Groups == nil {
		m.Groups = []string{}
	}
	return m
}

// MeOutput is GET /me.
type MeOutput struct{ Body Me }

// LogoutOutput clears the session cookie.
type LogoutOutput struct {
	SetCookie http.Cookie `header:"Set-Cookie"`
}

func (s *Server) registerAuth() {
	add(s, Public, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/login", Tags: []string{"accounts"},
		Summary:     "Log in with a login and a password",
		Description: "Sets an HttpOnly, SameSite session cookie. Repeated failures slow down per login and per address (429 with Retry-After); the error never says which part was wrong.",
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge},
	}, s.login)
	// Logout needs no valid session: an expired one still gets its cookie
	// cleared (a cross-site post is refused like any other).
	add(s, Public, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/logout", Tags: []string{"accounts"},
		Summary: "End the session and clear its cookie", DefaultStatus: http.StatusNoContent,
	}, s.logout)
	add(s, Anyone, huma.Operation{
		OperationID: "get-me", Method: http.MethodGet, Path: "/me", Tags: []string{"accounts"},
		Summary: "Who the caller is: login or token, role, tenant, groups",
	}, func(ctx context.Context, _ *struct{}) (*MeOutput, error) {
		return &MeOutput{Body: meOf(principalOf(ctx))}, nil
	})
}

func (s *Server) login(ctx context.Context, in *LoginInput) (*LoginOutput, error) {
	c := clientOf(ctx)
	login := strings.ToLower(strings.TrimSpace(in.Body.Login))
	keys := []string{"login:" + login, "addr:" + c.addr}
	if wait := s.throttle.Wait(keys...); wait > 0 {
		secs := int(wait.Round(time.Second) / time.Second)
		return nil, &retryError{&huma.ErrorModel{Status: http.StatusTooManyRequests, Title: http.StatusText(http.StatusTooManyRequests),
			Detail: "too many failed logins: try again in a moment"}, max(secs, 1)}
	}
	u, hash, err := s.store.UserCredentials(ctx, login)
	switch {
	case rules.ErrorCode(err) == rules.ENOTFOUND:
		auth.SpendVerifyTime(in.Body.Password)
		s.throttle.Fail(keys...)
		return nil, huma.Error401Unauthorized(errWrongLogin)
	case err != nil:
		return nil, s.fail(ctx, err)
	}
	ok, err := auth.VerifyPassword(hash, in.Body.Password)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if !ok || u.Disabled {
		s.throttle.Fail(keys...)
		return nil, huma.Error401Unauthorized(errWrongLogin)
	}
	s.throttle.Succeed(keys[0])
	secret, hashed, err := auth.NewSecret("")
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	expires := time.Now().Add(s.cfg.SessionMaxAge)
	if err := s.store.CreateSession(ctx, hashed, u.ID, c.addr, expires); err != nil {
		return nil, s.fail(ctx, err)
	}
	s.log.InfoContext(ctx, "api: login", "login", u.Login, "address", c.addr)
	return &LoginOutput{SetCookie: s.cookie(c, secret, expires), Body: meOf(auth.UserPrincipal(u))}, nil
}

// LogoutInput carries the session cookie to end.
type LogoutInput struct {
	Session string `cookie:"recgate_session" doc:"the session cookie (set by login)"`
}

func (s *Server) logout(ctx context.Context, in *LogoutInput) (*LogoutOutput, error) {
	if in.Session != "" {
		if err := s.store.DeleteSession(ctx, auth.HashSecret(in.Session)); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	return &LogoutOutput{SetCookie: s.cookie(clientOf(ctx), "", time.Unix(0, 0))}, nil
}

// cookie is the session cookie: HttpOnly, SameSite=Lax, Secure whenever
// the client reached us over TLS (directly or through a trusted proxy).
func (s *Server) cookie(c client, value string, expires time.Time) http.Cookie {
	ck := http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, Expires: expires}
	if value == "" {
		ck.MaxAge = -1
	}
	return ck
}

// retryError is a 429 with a Retry-After header.
type retryError struct {
	*huma.ErrorModel
	seconds int
}

// GetHeaders implements huma.HeadersError.
func (e *retryError) GetHeaders() http.Header {
	return http.Header{"Retry-After": []string{strconv.Itoa(e.seconds)}}
}
