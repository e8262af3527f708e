package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/store"
)

// The panel's audit log, access log, users and tokens pages.

type logPage[T any] struct {
	Entries []T
	NextURL string
}

func (s *Server) panelAudit(pr *pageRequest) error {
	after, _ := strconv.ParseInt(pr.r.URL.Query().Get("after"), 10, 64)
	out, err := s.listAudit(pr.ctx(), &AuditInput{TenantPath: TenantPath{pr.tenant}, After: max(after, 0), Limit: 100})
	if err != nil {
		return err
	}
	page := logPage[store.AuditEntry]{Entries: out.Body.Items}
	if out.Body.NextCursor != "" {
		page.NextURL = pr.base() + "/audit?after=" + url.QueryEscape(out.Body.NextCursor)
	}
	s.render(pr, http.StatusOK, "audit", page)
	return nil
}

func (s *Server) panelAccess(pr *pageRequest) error {
	cursor := pr.r.URL.Query().Get("cursor")
	if _, err := strconv.ParseUint(cursor, 10, 63); cursor != "" && err != nil {
		return &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_value", args: []any{"cursor"}}
	}
	out, err := s.listAccessLog(pr.ctx(), &AccessLogInput{TenantPath: TenantPath{pr.tenant}, Cursor: cursor, Limit: 100})
	if err != nil {
		return err
	}
	page := logPage[store.AccessEntry]{Entries: out.Body.Items}
	if out.Body.NextCursor != "" {
		page.NextURL = pr.base() + "/access?cursor=" + url.QueryEscape(out.Body.NextCursor)
	}
	s.render(pr, http.StatusOK, "access", page)
	return nil
}

type usersPage struct {
	Users    []User
	Tokens   []Token
	Groups   []string
	Done     string // catalog key of what was just done
	Error    string // catalog key
	Detail   string
	NewToken *CreatedToken // shown once, right after creation
}

func (s *Server) panelUsers(pr *pageRequest) error {
	page := usersPage{}
	switch d := pr.r.URL.Query().Get("done"); d {
	case "created", "disabled", "enabled", "deleted", "password", "revoked":
		page.Done = "users.done." + d
	}
	return s.renderUsers(pr, http.StatusOK, page)
}

func (s *Server) renderUsers(pr *pageRequest, status int, page usersPage) error {
	users, err := s.listUsers(pr.ctx(), &TenantPath{pr.tenant})
	if err != nil {
		return err
	}
	tokens, err := s.listTokens(pr.ctx(), &TenantPath{pr.tenant})
	if err != nil {
		return err
	}
	page.Users, page.Tokens = users.Body.Items, tokens.Body.Items
	if page.Groups, err = s.groupNames(pr); err != nil {
		return err
	}
	s.render(pr, status, "users", page)
	return nil
}

// usersRefusal shows the users page again with the API's refusal of a
// form (a 4xx), or returns err for anything else.
func (s *Server) usersRefusal(pr *pageRequest, err error) error {
	var se huma.StatusError
	if errors.As(err, &se) && se.GetStatus() >= 400 && se.GetStatus() < 500 {
		detail := se.Error()
		if m, ok := se.(*huma.ErrorModel); ok {
			detail = m.Detail
		}
		return s.renderUsers(pr, se.GetStatus(), usersPage{Error: "users.refused", Detail: detail})
	}
	return err
}

func (pr *pageRequest) groupsField() []string {
	var out []string
	for _, g := range pr.r.PostForm["groups"] {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

func (s *Server) panelUserCreate(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	role, err := pr.choice("role", "admin", "listener")
	if err != nil {
		return err
	}
	in := &struct {
		TenantPath
		Body UserCreate
	}{TenantPath: TenantPath{pr.tenant}}
	in.Body = UserCreate{Login: strings.TrimSpace(pr.r.PostForm.Get("login")), Role: role, Groups: pr.groupsField(),
		Password: pr.r.PostForm.Get("password")}
	switch {
	case !checkTag[UserCreate]("Login", in.Body.Login):
		return s.renderUsers(pr, http.StatusUnprocessableEntity, usersPage{Error: "users.bad_login"})
	case !checkTag[UserCreate]("Password", in.Body.Password):
		return s.renderUsers(pr, http.StatusUnprocessableEntity, usersPage{Error: "users.bad_password"})
	}
	if _, err := s.createUser(pr.ctx(), in); err != nil {
		return s.usersRefusal(pr, err)
	}
	return pr.redirect(pr.base() + "/users?done=created")
}

// panelUserChange is one of a user's buttons: disable, enable, delete, or
// set a new password.
func (s *Server) panelUserChange(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	action, err := pr.choice("action", "disable", "enable", "delete", "password")
	if err != nil {
		return err
	}
	path := UserPath{TenantPath{pr.tenant}, pr.r.PathValue("login")}
	done := action + "d"
	switch action {
	case "disable", "enable":
		in := &struct {
			UserPath
			Body UserPatch
		}{UserPath: path}
		off := action == "disable"
		in.Body.Disabled = &off
		_, err = s.patchUser(pr.ctx(), in)
	case "delete":
		done = "deleted"
		err = func() error { _, err := s.deleteUser(pr.ctx(), &path); return err }()
	case "password":
		done = "password"
		pw := pr.r.PostForm.Get("password")
		if !checkTag[PasswordBody]("Password", pw) {
			return s.renderUsers(pr, http.StatusUnprocessableEntity, usersPage{Error: "users.bad_password"})
		}
		in := &struct {
			UserPath
			Body PasswordBody
		}{UserPath: path, Body: PasswordBody{Password: pw}}
		_, err = s.setPassword(pr.ctx(), in)
	}
	if err != nil {
		return s.usersRefusal(pr, err)
	}
	return pr.redirect(pr.base() + "/users?done=" + done)
}

func (s *Server) panelTokenCreate(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	role, err := pr.choice("role", "admin", "listener")
	if err != nil {
		return err
	}
	in := &struct {
		TenantPath
		Body TokenCreate
	}{TenantPath: TenantPath{pr.tenant}}
	in.Body = TokenCreate{Name: strings.TrimSpace(pr.r.PostForm.Get("name")), Role: role, Groups: pr.groupsField()}
	if v := strings.TrimSpace(pr.r.PostForm.Get("expires_in_days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3650 {
			return s.renderUsers(pr, http.StatusUnprocessableEntity, usersPage{Error: "users.bad_expiry"})
		}
		in.Body.ExpiresInDays = n
	}
	if !checkTag[TokenCreate]("Name", in.Body.Name) {
		return s.renderUsers(pr, http.StatusUnprocessableEntity, usersPage{Error: "users.bad_token_name"})
	}
	out, err := s.createToken(pr.ctx(), in)
	if err != nil {
		return s.usersRefusal(pr, err)
	}
	// The secret is shown on this answer only (no-store): never in a URL.
	return s.renderUsers(pr, http.StatusCreated, usersPage{Done: "users.done.token", NewToken: &out.Body})
}

func (s *Server) panelTokenRevoke(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(pr.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &panelErr{status: http.StatusNotFound, key: "error.not_found"}
	}
	if _, err := s.revokeToken(pr.ctx(), &TokenPath{TenantPath{pr.tenant}, id}); err != nil {
		return s.usersRefusal(pr, err)
	}
	return pr.redirect(pr.base() + "/users?done=revoked")
}

// RoleName is a role in the language.
func (v *view) RoleName(r string) string { return v.pr.lang.keyOr("role."+r, r) }

// IsListener reports whether the principal is a listener.
func (v *view) IsListener() bool { return v.pr.p != nil && v.pr.p.Role == auth.Listener }
