package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// spec is the OpenAPI document a server serves, loaded and validated by
// kin-openapi (an implementation independent of the one generating it),
// with a router to find each response's operation.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var specCache sync.Map // *Server's document is the same for every server: cached per test binary

func loadSpec(t testing.TB, e *env) *spec {
	t.Helper()
	if s, ok := specCache.Load("spec"); ok {
		return s.(*spec)
	}
	r := e.rawGet("/api/v1/openapi.json")
	if r.status != http.StatusOK {
		t.Fatalf("GET openapi.json: %d", r.status)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(r.body)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://x"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	s := &spec{doc: doc, router: router}
	specCache.Store("spec", s)
	return s
}

func (e *env) rawGet(path string) response {
	e.t.Helper()
	res, err := e.ts.Client().Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// checkResponse fails the test when a response does not match the
// document: an undocumented status, a body off its schema.
func (s *spec) checkResponse(t testing.TB, method, path string, r response) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://x"+path, nil)
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: not in the OpenAPI document: %v", method, path, err)
		return
	}
	if r.status == http.StatusMethodNotAllowed {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "audio/") {
		in.Options.ExcludeResponseBody = true
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		var re *openapi3filter.ResponseError
		msg := err.Error()
		if errors.As(err, &re) && re.Err != nil {
			msg = re.Reason + ": " + re.Err.Error()
		}
		t.Errorf("%s %s -> %d does not match the OpenAPI document: %s\n%s", method, path, r.status, msg, truncate(r.body))
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t)
	s := loadSpec(t, e)
	r := e.rawGet("/api/v1/openapi.json")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"openapi":"3.1.0"`)) {
		t.Fatalf("openapi.json: %d %.100s", r.status, r.body)
	}
	// Every route of the table is in the document, with its security.
	for _, rt := range e.srv.Routes() {
		item := s.doc.Paths.Find(rt.Path)
		if item == nil || item.GetOperation(rt.Method) == nil {
			t.Errorf("%s %s: in the route table, not in the document", rt.Method, rt.Path)
			continue
		}
		op := item.GetOperation(rt.Method)
		if (rt.Access == Public) != (op.Security == nil || len(*op.Security) == 0) {
			t.Errorf("%s %s: access %s but security %v", rt.Method, rt.Path, rt.Access, op.Security)
		}
	}
	n := 0
	for _, item := range s.doc.Paths.Map() {
		n += len(item.Operations())
	}
	if n != len(e.srv.Routes()) {
		t.Errorf("the document has %d operations, the route table %d", n, len(e.srv.Routes()))
	}
}
