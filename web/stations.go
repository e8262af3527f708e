package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/rules"
)

// DirectionRules holds a level's own mode per direction; "inherit" means
// it has none and the next level decides.
type DirectionRules struct {
	Outbound      string `json:"outbound" enum:"inherit,off,auto,ondemand" doc:"the employee calls out"`
	InboundDirect string `json:"inbound_direct" enum:"inherit,off,auto,ondemand" doc:"a caller dialled the station's number"`
	InboundQueue  string `json:"inbound_queue" enum:"inherit,off,auto,ondemand" doc:"the caller came through the IVR or a queue"`
	Internal      string `json:"internal" enum:"inherit,off,auto,ondemand" doc:"station to station"`
}

// RulesPatch changes some directions; absent ones stay as they are.
type RulesPatch struct {
	Outbound      *string `json:"outbound,omitempty" enum:"inherit,off,auto,ondemand"`
	InboundDirect *string `json:"inbound_direct,omitempty" enum:"inherit,off,auto,ondemand"`
	InboundQueue  *string `json:"inbound_queue,omitempty" enum:"inherit,off,auto,ondemand"`
	Internal      *string `json:"internal,omitempty" enum:"inherit,off,auto,ondemand"`
}

func rulesOf(ms rules.ModeSet) DirectionRules {
	get := func(d rules.Direction) string {
		if m := ms[d]; m != "" {
			return string(m)
		}
		return "inherit"
	}
	return DirectionRules{get(rules.Outbound), get(rules.InboundDirect), get(rules.InboundQueue), get(rules.Internal)}
}

// apply sets the directions p names on ms and returns it.
func (p *RulesPatch) apply(ms rules.ModeSet) rules.ModeSet {
	if p == nil {
		return ms
	}
	if ms == nil {
		ms = rules.ModeSet{}
	}
	for d, v := range map[rules.Direction]*string{rules.Outbound: p.Outbound, rules.InboundDirect: p.InboundDirect,
		rules.InboundQueue: p.InboundQueue, rules.Internal: p.Internal} {
		switch {
		case v == nil:
		case *v == "inherit":
			delete(ms, d)
		default:
			ms[d] = rules.Mode(*v)
		}
	}
	if len(ms) == 0 {
		return nil
	}
	return ms
}

func (r DirectionRules) patch() *RulesPatch {
	return &RulesPatch{&r.Outbound, &r.InboundDirect, &r.InboundQueue, &r.Internal}
}

// Effective is the mode a direction resolves to now, and which rule
// decided it.
type Effective struct {
	Mode     string `json:"mode" enum:"off,auto,ondemand"`
	Rule     string `json:"rule" doc:"station:ID, group:NAME, tenant:ID or default"`
	Announce bool   `json:"announce"`
}

// EffectiveRules is the resolution of every direction.
type EffectiveRules struct {
	Outbound      Effective `json:"outbound"`
	InboundDirect Effective `json:"inbound_direct"`
	InboundQueue  Effective `json:"inbound_queue"`
	Internal      Effective `json:"internal"`
}

// Station is a phone account and its recording rules.
type Station struct {
	ID        string         `json:"id" doc:"the endpoint name"`
	Tenant    string         `json:"tenant"`
	Name      string         `json:"name"`
	Kind      string         `json:"kind" enum:"sip_phone,mobile_app,softphone,gateway,"`
	Group     string         `json:"group" doc:"its group; empty for none"`
	Announce  string         `json:"announce" enum:"inherit,yes,no" doc:"play the recording notice"`
	Rules     DirectionRules `json:"rules" doc:"the station's own rule per direction"`
	Effective EffectiveRules `json:"effective" doc:"what each direction resolves to now"`
}

func announceOf(b *bool) string {
	switch {
	case b == nil:
		return "inherit"
	case *b:
		return "yes"
	}
	return "no"
}

func parseAnnounce(s string) *bool {
	switch s {
	case "yes":
		b := true
		return &b
	case "no":
		b := false
		return &b
	}
	return nil
}

func effective(rs *rules.RuleSet, id string) EffectiveRules {
	e := func(d rules.Direction) Effective {
		dec := rs.Resolve(id, d)
		return Effective{Mode: string(dec.Mode), Rule: dec.Rule, Announce: dec.Announce}
	}
	return EffectiveRules{e(rules.Outbound), e(rules.InboundDirect), e(rules.InboundQueue), e(rules.Internal)}
}

func stationView(rs *rules.RuleSet, st *rules.Station) Station {
	return Station{ID: st.ID, Tenant: stationTenant(st), Name: st.Name, Kind: string(st.Kind), Group: st.Group,
		Announce: announceOf(st.Announce), Rules: rulesOf(st.Modes), Effective: effective(rs, st.ID)}
}

// etagOf is a strong ETag of v's JSON: the object's own fields, so a
// change to anything an editor sees changes it.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// stationETag covers the station's own settings, not what it inherits.
func stationETag(st *rules.Station) string {
	return etagOf(struct {
		Name, Kind, Group, Announce string
		Rules                       DirectionRules
	}{st.Name, string(st.Kind), st.Group, announceOf(st.Announce), rulesOf(st.Modes)})
}

// checkIfMatch refuses a write whose If-Match names another version.
func checkIfMatch(ifMatch, current string) error {
	if ifMatch == "" {
		return nil
	}
	for _, v := range strings.Split(ifMatch, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == current {
			return nil
		}
	}
	return huma.Error412PreconditionFailed("the object was changed since you read it (If-Match " + ifMatch +
		", now " + current + "): read it again, reapply your change and resend")
}

// StationPatch changes a station; absent fields stay as they are.
type StationPatch struct {
	Name     *string     `json:"name,omitempty" maxLength:"200"`
	Kind     *string     `json:"kind,omitempty" enum:"sip_phone,mobile_app,softphone,gateway"`
	Group    *string     `json:"group,omitempty" maxLength:"64" doc:"a group of the tenant; empty for none"`
	Announce *string     `json:"announce,omitempty" enum:"inherit,yes,no"`
	Rules    *RulesPatch `json:"rules,omitempty"`
}

// StationCreate is a new station.
type StationCreate struct {
	ID string `json:"id" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9._+@-]+$" doc:"the endpoint name, unique across tenants"`
	StationPatch
}

// apply sets p's fields on st (the caller has checked the group).
func (p *StationPatch) apply(st *rules.Station) {
	if p.Name != nil {
		st.Name = *p.Name
	}
	if p.Kind != nil {
		st.Kind = rules.Kind(*p.Kind)
	}
	if p.Group != nil {
		st.Group = *p.Group
	}
	if p.Announce != nil {
		st.Announce = parseAnnounce(*p.Announce)
	}
	st.Modes = p.Rules.apply(st.Modes)
}

// checkGroup checks the group p sets, if any.
func (p *StationPatch) checkGroup(ctx context.Context, s *Server, tenant string) error {
	if p.Group == nil || *p.Group == "" {
		return nil
	}
	return s.checkGroup(ctx, tenant, *p.Group, "body.group")
}

func groupList(rs *rules.RuleSet, tenant string) string {
	names := make([]string, 0)
	for n := range tenantGroups(rs, tenant) {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "the tenant has no groups"
	}
	sort.Strings(names)
	return "valid: " + strings.Join(names, ", ")
}

// StationOutput is one station with its ETag.
type StationOutput struct {
	ETag string `header:"ETag"`
	Body Station
}

// Page is one page of a list, with the cursor of the next page.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor" doc:"pass as cursor for the next page; empty on the last page"`
}

// TenantPath names a tenant in the URL.
type TenantPath struct {
	Tenant string `path:"tenant" maxLength:"63" doc:"the tenant's id"`
}

// StationPath names a station of a tenant in the URL.
type StationPath struct {
	TenantPath
	ID string `path:"id" maxLength:"64" doc:"the station's id"`
}

// ListStationsInput filters and pages the station list.
type ListStationsInput struct {
	TenantPath
	Group  string `query:"group" maxLength:"64" doc:"only this group's stations"`
	Cursor string `query:"cursor" maxLength:"200" doc:"from a previous page's next_cursor"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// ListStationsOutput is a page of stations.
type ListStationsOutput struct{ Body Page[Station] }

// PatchStationInput changes a station.
type PatchStationInput struct {
	StationPath
	IfMatch string `header:"If-Match" doc:"the ETag read; a stale one is refused with 412"`
	Body    StationPatch
}

// CreateStationInput adds a station.
type CreateStationInput struct {
	TenantPath
	Body StationCreate
}

// DeleteStationInput removes a station.
type DeleteStationInput struct {
	StationPath
	IfMatch string `header:"If-Match" doc:"the ETag read; a stale one is refused with 412"`
}

// ExplainInput asks why a station's calls in one direction are (not)
// recorded.
type ExplainInput struct {
	StationPath
	Direction string `query:"direction" required:"true" enum:"outbound,inbound_direct,inbound_queue,internal"`
}

// Explanation is the decision and the chain of rules behind it.
type Explanation struct {
	Station   string       `json:"station"`
	Direction string       `json:"direction"`
	Mode      string       `json:"mode" enum:"off,auto,ondemand"`
	Rule      string       `json:"rule"`
	Announce  bool         `json:"announce"`
	Chain     []rules.Step `json:"chain"`
}

// ExplainOutput is an explanation.
type ExplainOutput struct{ Body Explanation }

func (s *Server) registerStations() {
	tags := []string{"stations"}
	add(s, Reader, huma.Operation{OperationID: "list-stations", Method: http.MethodGet, Path: "/tenants/{tenant}/stations",
		Tags: tags, Summary: "List the tenant's stations, their own rules and what each direction resolves to"}, s.listStations)
	add(s, Reader, huma.Operation{OperationID: "get-station", Method: http.MethodGet, Path: "/tenants/{tenant}/stations/{id}",
		Tags: tags, Summary: "Get a station (with its ETag)"}, s.getStation)
	add(s, RuleWriter, huma.Operation{OperationID: "create-station", Method: http.MethodPost, Path: "/tenants/{tenant}/stations",
		Tags: tags, Summary: "Add a station", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict}}, s.createStation)
	add(s, RuleWriter, huma.Operation{OperationID: "patch-station", Method: http.MethodPatch, Path: "/tenants/{tenant}/stations/{id}",
		Tags: tags, Summary: "Change a station; applies from the next call",
		Description: "Send If-Match with the ETag you read: a stale one is refused (412) so two editors cannot silently overwrite each other.",
		Errors:      []int{http.StatusPreconditionFailed, http.StatusConflict}}, s.patchStation)
	add(s, RuleWriter, huma.Operation{OperationID: "delete-station", Method: http.MethodDelete, Path: "/tenants/{tenant}/stations/{id}",
		Tags: tags, Summary: "Remove a station and its own rules (its recordings stay)", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusPreconditionFailed, http.StatusConflict}}, s.deleteStation)
	add(s, Reader, huma.Operation{OperationID: "explain-station", Method: http.MethodGet, Path: "/tenants/{tenant}/stations/{id}/explain",
		Tags: tags, Summary: "The decision recgate would make now for a direction, and the chain of rules behind it"}, s.explain)
}

// stationIndex returns tenant's station ids, sorted, for snapshot rs.
// They are sorted once per snapshot and tenant: with thousands of
// stations, sorting on every page would cost more than the page.
func (s *Server) stationIndex(rs *rules.RuleSet, tenant string) []string {
	idx := s.index.Load()
	if idx == nil || idx.rs != rs {
		idx = &stationIndex{rs: rs, byTenant: map[string][]string{}}
		for id, st := range rs.Stations {
			t := stationTenant(st)
			idx.byTenant[t] = append(idx.byTenant[t], id)
		}
		for _, ids := range idx.byTenant {
			sort.Strings(ids)
		}
		s.index.Store(idx)
	}
	return idx.byTenant[tenant]
}

// stationIndex is the station ids of one rules snapshot, by tenant.
type stationIndex struct {
	rs       *rules.RuleSet
	byTenant map[string][]string
}

// snapshot returns the current rules, or a 503.
func (s *Server) snapshot(ctx context.Context) (*rules.RuleSet, error) {
	rs, err := s.store.Rules(ctx)
	if err != nil || rs == nil {
		return nil, s.fail(ctx, err)
	}
	return rs, nil
}

// lookupStation returns the tenant's station id, or a 404 (also when it
// is another tenant's).
func lookupStation(rs *rules.RuleSet, tenant, id string) (*rules.Station, error) {
	st := rs.Stations[id]
	if st == nil || stationTenant(st) != tenant {
		return nil, notFoundStation(tenant, id)
	}
	return st, nil
}

func (s *Server) listStations(ctx context.Context, in *ListStationsInput) (*ListStationsOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if in.Group != "" {
		if _, ok := tenantGroups(rs, in.Tenant)[in.Group]; !ok {
			return nil, fieldError("query.group", "unknown group %q (%s)", in.Group, groupList(rs, in.Tenant))
		}
	}
	all := s.stationIndex(rs, in.Tenant)
	ids := make([]string, 0, in.Limit+1)
	for _, id := range all[sort.SearchStrings(all, in.Cursor):] {
		if len(ids) > in.Limit {
			break
		}
		if id > in.Cursor && (in.Group == "" || rs.Stations[id].Group == in.Group) {
			ids = append(ids, id)
		}
	}
	out := &ListStationsOutput{Body: Page[Station]{Items: []Station{}}}
	if len(ids) > in.Limit {
		ids = ids[:in.Limit]
		out.Body.NextCursor = ids[len(ids)-1]
	}
	for _, id := range ids {
		out.Body.Items = append(out.Body.Items, stationView(rs, rs.Stations[id]))
	}
	return out, nil
}

func (s *Server) getStation(ctx context.Context, in *StationPath) (*StationOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	st, err := lookupStation(rs, in.Tenant, in.ID)
	if err != nil {
		return nil, err
	}
	return &StationOutput{ETag: stationETag(st), Body: stationView(rs, st)}, nil
}

// stationResult is the answer to a station write: the station as
// written, resolved with its tenant, group and the defaults read now.
func (s *Server) stationResult(ctx context.Context, st *rules.Station) (*StationOutput, error) {
	rs, err := s.resolveFresh(ctx, st)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &StationOutput{ETag: stationETag(st), Body: stationView(rs, st)}, nil
}

// notFoundStation is the 404 of a station missing from tenant (or
// another tenant's).
func notFoundStation(tenant, id string) error {
	return huma.Error404NotFound("unknown station " + quote(id) + " in tenant " + tenant)
}

func (s *Server) patchStation(ctx context.Context, in *PatchStationInput) (*StationOutput, error) {
	if err := in.Body.checkGroup(ctx, s, in.Tenant); err != nil {
		return nil, err
	}
	var written *rules.Station
	// The ETag is compared inside the write's transaction: a change
	// committed by anyone since the client read the station is seen.
	_, err := s.store.UpdateStation(ctx, principalOf(ctx).Actor(), in.Tenant, in.ID, func(st *rules.Station) error {
		if err := checkIfMatch(in.IfMatch, stationETag(st)); err != nil {
			return err
		}
		in.Body.apply(st)
		written = st.Clone()
		return nil
	})
	if rules.ErrorCode(err) == rules.ENOTFOUND {
		return nil, notFoundStation(in.Tenant, in.ID)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return s.stationResult(ctx, written)
}

func (s *Server) deleteStation(ctx context.Context, in *DeleteStationInput) (*struct{}, error) {
	// The store's delete takes no check: If-Match is compared with the
	// station as stored just before.
	st, err := s.store.Station(ctx, in.Tenant, in.ID)
	if rules.ErrorCode(err) == rules.ENOTFOUND {
		return nil, notFoundStation(in.Tenant, in.ID)
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := checkIfMatch(in.IfMatch, stationETag(st)); err != nil {
		return nil, err
	}
	if _, err := s.store.DeleteStation(ctx, principalOf(ctx).Actor(), in.Tenant, in.ID); err != nil {
		if rules.ErrorCode(err) == rules.ENOTFOUND {
			return nil, notFoundStation(in.Tenant, in.ID)
		}
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func (s *Server) createStation(ctx context.Context, in *CreateStationInput) (*StationOutput, error) {
	if err := in.Body.checkGroup(ctx, s, in.Tenant); err != nil {
		return nil, err
	}
	st := &rules.Station{ID: in.Body.ID, Tenant: in.Tenant, Kind: rules.SIPPhone}
	in.Body.apply(st)
	if _, err := s.store.CreateStation(ctx, principalOf(ctx).Actor(), in.Tenant, st); err != nil {
		if rules.ErrorCode(err) == rules.ECONFLICT {
			// Station ids are unique across tenants: say only that the
			// id is taken, never by whom.
			return nil, huma.Error409Conflict("station id " + quote(in.Body.ID) + " is already in use")
		}
		return nil, s.fail(ctx, err)
	}
	return s.stationResult(ctx, st)
}

func (s *Server) explain(ctx context.Context, in *ExplainInput) (*ExplainOutput, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := lookupStation(rs, in.Tenant, in.ID); err != nil {
		return nil, err
	}
	dec, chain := rs.Explain(in.ID, rules.Direction(in.Direction))
	return &ExplainOutput{Body: Explanation{Station: in.ID, Direction: in.Direction, Mode: string(dec.Mode),
		Rule: dec.Rule, Announce: dec.Announce, Chain: chain}}, nil
}
