package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestWebServesTLS: with web.tls_cert and web.tls_key, the API is HTTPS
// only, and a login's cookie is Secure.
func TestWebServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	h := startServerWith(t, serverOpts{extra: fmt.Sprintf(`web: {listen: "127.0.0.1:0", tls_cert: %q, tls_key: %q}`, certFile, keyFile)})
	var out, errb syncBuffer
	code := Run(context.Background(), []string{"--config", h.cfgPath, "user", "add", "anna", "--role", "admin", "--tenant", "default"},
		Env{Stdin: strings.NewReader("correct horse battery\n"), Stdout: &out, Stderr: &errb})
	if code != 0 {
		t.Fatalf("user add: %s", errb.String())
	}
	pool := x509.NewCertPool()
	pool.AddCert(mustParseCert(t, der))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Post("https://"+h.m.WebAddr()+"/api/v1/login", "application/json",
		strings.NewReader(`{"login": "anna", "password": "correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if c := res.Cookies(); res.StatusCode != 200 || len(c) != 1 || !c[0].Secure || !c[0].HttpOnly {
		t.Fatalf("login over TLS: %d, cookies %+v", res.StatusCode, c)
	}
	if res, err := http.Get("http://" + h.m.WebAddr() + "/api/v1/openapi.json"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("the TLS listener answered plain HTTP")
		}
	}
}

func mustParseCert(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
