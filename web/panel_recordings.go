package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// The panel's Recordings module and data-subject (GDPR) tools.

type recordingsPage struct {
	Recordings []recordingRow
	Filter     recordingFilter
	Groups     []string
	NextURL    string // the next page, "" on the last
	FirstURL   string // the first page, "" on it
}

type recordingFilter struct {
	Station, Group, Direction, Trigger, Since, Until, Number string
}

type recordingRow struct {
	Recording
	Duration string // "" when not known
	Held     bool
}

func (v *view) durationOf(r *Recording) string {
	switch rules.RecordingState(r.State) {
	case rules.StateArmed, rules.StateNotActivated, rules.StateRemoved:
		return "" // nothing was recorded
	}
	start := r.StartedAt
	if r.PressedAt != nil {
		start = r.PressedAt
	}
	if start == nil || r.EndedAt == nil || r.EndedAt.Before(*start) {
		return ""
	}
	return v.pr.lang.Duration(r.EndedAt.Sub(*start))
}

// Duration is how long a recording's audio runs (from the start or the
// *2 press to the end), "" when not known.
func (v *view) Duration(r Recording) string { return v.durationOf(&r) }

// Answered is yes, no or unknown in the language.
func (v *view) Answered(b *bool) string {
	switch {
	case b == nil:
		return v.T("answered.unknown")
	case *b:
		return v.T("answered.yes")
	}
	return v.T("answered.no")
}

// AudioURL is a recording's audio on the API (played with Range
// requests, every fetch in the access log).
func (v *view) AudioURL(id int64) string {
	return "/api/v1/tenants/" + url.PathEscape(v.pr.tenant) + "/recordings/" + strconv.FormatInt(id, 10) + "/audio"
}

func (s *Server) panelRecordings(pr *pageRequest) error {
	q := pr.r.URL.Query()
	f := recordingFilter{Station: q.Get("station"), Group: q.Get("group"), Direction: q.Get("direction"),
		Trigger: q.Get("trigger"), Since: q.Get("since"), Until: q.Get("until"), Number: q.Get("number")}
	in := &ListRecordingsInput{TenantPath: TenantPath{pr.tenant}, Station: f.Station, Group: f.Group, Number: f.Number,
		Cursor: q.Get("cursor"), Limit: 50}
	switch f.Direction {
	case "", "outbound", "inbound_direct", "inbound_queue", "internal":
		in.Direction = f.Direction
	default:
		return &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_value", args: []any{"direction"}}
	}
	switch f.Trigger {
	case "", "auto", "ondemand":
		in.Trigger = f.Trigger
	default:
		return &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_value", args: []any{"trigger"}}
	}
	since, ok1 := parseDay(f.Since, pr.loc)
	until, ok2 := parseDay(f.Until, pr.loc)
	if !ok1 || !ok2 {
		return &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_date"}
	}
	in.Since = since
	if !until.IsZero() {
		in.Until = until.AddDate(0, 0, 1) // the whole last day
	}
	if len(f.Station) > 64 || len(f.Number) > 64 || len(f.Group) > 64 {
		return &panelErr{status: http.StatusUnprocessableEntity, key: "error.bad_value", args: []any{"station"}}
	}
	out, err := s.listRecordings(pr.ctx(), in)
	if err != nil {
		return err
	}
	page := recordingsPage{Filter: f}
	if page.Groups, err = s.groupNames(pr); err != nil {
		return err
	}
	ids := make([]int64, 0, len(out.Body.Items))
	for _, r := range out.Body.Items {
		ids = append(ids, r.ID)
	}
	holds := map[int64]store.LegalHold{}
	if len(ids) > 0 {
		if holds, err = s.store.LegalHolds(pr.ctx(), ids...); err != nil {
			return err
		}
	}
	for _, r := range out.Body.Items {
		_, held := holds[r.ID]
		page.Recordings = append(page.Recordings, recordingRow{Recording: r, Held: held})
	}
	if out.Body.NextCursor != "" {
		nq := cloneQuery(q)
		nq.Set("cursor", out.Body.NextCursor)
		page.NextURL = pr.base() + "/recordings?" + nq.Encode()
	}
	if in.Cursor != "" {
		fq := cloneQuery(q)
		fq.Del("cursor")
		page.FirstURL = pr.base() + "/recordings?" + fq.Encode()
	}
	s.render(pr, http.StatusOK, "recordings", page)
	return nil
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out.Set(k, v[0])
		}
	}
	return out
}

type recordingPage struct {
	Recording
	Hold   *store.LegalHold
	Done   string // a catalog key of what was just done
	Error  string
	Detail string
}

func (s *Server) recordingID(pr *pageRequest) (int64, error) {
	id, err := strconv.ParseInt(pr.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &panelErr{status: http.StatusNotFound, key: "error.not_found"}
	}
	return id, nil
}

func (s *Server) panelRecording(pr *pageRequest) error {
	return s.renderRecording(pr, http.StatusOK, pr.r.URL.Query().Get("done"), "", "")
}

func (s *Server) renderRecording(pr *pageRequest, status int, done, errKey, detail string) error {
	id, err := s.recordingID(pr)
	if err != nil {
		return err
	}
	out, err := s.getRecording(pr.ctx(), &RecordingPath{TenantPath{pr.tenant}, id})
	if err != nil {
		return err
	}
	page := recordingPage{Recording: out.Body, Error: errKey, Detail: detail}
	switch done {
	case "held", "released", "deleted":
		page.Done = "recording.done." + done
	}
	holds, err := s.store.LegalHolds(pr.ctx(), id)
	if err != nil {
		return err
	}
	if h, ok := holds[id]; ok {
		page.Hold = &h
	}
	s.render(pr, status, "recording", page)
	return nil
}

// recordingAction runs fn on the recording of the form's URL (looked up
// with the API's scope checks) and shows it again with done, or the
// refusal.
func (s *Server) recordingAction(pr *pageRequest, done string, fn func(r *rules.Recording) error) error {
	if err := pr.form(); err != nil {
		return err
	}
	id, err := s.recordingID(pr)
	if err != nil {
		return err
	}
	r, _, err := s.lookupRecording(pr.ctx(), pr.tenant, id)
	if err != nil {
		return err
	}
	if err := fn(r); err != nil {
		switch rules.ErrorCode(err) {
		case rules.ECONFLICT, rules.ENOTFOUND, rules.EINVALID:
			var re *rules.Error
			errors.As(err, &re)
			return s.renderRecording(pr, http.StatusConflict, "", "recording.refused", re.Message)
		}
		var pe *panelErr
		if errors.As(err, &pe) {
			return s.renderRecording(pr, pe.status, "", pe.key, "")
		}
		return err
	}
	return pr.redirect(pr.base() + "/recordings/" + strconv.FormatInt(id, 10) + "?done=" + done)
}

func (pr *pageRequest) removal() store.Removal {
	return store.Removal{Tenant: pr.tenant, Actor: pr.p.Actor(), Address: clientOf(pr.ctx()).addr}
}

func (s *Server) panelRecordingDelete(pr *pageRequest) error {
	return s.recordingAction(pr, "deleted", func(r *rules.Recording) error {
		if pr.r.PostForm.Get("confirm") != "yes" {
			return &panelErr{status: http.StatusUnprocessableEntity, key: "recording.confirm_needed"}
		}
		return DeleteRecording(pr.ctx(), s.store, s.cfg.RecordingDir, pr.removal(), r)
	})
}

func (s *Server) panelRecordingHold(pr *pageRequest) error {
	return s.recordingAction(pr, "held", func(r *rules.Recording) error {
		return s.store.HoldRecording(pr.ctx(), pr.p.Actor(), r.ID, strings.TrimSpace(pr.r.PostForm.Get("reason")))
	})
}

func (s *Server) panelRecordingRelease(pr *pageRequest) error {
	return s.recordingAction(pr, "released", func(r *rules.Recording) error {
		return s.store.ReleaseRecording(pr.ctx(), pr.p.Actor(), r.ID)
	})
}

type subjectPage struct {
	Number     string
	Searched   bool
	Recordings []recordingRow
	Erasures   []store.AuditEntry
	Erased     *EraseResult
	Error      string
}

func (s *Server) panelSubject(pr *pageRequest) error {
	number := strings.TrimSpace(pr.r.URL.Query().Get("number"))
	page := subjectPage{Number: number}
	if number == "" {
		s.render(pr, http.StatusOK, "subject", page)
		return nil
	}
	return s.renderSubject(pr, http.StatusOK, page)
}

func (s *Server) renderSubject(pr *pageRequest, status int, page subjectPage) error {
	if store.ValidateSubjectNumber(page.Number) != nil || len(page.Number) > 64 {
		page.Error = "subject.bad_number"
		s.render(pr, http.StatusUnprocessableEntity, "subject", page)
		return nil
	}
	sub, rs, err := s.subjectOf(pr.ctx(), pr.tenant, page.Number)
	if err != nil {
		return err
	}
	page.Searched = true
	for i := range sub.Recordings {
		_, held := sub.Holds[sub.Recordings[i].ID]
		page.Recordings = append(page.Recordings, recordingRow{Recording: recordingView(rs, &sub.Recordings[i]), Held: held})
	}
	page.Erasures = sub.Erasures
	s.render(pr, status, "subject", page)
	return nil
}

func (s *Server) panelSubjectExport(pr *pageRequest) error {
	number := strings.TrimSpace(pr.r.URL.Query().Get("number"))
	if store.ValidateSubjectNumber(number) != nil || len(number) > 64 {
		return s.renderSubject(pr, http.StatusUnprocessableEntity, subjectPage{Number: number})
	}
	sub, _, err := s.subjectOf(pr.ctx(), pr.tenant, number)
	if err != nil {
		return err
	}
	by := pr.removal()
	if err := LogSubjectExport(pr.ctx(), s.store, by, sub); err != nil {
		return err
	}
	s.streamArchive(pr.ctx(), pr.w, by.Tenant, sub)
	return nil
}

func (s *Server) panelSubjectErase(pr *pageRequest) error {
	if err := pr.form(); err != nil {
		return err
	}
	page := subjectPage{Number: strings.TrimSpace(pr.r.PostForm.Get("number"))}
	if store.ValidateSubjectNumber(page.Number) != nil || len(page.Number) > 64 {
		return s.renderSubject(pr, http.StatusUnprocessableEntity, page)
	}
	if pr.r.PostForm.Get("confirm") != "yes" {
		page.Error = "subject.confirm_needed"
		return s.renderSubject(pr, http.StatusUnprocessableEntity, page)
	}
	sub, _, err := s.subjectOf(pr.ctx(), pr.tenant, page.Number)
	if err != nil {
		return err
	}
	res, err := EraseSubject(pr.ctx(), s.store, s.cfg.RecordingDir, pr.removal(), page.Number, sub)
	if err != nil {
		return err
	}
	page.Erased = res
	return s.renderSubject(pr, http.StatusOK, page)
}

// startOf is when a recording began: started, else armed.
func startOf(r *Recording) *time.Time {
	if r.StartedAt != nil {
		return r.StartedAt
	}
	return r.ArmedAt
}

// Start is when a recording began (started, else armed).
func (v *view) Start(r Recording) string { return v.When(startOf(&r)) }
