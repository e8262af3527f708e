package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestWebPatchAppliesToNextCall is the API end to end: an admin's PATCH
// over HTTP on the running server, then a decide over FastAGI on the same
// server sees the new mode on the very next call, and the change is in
// the audit log with the token that made it.
func TestWebPatchAppliesToNextCall(t *testing.T) {
	h := startServerWith(t, serverOpts{extra: `web: {listen: "127.0.0.1:0"}`})
	if h.m.WebAddr() == "" {
		t.Fatal("web.listen set, but the API is not listening")
	}
	out, errs, code := h.cli("token", "create", "panel-ci", "--role", "admin", "--tenant", "default", "--json", "--actor", "test")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	var tok struct {
		Secret string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &tok); err != nil {
		t.Fatal(err)
	}

	ast, _ := h.call("0016-arm", outbound("1001", "E2E-1"), nil)
	if v, _ := ast.Var("RECGATE_DECISION"); v != "auto" {
		t.Fatalf("before the PATCH: decision %q, want auto (group sales)", v)
	}

	req, _ := http.NewRequest(http.MethodPatch, "http://"+h.m.WebAddr()+"/api/v1/tenants/default/stations/1001",
		strings.NewReader(`{"rules": {"outbound": "off"}}`))
	req.Header.Set("Authorization", "Bearer "+tok.Secret)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.StatusCode, body)
	}

	ast, _ = h.call("0016-arm", outbound("1001", "E2E-2"), nil)
	if v, _ := ast.Var("RECGATE_DECISION"); v != "off" {
		t.Fatalf("the call right after the PATCH: decision %q, want off", v)
	}
	if v, _ := ast.Var("RECGATE_RULE"); v != "station:1001" {
		t.Fatalf("RECGATE_RULE %q, want station:1001", v)
	}

	out, _, _ = h.cli("audit", "list", "--json")
	if !strings.Contains(out, `"actor": "token:panel-ci"`) || !strings.Contains(out, `"object": "station:1001"`) {
		t.Fatalf("the API change is not audited with its token:\n%s", out)
	}
}
