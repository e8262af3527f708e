package web

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// The panel's sign-in, language, phones and groups pages.

func (s *Server) panelHome(pr *pageRequest) error {
	switch {
	case pr.p == nil:
		return pr.redirect("/login")
	case pr.p.Role == auth.Operator:
		return pr.redirect("/tenants")
	}
	return pr.redirect("/t/" + url.PathEscape(pr.p.Tenant) + "/")
}

func (s *Server) panelTenantHome(pr *pageRequest) error {
	if pr.p.Role == auth.Listener {
		return pr.redirect(pr.base() + "/recordings")
	}
	return pr.redirect(pr.base() + "/phones")
}

func (s *Server) panelTenants(pr *pageRequest) error {
	if pr.p.Role != auth.Operator {
		return pr.redirect("/t/" + url.PathEscape(pr.p.Tenant) + "/")
	}
	out, err := s.listTenants(pr.ctx(), nil)
	if err != nil {
		return err
	}
	s.render(pr, http.StatusOK, "tenants", out.Body.Items)
	return nil
}

type loginPage struct {
	Login, Next string
	Error       string // a catalog key
}

func (s *Server) panelLoginForm(pr *pageRequest) error {
	s.render(pr, http.StatusOK, "login", loginPage{Next: localPath(pr.r.URL.Query().Get("next"), "/")})
	return nil
}

// panelLogin is the API's login with a form: the same throttling, the
// same session in the store, the same cookie.
func (s *Server) panelLogin(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	page := loginPage{Login: pr.r.PostForm.Get("login"), Next: localPath(pr.r.PostForm.Get("next"), "/")}
	in := &LoginInput{}
	in.Body.Login, in.Body.Password = page.Login, pr.r.PostForm.Get("password")
	if in.Body.Login == "" || in.Body.Password == "" || len(in.Body.Login) > 64 || len(in.Body.Password) > 256 {
		page.Error = "login.wrong"
		s.render(pr, http.StatusUnauthorized, "login", page)
		return nil
	}
	out, err := s.login(pr.ctx(), in)
	if err != nil {
		var se huma.StatusError
		if !errors.As(err, &se) {
			return err
		}
		switch se.GetStatus() {
		case http.StatusUnauthorized:
			page.Error = "login.wrong"
		case http.StatusTooManyRequests:
			page.Error = "login.throttled"
			if he, ok := se.(huma.HeadersError); ok {
				pr.w.Header().Set("Retry-After", he.GetHeaders().Get("Retry-After"))
			}
		default:
			return err
		}
		s.render(pr, se.GetStatus(), "login", page)
		return nil
	}
	http.SetCookie(pr.w, &out.SetCookie)
	return pr.redirect(page.Next)
}

func (s *Server) panelLogout(pr *pageRequest) error {
	in := &LogoutInput{}
	if c, err := pr.r.Cookie(sessionCookie); err == nil {
		in.Session = c.Value
	}
	out, err := s.logout(pr.ctx(), in)
	if err != nil {
		return err
	}
	http.SetCookie(pr.w, &out.SetCookie)
	return pr.redirect("/login")
}

// panelLanguage remembers the language chosen (a year, in a cookie) and
// goes back to the page.
func (s *Server) panelLanguage(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	lang, err := pr.choice("lang", "en", "pl")
	if err != nil {
		return err
	}
	http.SetCookie(pr.w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: clientOf(pr.ctx()).secure})
	return pr.redirect(localPath(pr.r.PostForm.Get("next"), "/"))
}

// panelDirections are the directions the panel edits: the three of the
// customer panel (internal calls keep what the group says).
var panelDirections = []string{"outbound", "inbound_direct", "inbound_queue"}

// DirectionRow is one direction of a phone: its own setting and what is
// in force.
type DirectionRow struct {
	Direction string
	Own       string // inherit, off, auto, ondemand
	Effective Effective
}

func directionRows(own DirectionRules, eff EffectiveRules) []DirectionRow {
	return []DirectionRow{
		{"outbound", own.Outbound, eff.Outbound},
		{"inbound_direct", own.InboundDirect, eff.InboundDirect},
		{"inbound_queue", own.InboundQueue, eff.InboundQueue},
	}
}

type phonesPage struct {
	Phones     []phoneRow
	Group      string
	Groups     []string
	NextCursor string
}

type phoneRow struct {
	Station
	Rows []DirectionRow
}

func (s *Server) panelPhones(pr *pageRequest) error {
	q := pr.r.URL.Query()
	in := &ListStationsInput{TenantPath: TenantPath{pr.tenant}, Group: q.Get("group"), Cursor: q.Get("cursor"), Limit: 100}
	out, err := s.listStations(pr.ctx(), in)
	if err != nil {
		return err
	}
	page := phonesPage{Group: in.Group, NextCursor: out.Body.NextCursor}
	for _, st := range out.Body.Items {
		page.Phones = append(page.Phones, phoneRow{Station: st, Rows: directionRows(st.Rules, st.Effective)})
	}
	if page.Groups, err = s.groupNames(pr); err != nil {
		return err
	}
	s.render(pr, http.StatusOK, "phones", page)
	return nil
}

func (s *Server) groupNames(pr *pageRequest) ([]string, error) {
	out, err := s.listGroups(pr.ctx(), &TenantPath{pr.tenant})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range out.Body.Items {
		if pr.p.SeesGroup(g.Name) {
			names = append(names, g.Name)
		}
	}
	return names, nil
}

type phonePage struct {
	Station
	ETag   string
	Rows   []DirectionRow
	Saved  bool
	Error  string // a catalog key
	Detail string
}

func (s *Server) panelPhone(pr *pageRequest) error {
	out, err := s.getStation(pr.ctx(), &StationPath{TenantPath{pr.tenant}, pr.r.PathValue("id")})
	if err != nil {
		return err
	}
	s.render(pr, http.StatusOK, "phone", phonePage{Station: out.Body, ETag: out.ETag,
		Rows: directionRows(out.Body.Rules, out.Body.Effective), Saved: pr.r.URL.Query().Get("saved") == "1"})
	return nil
}

var (
	modeChoices     = []string{"inherit", "off", "auto", "ondemand"}
	announceChoices = []string{"inherit", "yes", "no"}
)

// panelPhoneSave is Phone settings → Call recording → Submit: the API's
// PATCH of the station, with the ETag the form was made from, so a
// change made meanwhile by someone else is not overwritten.
func (s *Server) panelPhoneSave(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	id := pr.r.PathValue("id")
	patch := &RulesPatch{}
	for _, d := range []struct {
		name string
		dst  **string
	}{{"outbound", &patch.Outbound}, {"inbound_direct", &patch.InboundDirect}, {"inbound_queue", &patch.InboundQueue}} {
		v, err := pr.choice(d.name, modeChoices...)
		if err != nil {
			return err
		}
		*d.dst = &v
	}
	announce, err := pr.choice("announce", announceChoices...)
	if err != nil {
		return err
	}
	in := &PatchStationInput{StationPath: StationPath{TenantPath{pr.tenant}, id}, IfMatch: pr.r.PostForm.Get("etag"),
		Body: StationPatch{Announce: &announce, Rules: patch}}
	if _, err := s.patchStation(pr.ctx(), in); err != nil {
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusPreconditionFailed {
			cur, gerr := s.getStation(pr.ctx(), &in.StationPath)
			if gerr != nil {
				return gerr
			}
			s.render(pr, http.StatusPreconditionFailed, "phone", phonePage{Station: cur.Body, ETag: cur.ETag,
				Rows: directionRows(cur.Body.Rules, cur.Body.Effective), Error: "phone.stale"})
			return nil
		}
		return err
	}
	return pr.redirect(pr.base() + "/phones/" + url.PathEscape(id) + "?saved=1")
}

// panelPresets are the seed's four example setups, in its order, with
// the catalog keys of their names.
var panelPresets = []string{"sales", "customer-service", "medical-registration", "management"}

// Preset is a built-in profile offered as a group's starting point.
type Preset struct {
	Name string
	Rows []DirectionRow
}

type groupsPage struct {
	Groups  []groupRow
	Presets []Preset
	Error   string
	Saved   string
}

type groupRow struct {
	Group
	ETag string
	Rows []DirectionRow
}

func presets() []Preset {
	var out []Preset
	for _, name := range panelPresets {
		p, ok := rules.LookupProfile(name)
		if !ok {
			continue
		}
		r := rulesOf(p.Modes)
		eff := func(m string) Effective { return Effective{Mode: m, Rule: "profile"} }
		out = append(out, Preset{Name: name, Rows: directionRows(r, EffectiveRules{eff(r.Outbound), eff(r.InboundDirect), eff(r.InboundQueue), eff(r.Internal)})})
	}
	return out
}

func (s *Server) panelGroups(pr *pageRequest) error {
	return s.renderGroups(pr, http.StatusOK, "", pr.r.URL.Query().Get("saved"))
}

func (s *Server) renderGroups(pr *pageRequest, status int, errKey, saved string) error {
	out, err := s.listGroups(pr.ctx(), &TenantPath{pr.tenant})
	if err != nil {
		return err
	}
	page := groupsPage{Presets: presets(), Error: errKey, Saved: saved}
	for _, g := range out.Body.Items {
		one, err := s.getGroup(pr.ctx(), &GroupPath{TenantPath{pr.tenant}, g.Name})
		if err != nil {
			return err
		}
		var prof DirectionRules
		if p, ok := rules.LookupProfile(g.Profile); ok {
			prof = rulesOf(p.Modes)
		} else {
			prof = rulesOf(nil)
		}
		page.Groups = append(page.Groups, groupRow{Group: g, ETag: one.ETag, Rows: directionRows(g.Rules,
			EffectiveRules{Outbound: Effective{Mode: prof.Outbound}, InboundDirect: Effective{Mode: prof.InboundDirect},
				InboundQueue: Effective{Mode: prof.InboundQueue}})})
	}
	s.render(pr, status, "groups", page)
	return nil
}

// checkTag checks v against the validation tags (pattern, minLength,
// maxLength) of field of the API's type T, so a form accepts exactly
// what the API does.
func checkTag[T any](field, v string) bool {
	f, ok := reflect.TypeFor[T]().FieldByName(field)
	if !ok {
		return false
	}
	n := utf8.RuneCountInString(v)
	if min, err := strconv.Atoi(f.Tag.Get("minLength")); err == nil && n < min {
		return false
	}
	if max, err := strconv.Atoi(f.Tag.Get("maxLength")); err == nil && n > max {
		return false
	}
	if p := f.Tag.Get("pattern"); p != "" && !regexp.MustCompile(p).MatchString(v) {
		return false
	}
	return true
}

func (s *Server) panelGroupCreate(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	name := strings.TrimSpace(pr.r.PostForm.Get("name"))
	if !checkTag[GroupCreate]("Name", name) {
		return s.renderGroups(pr, http.StatusUnprocessableEntity, "groups.bad_name", "")
	}
	preset, err := pr.choice("preset", panelPresets...)
	if err != nil {
		return err
	}
	in := &CreateGroupInput{TenantPath: TenantPath{pr.tenant}}
	in.Body.Name, in.Body.Profile = name, &preset
	if _, err := s.createGroup(pr.ctx(), in); err != nil {
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusConflict {
			return s.renderGroups(pr, http.StatusConflict, "groups.exists", "")
		}
		return err
	}
	return pr.redirect(pr.base() + "/groups?saved=" + url.QueryEscape(name))
}

func (s *Server) panelGroupSave(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	name := pr.r.PathValue("name")
	patch := &RulesPatch{}
	for _, d := range []struct {
		name string
		dst  **string
	}{{"outbound", &patch.Outbound}, {"inbound_direct", &patch.InboundDirect}, {"inbound_queue", &patch.InboundQueue}} {
		v, err := pr.choice(d.name, modeChoices...)
		if err != nil {
			return err
		}
		*d.dst = &v
	}
	profile, err := pr.choice("preset", append([]string{""}, rules.ProfileNames()...)...)
	if err != nil {
		return err
	}
	announce, err := pr.choice("announce", announceChoices...)
	if err != nil {
		return err
	}
	retention := -1
	if v := strings.TrimSpace(pr.r.PostForm.Get("retention_days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 36500 {
			return s.renderGroups(pr, http.StatusUnprocessableEntity, "groups.bad_retention", "")
		}
		retention = n
	}
	in := &PatchGroupInput{GroupPath: GroupPath{TenantPath{pr.tenant}, name}, IfMatch: pr.r.PostForm.Get("etag"),
		Body: GroupPatch{Profile: &profile, Announce: &announce, RetentionDays: &retention, Rules: patch}}
	if _, err := s.patchGroup(pr.ctx(), in); err != nil {
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusPreconditionFailed {
			return s.renderGroups(pr, http.StatusPreconditionFailed, "groups.stale", "")
		}
		return err
	}
	return pr.redirect(pr.base() + "/groups?saved=" + url.QueryEscape(name))
}

// parseDay parses a date of a filter (YYYY-MM-DD) as midnight in loc.
func parseDay(v string, loc *time.Location) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation("2006-01-02", v, loc)
	return t, err == nil
}
