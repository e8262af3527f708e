package web

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// The GDPR (RODO) tools of SPEC 10, one implementation for the API, the
// panel and the CLI: data-subject search, export as one zip archive
// streamed to the client, erase (files, then rows, with a keyed-hash
// proof in the audit log), delete, and legal hold. Every play, download,
// export, delete and erase is in the access log.

// GDPRStore is what the GDPR tools need from the store (*store.Store).
type GDPRStore interface {
	SubjectRecordings(ctx context.Context, q store.SubjectQuery) ([]rules.Recording, error)
	LegalHolds(ctx context.Context, ids ...int64) (map[int64]store.LegalHold, error)
	HoldRecording(ctx context.Context, actor string, id int64, reason string) error
	ReleaseRecording(ctx context.Context, actor string, id int64) error
	DeleteRecording(ctx context.Context, by store.Removal, id int64) error
	EraseRecordings(ctx context.Context, by store.Removal, number string, ids []int64) (*store.Erasure, error)
	Erasures(ctx context.Context, tenant, number string) ([]store.AuditEntry, error)
	LogExport(ctx context.Context, by store.Removal, ids []int64) error
}

// Subject is a data subject's recordings in a tenant, with their holds.
type Subject struct {
	Recordings []rules.Recording
	Holds      map[int64]store.LegalHold
	Erasures   []store.AuditEntry // erasures done before for this number
}

// FindSubject returns the recordings of tenant whose caller id or number
// called is number, within stations (nil: all of the tenant's).
func FindSubject(ctx context.Context, st GDPRStore, tenant, number string, stations []string) (*Subject, error) {
	recs, err := st.SubjectRecordings(ctx, store.SubjectQuery{Tenant: tenant, Number: number, Stations: stations})
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	holds := map[int64]store.LegalHold{}
	if len(ids) > 0 {
		if holds, err = st.LegalHolds(ctx, ids...); err != nil {
			return nil, err
		}
	}
	erasures, err := st.Erasures(ctx, tenant, number)
	if err != nil {
		return nil, err
	}
	return &Subject{Recordings: recs, Holds: holds, Erasures: erasures}, nil
}

// exportRecording is one recording's metadata in an export archive.
type exportRecording struct {
	rules.Recording
	Tenant    string           `json:"tenant"`
	AudioFile string           `json:"audio_file,omitempty" doc:"the audio's name in the archive"`
	AudioNote string           `json:"audio_note,omitempty"`
	LegalHold *store.LegalHold `json:"legal_hold,omitempty"`
}

// ExportSubject logs an export of every recording of sub, then writes
// them to w as one zip archive (WriteSubjectArchive).
func ExportSubject(ctx context.Context, w io.Writer, st GDPRStore, dir string, by store.Removal, sub *Subject) error {
	if err := LogSubjectExport(ctx, st, by, sub); err != nil {
		return err
	}
	return WriteSubjectArchive(w, dir, by.Tenant, sub)
}

// LogSubjectExport writes an export entry in the access log for every
// recording of sub: before the first byte of the archive is sent.
func LogSubjectExport(ctx context.Context, st GDPRStore, by store.Removal, sub *Subject) error {
	ids := make([]int64, len(sub.Recordings))
	for i, r := range sub.Recordings {
		ids[i] = r.ID
	}
	return st.LogExport(ctx, by, ids)
}

// WriteSubjectArchive writes sub's recordings to w as one zip archive:
// metadata.json (every recording's metadata) and audio/recording-ID.wav
// for each recording with a file under dir, each copied from its file as
// it is written (the archive is never whole in memory).
func WriteSubjectArchive(w io.Writer, dir, tenant string, sub *Subject) error {
	zw := zip.NewWriter(w)
	meta := make([]exportRecording, 0, len(sub.Recordings))
	for _, r := range sub.Recordings {
		e := exportRecording{Recording: r, Tenant: tenant}
		e.File = filepath.Base(r.File) // the server's paths are not the subject's data
		if h, ok := sub.Holds[r.ID]; ok {
			e.LegalHold = &h
		}
		if hasAudio(&r) {
			name := fmt.Sprintf("audio/recording-%d.wav", r.ID)
			if err := copyAudio(zw, dir, r.File, name, r.EndedAt); err != nil {
				e.AudioNote = "the audio file could not be read: " + err.Error()
			} else {
				e.AudioFile = name
			}
		} else {
			e.AudioNote = "no audio: " + string(r.State)
		}
		meta = append(meta, e)
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: "metadata.json", Method: zip.Deflate, Modified: time.Now()})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(mw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(meta); err != nil {
		return err
	}
	return zw.Close()
}

func copyAudio(zw *zip.Writer, dir, file, name string, modified *time.Time) error {
	f, info, err := openUnder(dir, file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := &zip.FileHeader{Name: name, Method: zip.Store, Modified: info.ModTime()}
	if modified != nil {
		h.Modified = *modified
	}
	out, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, f)
	return err
}

// EraseResult is what an erasure did.
type EraseResult struct {
	Erased []int64          `json:"erased" doc:"recordings whose files and metadata are gone"`
	Held   []int64          `json:"held" doc:"recordings under legal hold, kept"`
	Live   []int64          `json:"live" doc:"calls still in progress, kept: erase again after they end"`
	Failed map[int64]string `json:"failed" doc:"recordings kept because their file could not be removed, and why"`
	Proof  string           `json:"proof" doc:"the keyed hash of the number kept in the audit log"`
}

// EraseSubject erases the subject's recordings that are not under legal
// hold nor of a call in progress: their files under dir first, then
// their metadata, with an erase in the access log per recording and one
// audit entry proving the erasure without the number. A recording whose file cannot be removed
// keeps its metadata (and is reported), so the erasure can be retried.
func EraseSubject(ctx context.Context, st GDPRStore, dir string, by store.Removal, number string, sub *Subject) (*EraseResult, error) {
	res := &EraseResult{Erased: []int64{}, Held: []int64{}, Live: []int64{}, Failed: map[int64]string{}}
	var ids []int64
	for _, r := range sub.Recordings {
		if _, held := sub.Holds[r.ID]; held {
			res.Held = append(res.Held, r.ID)
			continue
		}
		if live(&r) {
			// Its file is still being written and its row will be
			// written again at hangup: erase it once the call ended.
			res.Live = append(res.Live, r.ID)
			continue
		}
		if r.File != "" && r.State != rules.StateRemoved && r.State != rules.StateDeleted {
			if err := removeUnder(dir, r.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
				res.Failed[r.ID] = err.Error()
				continue
			}
		}
		ids = append(ids, r.ID)
	}
	er, err := st.EraseRecordings(ctx, by, number, ids)
	if err != nil {
		return nil, err
	}
	res.Erased = append(res.Erased, er.Erased...)
	res.Proof = er.Proof
	return res, nil
}

// DeleteRecording removes recording r's file under dir and marks it
// deleted, logged and audited; a held recording is refused before its
// file is touched.
func DeleteRecording(ctx context.Context, st GDPRStore, dir string, by store.Removal, r *rules.Recording) error {
	holds, err := st.LegalHolds(ctx, r.ID)
	if err != nil {
		return err
	}
	if _, held := holds[r.ID]; held {
		return rules.Errorf(rules.ECONFLICT, "recording %d is under legal hold: release it first", r.ID)
	}
	if live(r) {
		return rules.Errorf(rules.ECONFLICT, "recording %d is of a call still in progress: delete it once the call ended", r.ID)
	}
	if r.File != "" && r.State != rules.StateRemoved && r.State != rules.StateDeleted {
		if err := removeUnder(dir, r.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rules.Errorf(rules.ECONFLICT, "the file of recording %d cannot be removed: %v", r.ID, err)
		}
	}
	return st.DeleteRecording(ctx, by, r.ID)
}

// live reports whether r is of a call still in progress (armed or being
// recorded).
func live(r *rules.Recording) bool {
	return r.State == rules.StateArmed || r.State == rules.StateRecording
}

// openUnder opens file through an os.Root on dir: a path outside it, or
// a symbolic link leading out of it, is refused.
func openUnder(dir, file string) (*os.File, fs.FileInfo, error) {
	root, rel, err := rootOf(dir, file)
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

// removeUnder removes file through an os.Root on dir.
func removeUnder(dir, file string) error {
	root, rel, err := rootOf(dir, file)
	if err != nil {
		return err
	}
	defer root.Close()
	return root.Remove(rel)
}

func rootOf(dir, file string) (*os.Root, string, error) {
	if dir == "" {
		return nil, "", errors.New("recording.dir is not set")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	rel := file
	if filepath.IsAbs(file) {
		if rel, err = filepath.Rel(abs, filepath.Clean(file)); err != nil {
			return nil, "", err
		}
	}
	if !filepath.IsLocal(rel) {
		return nil, "", fmt.Errorf("file %q is outside recording.dir %s", file, abs)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, "", err
	}
	return root, rel, nil
}

// The API's GDPR routes.

// SubjectInput names a data subject by phone number.
type SubjectInput struct {
	TenantPath
	Number string `query:"number" required:"true" minLength:"3" maxLength:"64" doc:"the subject's phone number, as caller or as number called; any spelling (+48 601 234 567, 0048601234567, 601234567)"`
}

// SubjectRecording is a recording found for a data subject.
type SubjectRecording struct {
	Recording
	LegalHold *store.LegalHold `json:"legal_hold,omitempty" doc:"set when the recording is under legal hold"`
}

// SubjectOutput is a data subject's recordings.
type SubjectOutput struct {
	Body struct {
		Recordings []SubjectRecording `json:"recordings"`
		Erasures   []store.AuditEntry `json:"erasures" doc:"earlier erasures for this number (audit entries)"`
	}
}

// EraseInput erases a data subject's recordings.
type EraseInput struct {
	TenantPath
	Body struct {
		Number string `json:"number" minLength:"3" maxLength:"64" doc:"the subject's phone number"`
	}
}

// EraseOutput is what an erasure did.
type EraseOutput struct{ Body EraseResult }

// HoldInput puts a recording under legal hold.
type HoldInput struct {
	RecordingPath
	Body struct {
		Reason string `json:"reason,omitempty" maxLength:"500" doc:"why, for the audit log (a case number, say)"`
	}
}

// registerGDPR adds the GDPR routes to the API.
func (s *Server) registerGDPR() {
	tags := []string{"gdpr"}
	add(s, Reader, huma.Operation{OperationID: "search-subject", Method: http.MethodGet, Path: "/tenants/{tenant}/subject",
		Tags: tags, Summary: "Data-subject search: the tenant's recordings whose caller or number called is the number"}, s.searchSubject)
	add(s, Reader, huma.Operation{OperationID: "export-subject", Method: http.MethodGet, Path: "/tenants/{tenant}/subject/export",
		Tags: tags, Summary: "A data subject's recordings as one zip archive (audio and metadata.json), streamed; logged as exports",
		Responses: map[string]*huma.Response{"200": {Description: "the archive",
			Content: map[string]*huma.MediaType{"application/zip": {Schema: &huma.Schema{Type: "string", Format: "binary"}}}}}}, s.exportSubject)
	add(s, Writer, huma.Operation{OperationID: "erase-subject", Method: http.MethodPost, Path: "/tenants/{tenant}/subject/erase",
		Tags: tags, Summary: "Erase a data subject's recordings (files and metadata), except those under legal hold",
		Description: "The audit log keeps a keyed hash of the number, never the number; each recording's erase is in the access log."}, s.eraseSubject)
	add(s, Writer, huma.Operation{OperationID: "delete-recording", Method: http.MethodDelete, Path: "/tenants/{tenant}/recordings/{id}",
		Tags: []string{"recordings"}, Summary: "Delete a recording's audio and mark it deleted (refused under legal hold)",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusConflict}}, s.deleteRecording)
	add(s, Writer, huma.Operation{OperationID: "hold-recording", Method: http.MethodPut, Path: "/tenants/{tenant}/recordings/{id}/hold",
		Tags: tags, Summary: "Put a recording under legal hold: retention, delete and erase skip it until released",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusConflict}}, s.holdRecording)
	add(s, Writer, huma.Operation{OperationID: "release-recording", Method: http.MethodDelete, Path: "/tenants/{tenant}/recordings/{id}/hold",
		Tags: tags, Summary: "Release a recording's legal hold (done as well when it had none)", DefaultStatus: http.StatusNoContent}, s.releaseRecording)
}

// subjectOf finds the subject number in tenant within the caller's scope.
func (s *Server) subjectOf(ctx context.Context, tenant, number string) (*Subject, *rules.RuleSet, error) {
	rs, err := s.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := store.ValidateSubjectNumber(number); err != nil {
		return nil, nil, fieldError("query.number", "give the phone number, at least %d digits", store.MinSubjectDigits)
	}
	sub, err := FindSubject(ctx, s.store, tenant, number, scopeStations(rs, principalOf(ctx), tenant, ""))
	if err != nil {
		return nil, nil, s.fail(ctx, err)
	}
	return sub, rs, nil
}

func (s *Server) removal(ctx context.Context, tenant string) store.Removal {
	return store.Removal{Tenant: tenant, Actor: principalOf(ctx).Actor(), Address: clientOf(ctx).addr}
}

func (s *Server) searchSubject(ctx context.Context, in *SubjectInput) (*SubjectOutput, error) {
	sub, rs, err := s.subjectOf(ctx, in.Tenant, in.Number)
	if err != nil {
		return nil, err
	}
	out := &SubjectOutput{}
	out.Body.Recordings = make([]SubjectRecording, 0, len(sub.Recordings))
	for i := range sub.Recordings {
		r := SubjectRecording{Recording: recordingView(rs, &sub.Recordings[i])}
		if h, ok := sub.Holds[r.ID]; ok {
			r.LegalHold = &h
		}
		out.Body.Recordings = append(out.Body.Recordings, r)
	}
	out.Body.Erasures = append([]store.AuditEntry{}, sub.Erasures...)
	return out, nil
}

func (s *Server) exportSubject(ctx context.Context, in *SubjectInput) (*huma.StreamResponse, error) {
	sub, _, err := s.subjectOf(ctx, in.Tenant, in.Number)
	if err != nil {
		return nil, err
	}
	by := s.removal(ctx, in.Tenant)
	// The access log is written before a byte is sent: an export that
	// cannot be logged is not served.
	if err := LogSubjectExport(ctx, s.store, by, sub); err != nil {
		return nil, s.fail(ctx, err)
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		_, w := unwrap(hctx)
		s.streamArchive(ctx, w, by.Tenant, sub)
	}}, nil
}

// streamArchive sends sub's archive as the response, logged already: its
// headers, then the zip written straight to the connection.
func (s *Server) streamArchive(ctx context.Context, w http.ResponseWriter, tenant string, sub *Subject) {
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="recgate-subject-%s.zip"`, time.Now().UTC().Format("20060102-150405")))
	if err := WriteSubjectArchive(w, s.cfg.RecordingDir, tenant, sub); err != nil {
		// The status is sent: the client sees a broken archive.
		s.log.ErrorContext(ctx, "gdpr: export failed", "tenant", tenant, "err", err)
	}
}

func (s *Server) eraseSubject(ctx context.Context, in *EraseInput) (*EraseOutput, error) {
	sub, _, err := s.subjectOf(ctx, in.Tenant, in.Body.Number)
	if err != nil {
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusUnprocessableEntity {
			return nil, fieldError("body.number", "give the phone number, at least %d digits", store.MinSubjectDigits)
		}
		return nil, err
	}
	res, err := EraseSubject(ctx, s.store, s.cfg.RecordingDir, s.removal(ctx, in.Tenant), in.Body.Number, sub)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &EraseOutput{Body: *res}, nil
}

func (s *Server) deleteRecording(ctx context.Context, in *RecordingPath) (*struct{}, error) {
	r, _, err := s.lookupRecording(ctx, in.Tenant, in.ID)
	if err != nil {
		return nil, err
	}
	if err := DeleteRecording(ctx, s.store, s.cfg.RecordingDir, s.removal(ctx, in.Tenant), r); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func (s *Server) holdRecording(ctx context.Context, in *HoldInput) (*struct{}, error) {
	if _, _, err := s.lookupRecording(ctx, in.Tenant, in.ID); err != nil {
		return nil, err
	}
	if err := s.store.HoldRecording(ctx, principalOf(ctx).Actor(), in.ID, in.Body.Reason); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

func (s *Server) releaseRecording(ctx context.Context, in *RecordingPath) (*struct{}, error) {
	if _, _, err := s.lookupRecording(ctx, in.Tenant, in.ID); err != nil {
		return nil, err
	}
	// Releasing a recording that is not held leaves it so: done.
	if err := s.store.ReleaseRecording(ctx, principalOf(ctx).Actor(), in.ID); err != nil && rules.ErrorCode(err) != rules.ENOTFOUND {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}
