package web

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// matrixCase says how to call one operation on a tenant's objects: the
// path (placeholders {tenant} {station} {group} {rec} {user} {token}), a
// body that an allowed caller gets accepted, and the status it then gets.
type matrixCase struct {
	path   string
	body   string
	status int
}

// matrixCases has an entry for every operation of the API, keyed by
// operation id. TestTenantIsolationMatrix fails for a route without one:
// a new route cannot ship without its access being tested.
var matrixCases = map[string]matrixCase{
	"login":  {"/login", `{"login": "a-user", "password": "a-user password"}`, 200},
	"logout": {"/logout", "", 204},
	"get-me": {"/me", "", 200},

	"list-tenants":  {"/tenants", "", 200},
	"create-tenant": {"/tenants", `{"id": "new-tenant"}`, 201},
	"get-tenant":    {"/tenants/{tenant}", "", 200},
	"patch-tenant":  {"/tenants/{tenant}", `{"name": "Renamed", "defaults": {"outbound": "auto"}}`, 200},
	"delete-tenant": {"/tenants/{tenant}?force=true", "", 204},
	"list-profiles": {"/profiles", "", 200},

	"list-stations":   {"/tenants/{tenant}/stations", "", 200},
	"create-station":  {"/tenants/{tenant}/stations", `{"id": "new-{tenant}", "group": "sales"}`, 201},
	"get-station":     {"/tenants/{tenant}/stations/{station}", "", 200},
	"patch-station":   {"/tenants/{tenant}/stations/{station}", `{"rules": {"outbound": "off"}}`, 200},
	"delete-station":  {"/tenants/{tenant}/stations/{station}", "", 204},
	"explain-station": {"/tenants/{tenant}/stations/{station}/explain?direction=outbound", "", 200},

	"list-groups":  {"/tenants/{tenant}/groups", "", 200},
	"create-group": {"/tenants/{tenant}/groups", `{"name": "new", "profile": "sales"}`, 201},
	"get-group":    {"/tenants/{tenant}/groups/{group}", "", 200},
	"patch-group":  {"/tenants/{tenant}/groups/{group}", `{"profile": "record-all"}`, 200},
	"delete-group": {"/tenants/{tenant}/groups/{group}?force=true", "", 204},

	"list-recordings":     {"/tenants/{tenant}/recordings", "", 200},
	"get-recording":       {"/tenants/{tenant}/recordings/{rec}", "", 200},
	"get-recording-audio": {"/tenants/{tenant}/recordings/{rec}/audio", "", 200},

	// The GDPR tools (gdpr.go).
	"search-subject":    {"/tenants/{tenant}/subject?number=48221234567", "", 200},
	"export-subject":    {"/tenants/{tenant}/subject/export?number=48221234567", "", 200},
	"erase-subject":     {"/tenants/{tenant}/subject/erase", `{"number": "48221234567"}`, 200},
	"delete-recording":  {"/tenants/{tenant}/recordings/{rec}", "", 204},
	"hold-recording":    {"/tenants/{tenant}/recordings/{rec}/hold", `{"reason": "case 1/26"}`, 204},
	"release-recording": {"/tenants/{tenant}/recordings/{rec}/hold", "", 204},

	"list-audit":      {"/tenants/{tenant}/audit", "", 200},
	"list-access-log": {"/tenants/{tenant}/access-log", "", 200},

	"list-users":        {"/tenants/{tenant}/users", "", 200},
	"create-user":       {"/tenants/{tenant}/users", `{"login": "new-{tenant}", "role": "listener", "password": "a long new password"}`, 201},
	"get-user":          {"/tenants/{tenant}/users/{user}", "", 200},
	"patch-user":        {"/tenants/{tenant}/users/{user}", `{"disabled": true}`, 200},
	"set-user-password": {"/tenants/{tenant}/users/{user}/password", `{"password": "another long password"}`, 204},
	"delete-user":       {"/tenants/{tenant}/users/{user}", "", 204},

	"list-tokens":  {"/tenants/{tenant}/tokens", "", 200},
	"create-token": {"/tenants/{tenant}/tokens", `{"name": "new", "role": "listener", "groups": ["sales"]}`, 201},
	"revoke-token": {"/tenants/{tenant}/tokens/{token}", "", 204},
}

// objects are one tenant's objects the matrix aims at.
type objects struct {
	tenant, station, group, user string
	rec, recOutOfScope, token    int64
}

// isoEnv is two tenants, acme (A) and bravo (B), each with two groups, two
// stations, two recordings with audio, a user and a spare token; and the
// principals: an operator, A's admin, a listener of A limited to sales,
// a listener of all of A, and B's admin.
type isoEnv struct {
	*env
	objs map[string]objects
}

func newIsoEnv(t *testing.T) *isoEnv {
	t.Helper()
	e := &isoEnv{env: newEnv(t), objs: map[string]objects{}}
	e.seedRules(func(rs *rules.RuleSet) error {
		for _, id := range []string{"acme", "bravo"} {
			tn := rules.NewTenant(id)
			tn.Groups["sales"] = &rules.Group{Name: "sales", Profile: "sales"}
			tn.Groups["board"] = &rules.Group{Name: "board", Profile: "management"}
			rs.Tenants[id] = tn
			rs.Stations[id+"-1"] = &rules.Station{ID: id + "-1", Tenant: id, Kind: rules.SIPPhone, Group: "sales"}
			rs.Stations[id+"-2"] = &rules.Station{ID: id + "-2", Tenant: id, Kind: rules.SIPPhone, Group: "board"}
		}
		return nil
	})
	now := time.Now().UTC()
	for _, id := range []string{"acme", "bravo"} {
		var recs []*rules.Recording
		for i, st := range []string{id + "-1", id + "-2"} {
			file := filepath.Join(e.recDir, st+".wav")
			if err := os.WriteFile(file, []byte("RIFF audio of "+st), 0o644); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &rules.Recording{UniqueID: fmt.Sprintf("%s-%d", id, i), Tenant: id, Station: st,
				Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, Rule: "group:sales", File: file,
				CallerID: "48221234567", State: rules.StateEnded, StartedAt: &now})
		}
		if err := e.st.SaveRecordings(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		e.addUser(id[:1]+"-user", id, auth.Listener, id[:1]+"-user password")
		e.token(id[:1]+"-target", id, auth.Listener)
		tok, err := e.st.Tokens(context.Background(), id)
		if err != nil || len(tok) != 1 {
			t.Fatalf("tokens of %s: %v %v", id, tok, err)
		}
		e.objs[id] = objects{tenant: id, station: id + "-1", group: "sales", user: id[:1] + "-user",
			rec: recs[0].ID, recOutOfScope: recs[1].ID, token: tok[0].ID}
	}
	e.token("op", "", auth.Operator)
	e.token("a-admin", "acme", auth.Admin)
	e.token("a-listener", "acme", auth.Listener, "sales")
	e.token("a-listener-all", "acme", auth.Listener)
	e.token("b-admin", "bravo", auth.Admin)
	return e
}

// fill puts o's objects into a case's path and body.
func (o objects) fill(s string) string {
	return strings.NewReplacer("{tenant}", o.tenant, "{station}", o.station, "{group}", o.group, "{user}", o.user,
		"{rec}", fmt.Sprint(o.rec), "{token}", fmt.Sprint(o.token)).Replace(s)
}

// state is everything a request could change, as text: rules, users,
// tokens (without their last-used time), the audit and access logs.
func (e *isoEnv) state() string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	rs, err := e.st.LoadRules(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range store.Diff(nil, rs) {
		fmt.Fprintln(&b, c)
	}
	users, _ := e.st.Users(ctx, "")
	for _, u := range users {
		fmt.Fprintln(&b, u.Login, u.Tenant, u.Role, u.Groups, u.Disabled, u.PasswordChangedAt)
	}
	tokens, _ := e.st.Tokens(ctx, "")
	for _, t := range tokens {
		fmt.Fprintln(&b, t.ID, t.Name, t.Tenant, t.Role, t.Groups, t.RevokedAt)
	}
	audit, _ := e.st.AuditEntries(ctx, store.AuditFilter{Tenant: store.AllTenants})
	access, _ := e.st.AccessLog(ctx, store.AccessFilter{})
	fmt.Fprintln(&b, "audit", len(audit), "access", len(access))
	return b.String()
}

func caseFor(t *testing.T, rt Route) matrixCase {
	t.Helper()
	c, ok := matrixCases[rt.OperationID]
	if !ok {
		t.Fatalf("route %s %s (%s) has no isolation case: add one to matrixCases", rt.Method, rt.Path, rt.OperationID)
	}
	if want := "/api/v1" + strings.Split(c.path, "?")[0]; strings.NewReplacer("{station}", "{id}", "{group}", "{name}",
		"{user}", "{login}", "{rec}", "{id}", "{token}", "{id}").Replace(want) != rt.Path {
		t.Fatalf("matrix case of %s names %s, the route is %s", rt.OperationID, want, rt.Path)
	}
	return c
}

// TestTenantIsolationMatrix: generated from the route table. For every
// tenant-scoped operation, A's admin and listeners on B's objects get 404
// and change nothing; a listener gets 403 on everything but recordings,
// and on recordings of groups outside its scope; A's admin on A's objects
// and the operator on B's get the operation done. Every response matches
// the OpenAPI document.
func TestTenantIsolationMatrix(t *testing.T) {
	e := newIsoEnv(t)
	routes := e.srv.Routes()
	sort.Slice(routes, func(i, j int) bool { return routes[i].OperationID < routes[j].OperationID })
	before := e.state()
	a, b := e.objs["acme"], e.objs["bravo"]
	refused := func(as string, rt Route, o objects, c matrixCase, want int, query string) {
		t.Helper()
		path := "/api/v1" + o.fill(c.path) + query
		var body any
		if c.body != "" {
			body = o.fill(c.body)
		}
		r := e.checked(as, rt.Method, path, body)
		if r.status != want {
			t.Errorf("%s %s as %s: %d, want %d: %s", rt.Method, path, as, r.status, want, truncate(r.body))
			return
		}
		if got := e.state(); got != before {
			t.Errorf("%s %s as %s was refused (%d) but changed the store:\nbefore:\n%s\nafter:\n%s", rt.Method, path, as, r.status, before, got)
			before = got
		}
	}
	for _, rt := range routes {
		c := caseFor(t, rt)
		if !rt.TenantScoped() {
			continue
		}
		for _, as := range []string{"a-admin", "a-listener", "a-listener-all"} {
			refused(as, rt, b, c, http.StatusNotFound, "") // another tenant: as if it did not exist
		}
		refused("b-admin", rt, a, c, http.StatusNotFound, "")
		switch rt.Access {
		case Recordings, Anyone:
		default:
			refused("a-listener", rt, a, c, http.StatusForbidden, "")
			refused("a-listener-all", rt, a, c, http.StatusForbidden, "")
		}
		if rt.Access == TenantWriter {
			refused("a-admin", rt, a, c, http.StatusForbidden, "")
		}
	}
	// A listener limited to sales: board's recordings are out of scope.
	outside := a
	outside.rec = a.recOutOfScope
	for _, id := range []string{"get-recording", "get-recording-audio"} {
		refused("a-listener", routeByID(t, routes, id), outside, matrixCases[id], http.StatusForbidden, "")
	}
	refused("a-listener", routeByID(t, routes, "list-recordings"), a, matrixCases["list-recordings"], http.StatusForbidden, "?group=board")
	// Providers' operations, outside any tenant.
	refused("a-admin", routeByID(t, routes, "create-tenant"), a, matrixCases["create-tenant"], http.StatusForbidden, "")
	refused("a-listener", routeByID(t, routes, "list-profiles"), a, matrixCases["list-profiles"], http.StatusForbidden, "")
	refused("", routeByID(t, routes, "list-stations"), a, matrixCases["list-stations"], http.StatusUnauthorized, "")

	// What each sees of the lists.
	var tenants Page[Tenant]
	e.checked("a-admin", "GET", "/api/v1/tenants", nil).json(t, &tenants)
	if len(tenants.Items) != 1 || tenants.Items[0].ID != "acme" {
		t.Errorf("A's admin lists tenants %+v, want only acme", tenants.Items)
	}
	e.checked("op", "GET", "/api/v1/tenants", nil).json(t, &tenants)
	if len(tenants.Items) != 3 {
		t.Errorf("the operator lists tenants %+v, want all three", tenants.Items)
	}
	var recs Page[Recording]
	e.checked("a-listener", "GET", "/api/v1/tenants/acme/recordings", nil).json(t, &recs)
	if len(recs.Items) != 1 || recs.Items[0].Station != "acme-1" {
		t.Errorf("the sales listener lists %+v, want only acme-1's recording", recs.Items)
	}
	e.checked("a-listener-all", "GET", "/api/v1/tenants/acme/recordings", nil).json(t, &recs)
	if len(recs.Items) != 2 {
		t.Errorf("the listener of all of acme lists %d recordings, want 2", len(recs.Items))
	}
}

func routeByID(t *testing.T, routes []Route, id string) Route {
	t.Helper()
	for _, r := range routes {
		if r.OperationID == id {
			return r
		}
	}
	t.Fatalf("no route %s", id)
	return Route{}
}

// TestAllowedCallsSucceed proves the matrix's refusals are about access,
// not bad requests: the same request, by A's admin on A's objects and by
// the operator on B's, succeeds. Each operation gets a fresh pair of
// tenants (the writes change them).
func TestAllowedCallsSucceed(t *testing.T) {
	routes := newIsoEnv(t).srv.Routes()
	for _, rt := range routes {
		c := caseFor(t, rt)
		t.Run(rt.OperationID, func(t *testing.T) {
			e := newIsoEnv(t)
			type call struct {
				as string
				o  objects
			}
			var calls []call
			switch {
			case rt.Access == Public:
				calls = []call{{"", e.objs["acme"]}}
			case rt.Access == TenantWriter:
				calls = []call{{"op", e.objs["bravo"]}}
			case !rt.TenantScoped():
				calls = []call{{"a-admin", e.objs["acme"]}, {"op", e.objs["bravo"]}}
			case rt.Access == Recordings:
				calls = []call{{"a-listener", e.objs["acme"]}, {"op", e.objs["bravo"]}}
			default:
				calls = []call{{"a-admin", e.objs["acme"]}, {"op", e.objs["bravo"]}}
			}
			for _, cl := range calls {
				var body any
				if c.body != "" {
					body = cl.o.fill(c.body)
				}
				path := "/api/v1" + cl.o.fill(c.path)
				if r := e.checked(cl.as, rt.Method, path, body); r.status != c.status {
					t.Errorf("%s %s as %s: %d, want %d: %s", rt.Method, path, cl.as, r.status, c.status, truncate(r.body))
				}
			}
		})
	}
}
