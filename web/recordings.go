package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// Recording is the metadata of one recording (or armed on-demand call).
type Recording struct {
	ID        int64      `json:"id"`
	UniqueID  string     `json:"uniqueid"`
	LinkedID  string     `json:"linkedid"`
	Station   string     `json:"station"`
	Group     string     `json:"group" doc:"the station's group now; empty for none"`
	Direction string     `json:"direction"`
	Mode      string     `json:"mode"`
	Trigger   string     `json:"trigger" doc:"auto, ondemand, or empty when never started"`
	Rule      string     `json:"rule"`
	State     string     `json:"state"`
	CallerID  string     `json:"callerid"`
	DID       string     `json:"did"`
	Queue     string     `json:"queue"`
	HasAudio  bool       `json:"has_audio" doc:"a file was recorded and not removed"`
	StartedAt *time.Time `json:"started_at" nullable:"true"`
	ArmedAt   *time.Time `json:"armed_at" nullable:"true"`
	PressedAt *time.Time `json:"pressed_at" nullable:"true"`
	EndedAt   *time.Time `json:"ended_at" nullable:"true"`
	Answered  *bool      `json:"answered" nullable:"true"`
}

func recordingView(rs *rules.RuleSet, r *rules.Recording) Recording {
	group := ""
	if st := rs.Stations[r.Station]; st != nil {
		group = st.Group
	}
	return Recording{ID: r.ID, UniqueID: r.UniqueID, LinkedID: r.LinkedID, Station: r.Station, Group: group,
		Direction: string(r.Direction), Mode: string(r.Mode), Trigger: string(r.Trigger), Rule: r.Rule,
		State: string(r.State), CallerID: r.CallerID, DID: r.DID, Queue: r.Queue, HasAudio: hasAudio(r),
		StartedAt: r.StartedAt, ArmedAt: r.ArmedAt, PressedAt: r.PressedAt, EndedAt: r.EndedAt, Answered: r.Answered}
}

func hasAudio(r *rules.Recording) bool {
	return r.File != "" && (r.State == rules.StateRecording || r.State == rules.StateEnded)
}

// ListRecordingsInput filters and pages recordings.
type ListRecordingsInput struct {
	TenantPath
	Station   string    `query:"station" maxLength:"64"`
	Group     string    `query:"group" maxLength:"64" doc:"recordings of the group's stations"`
	Direction string    `query:"direction" enum:"outbound,inbound_direct,inbound_queue,internal,"`
	Trigger   string    `query:"trigger" enum:"auto,ondemand,"`
	Since     time.Time `query:"since" doc:"began at or after (RFC 3339)"`
	Until     time.Time `query:"until" doc:"began before (RFC 3339)"`
	Number    string    `query:"number" maxLength:"64" doc:"the caller id or the number called contains this"`
	Cursor    string    `query:"cursor" maxLength:"200"`
	Limit     int       `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

// ListRecordingsOutput is a page of recordings.
type ListRecordingsOutput struct{ Body Page[Recording] }

// RecordingPath names a recording of a tenant in the URL.
type RecordingPath struct {
	TenantPath
	ID int64 `path:"id" minimum:"1"`
}

// RecordingOutput is one recording.
type RecordingOutput struct{ Body Recording }

// AudioInput asks for a recording's audio.
type AudioInput struct {
	RecordingPath
	Download bool `query:"download" doc:"as an attachment (logged as a download, else as a play)"`
}

func (s *Server) registerRecordings() {
	tags := []string{"recordings"}
	add(s, Recordings, huma.Operation{OperationID: "list-recordings", Method: http.MethodGet, Path: "/tenants/{tenant}/recordings",
		Tags: tags, Summary: "List recordings, newest first, with filters and cursor paging"}, s.listRecordings)
	add(s, Recordings, huma.Operation{OperationID: "get-recording", Method: http.MethodGet, Path: "/tenants/{tenant}/recordings/{id}",
		Tags: tags, Summary: "Get a recording's metadata"}, s.getRecording)
	add(s, Recordings, huma.Operation{OperationID: "get-recording-audio", Method: http.MethodGet, Path: "/tenants/{tenant}/recordings/{id}/audio",
		Tags: tags, Summary: "The recording's audio (audio/wav, Range requests); every fetch is in the access log",
		Responses: map[string]*huma.Response{
			"200": {Description: "the whole file", Content: map[string]*huma.MediaType{"audio/wav": {Schema: &huma.Schema{Type: "string", Format: "binary"}}}},
			"206": {Description: "the requested range", Content: map[string]*huma.MediaType{"audio/wav": {Schema: &huma.Schema{Type: "string", Format: "binary"}}}},
			"416": {Description: "the range is outside the file"},
		},
		Errors: []int{http.StatusGone, http.StatusServiceUnavailable}}, s.audio)
}

// scopeStations returns the stations p may see recordings of, within
// tenant and the group filter: nil for no limit.
func scopeStations(rs *rules.RuleSet, p *auth.Principal, tenant, group string) []string {
	limited := p.Role == auth.Listener && len(p.Groups) > 0
	if group == "" && !limited {
		return nil
	}
	ids := []string{}
	for id, st := range rs.Stations {
		if stationTenant(st) != tenant || group != "" && st.Group != group || limited && !p.SeesGroup(st.Group) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Server) listRecordings(ctx context.Context, in *ListRecordingsInput) (*ListRecordingsOutput, error) {
	p := principalOf(ctx)
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if in.Group != "" {
		if _, ok := tenantGroups(rs, in.Tenant)[in.Group]; !ok {
			return nil, fieldError("query.group", "unknown group %q (%s)", in.Group, groupList(rs, in.Tenant))
		}
		if !p.SeesGroup(in.Group) {
			return nil, huma.Error403Forbidden("your access is limited to the groups " + strings.Join(p.Groups, ", "))
		}
	}
	recs, next, err := s.store.QueryRecordings(ctx, store.RecordingQuery{
		Tenant: in.Tenant, Stations: scopeStations(rs, p, in.Tenant, in.Group), Station: in.Station,
		Direction: rules.Direction(in.Direction), Trigger: rules.Trigger(in.Trigger), Since: in.Since, Until: in.Until,
		Number: in.Number, Cursor: in.Cursor, Limit: in.Limit,
	})
	if err != nil {
		var re *rules.Error
		if errors.As(err, &re) && re.Code == rules.EINVALID {
			return nil, fieldError("query.cursor", "%s", re.Message)
		}
		return nil, s.fail(ctx, err)
	}
	out := &ListRecordingsOutput{Body: Page[Recording]{Items: make([]Recording, 0, len(recs)), NextCursor: next}}
	for i := range recs {
		out.Body.Items = append(out.Body.Items, recordingView(rs, &recs[i]))
	}
	return out, nil
}

// lookupRecording returns the tenant's recording id if p may see it: 404
// when it is another tenant's (or does not exist), 403 when it is of a
// group outside a listener's scope.
func (s *Server) lookupRecording(ctx context.Context, tenant string, id int64) (*rules.Recording, *rules.RuleSet, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	notFound := huma.Error404NotFound(fmt.Sprintf("unknown recording %d in tenant %s", id, tenant))
	r, err := s.store.Recording(ctx, id)
	if rules.ErrorCode(err) == rules.ENOTFOUND {
		return nil, nil, notFound
	} else if err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	if r.Tenant != tenant {
		return nil, nil, notFound
	}
	p := principalOf(ctx)
	group := ""
	if st := rs.Stations[r.Station]; st != nil {
		group = st.Group
	}
	if !p.SeesGroup(group) {
		return nil, nil, huma.Error403Forbidden("your access is limited to the groups " + strings.Join(p.Groups, ", "))
	}
	return r, rs, nil
}

func (s *Server) getRecording(ctx context.Context, in *RecordingPath) (*RecordingOutput, error) {
	r, rs, err := s.lookupRecording(ctx, in.Tenant, in.ID)
	if err != nil {
		return nil, err
	}
	return &RecordingOutput{Body: recordingView(rs, r)}, nil
}

func (s *Server) audio(ctx context.Context, in *AudioInput) (*huma.StreamResponse, error) {
	r, _, err := s.lookupRecording(ctx, in.Tenant, in.ID)
	if err != nil {
		return nil, err
	}
	if !hasAudio(r) {
		return nil, huma.Error410Gone(fmt.Sprintf("recording %d has no audio (state %s)", r.ID, r.State))
	}
	f, info, err := s.openRecording(r.File)
	if err != nil {
		s.log.WarnContext(ctx, "api: recording file refused", "recording", r.ID, "err", err)
		return nil, huma.Error404NotFound(fmt.Sprintf("the audio of recording %d is not available", r.ID))
	}
	p, c := principalOf(ctx), clientOf(ctx)
	action := store.AccessPlay
	if in.Download {
		action = store.AccessDownload
	}
	// The access log is written before a byte is sent: a fetch that
	// cannot be logged is not served.
	if err := s.store.LogAccess(ctx, &store.AccessEntry{Tenant: in.Tenant, Actor: p.Actor(), Address: c.addr,
		Action: action, RecordingID: r.ID}); err != nil {
		f.Close()
		return nil, s.fail(ctx, err)
	}
	name := fmt.Sprintf("recording-%d.wav", r.ID)
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer f.Close()
		req, w := unwrap(hctx)
		w.Header().Set("Content-Type", "audio/wav")
		disposition := "inline"
		if in.Download {
			disposition = "attachment"
		}
		w.Header().Set("Content-Disposition", fmt.Sprintf(`%s; filename="%s"`, disposition, name))
		http.ServeContent(w, req, name, info.ModTime(), f)
	}}, nil
}

// openRecording opens a recording's file through an os.Root on
// recording.dir: a path outside it, or a symbolic link leading out of
// it, is refused.
func (s *Server) openRecording(file string) (*os.File, fs.FileInfo, error) {
	if s.cfg.RecordingDir == "" {
		return nil, nil, errors.New("recording.dir is not set")
	}
	dir, err := filepath.Abs(s.cfg.RecordingDir)
	if err != nil {
		return nil, nil, err
	}
	rel := file
	if filepath.IsAbs(file) {
		if rel, err = filepath.Rel(dir, filepath.Clean(file)); err != nil {
			return nil, nil, err
		}
	}
	if !filepath.IsLocal(rel) {
		return nil, nil, fmt.Errorf("file %q is outside recording.dir %s", file, dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("file %q is not a regular file", file)
	}
	return f, info, nil
}
