package agi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func parseEnvString(s string) (*Request, error) {
	return readRequest(bufio.NewReaderSize(strings.NewReader(s), 1024))
}

func TestReadRequestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.raw")
	if err != nil || len(files) < 10 {
		t.Fatalf("transcripts: %v (found %d)", err, len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req, err := readRequest(bufio.NewReaderSize(strings.NewReader(string(data)), 1024))
			if err != nil {
				t.Fatalf("readRequest: %v", err)
			}
			if req.Channel == "" || req.UniqueID == "" || req.Version != "22.10.1" || req.Script == "" {
				t.Errorf("missing fields: %+v", req)
			}
			if got := req.Env["network_script"]; !strings.HasPrefix(got, req.Script) {
				t.Errorf("Script %q is not the path of %q", req.Script, got)
			}
		})
	}
}

func TestReadRequestFields(t *testing.T) {
	env := "agi_network: yes\n" +
		"agi_network_script: decide?direction=outbound&queue=sales%20team&x=a+b\n" +
		"agi_request: agi://127.0.0.1:4573/decide?direction=outbound&queue=sales%20team&x=a+b\n" +
		"agi_channel: PJSIP/1001-00000000\n" +
		"agi_type: PJSIP\n" +
		"agi_uniqueid: 1795511818.38\n" +
		"agi_version: 22.10.1\n" +
		"agi_callerid: 1001\n" +
		"agi_calleridname: Anna \"the boss\" Nowak\n" +
		"agi_dnid: 2000\n" +
		"agi_rdnis: unknown\n" +
		"agi_context: from-internal\n" +
		"agi_extension: 2000\n" +
		"agi_accountcode: \n" +
		"agi_arg_1: direction=inbound_queue\n" +
		"agi_arg_2: station=1002\n" +
		"agi_arg_3: plain\n" +
		"\n" +
		"200 result=1\n"
	req, err := parseEnvString(env)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Channel: "PJSIP/1001-00000000", Type: "PJSIP", UniqueID: "1795511818.38", Version: "22.10.1",
		CallerID: "1001", CallerIDName: `Anna "the boss" Nowak`, DNID: "2000", RDNIS: "unknown",
		Context: "from-internal", Extension: "2000", Script: "decide",
		URL: "agi://127.0.0.1:4573/decide?direction=outbound&queue=sales%20team&x=a+b"}
	got := *req
	got.Env, got.Args, got.params = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
	}
	if v, ok := req.Env["accountcode"]; !ok || v != "" {
		t.Errorf("accountcode = %q, %v; want empty, present", v, ok)
	}
	if want := []string{"direction=inbound_queue", "station=1002", "plain"}; !slices.Equal(req.Args, want) {
		t.Errorf("Args = %q, want %q", req.Args, want)
	}
	params := []struct{ name, want string }{
		{"direction", "outbound"}, // the query wins over agi_arg_1
		{"queue", "sales team"},
		{"x", "a b"},
		{"station", "1002"}, // from agi_arg_2
		{"plain", ""},
		{"missing", ""},
	}
	for _, p := range params {
		if got := req.Param(p.name); got != p.want {
			t.Errorf("Param(%q) = %q, want %q", p.name, got, p.want)
		}
	}
	if _, ok := req.LookupParam("plain"); ok {
		t.Error("LookupParam(plain) found an argument without '='")
	}
}

func TestReadRequestMalformed(t *testing.T) {
	valid := "agi_network: yes\nagi_network_script: decide\n"
	tests := []struct {
		name string
		env  string
		want error
	}{
		{"eof before blank line", valid, ErrClosed},
		{"nothing", "", ErrClosed},
		{"empty block", "\n", ErrMalformed},
		{"no agi_ prefix", "network: yes\n\n", ErrMalformed},
		{"no colon", "agi_network yes\n\n", ErrMalformed},
		{"colon early", "a:b\n\n", ErrMalformed},
		{"agi_ colon", "agi_:x\n\n", ErrMalformed},
		{"bad key char", "agi_net work: yes\n\n", ErrMalformed},
		{"no space after colon", "agi_network:yes\n\n", ErrMalformed},
		{"NUL in value", "agi_callerid: 10\x0001\n\n", ErrMalformed},
		{"escape in value", "agi_callerid: \x1b[31m\n\n", ErrMalformed},
		{"binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", ErrMalformed},
		{"http request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", ErrMalformed},
		{"duplicate key", valid + "agi_network: no\n\n", ErrMalformed},
		{"arg out of order", valid + "agi_arg_2: x\n\n", ErrMalformed},
		{"arg zero", valid + "agi_arg_0: x\n\n", ErrMalformed},
		{"too many args", valid + args(maxArgs+1) + "\n", ErrMalformed},
		{"too many lines", lines(maxEnvLines+1) + "\n", ErrMalformed},
		{"line too long", "agi_callerid: " + strings.Repeat("9", maxEnvLineLen) + "\n\n", ErrMalformed},
		// 300 such blocks held by calls without a hangup took a server
		// from 60 to 436 MB resident before the block had a limit.
		{"block too large", valid + bigLines(9, 1900) + "\n", ErrMalformed},
		{"1.4 MB of extra lines", valid + bigLines(190, 7400) + "\n", ErrMalformed},
		{"too many params", "agi_network_script: d?" + strings.Repeat("a=1&", maxParams+1) + "\n\n", ErrMalformed},
		{"bad escape", "agi_network_script: d?a=%zz\n\n", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseEnvString(tt.env)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v (request %+v)", err, tt.want, req)
			}
		})
	}

	ok := []struct{ name, env string }{
		{"crlf", "agi_network: yes\r\nagi_network_script: decide\r\n\r\n"},
		{"max args", valid + args(maxArgs) + "\n"},
		{"max lines", lines(maxEnvLines) + "\n"},
		{"longest line", "agi_callerid: " + strings.Repeat("9", maxEnvLineLen-len("agi_callerid: ")-1) + "\n\n"},
		{"largest block", bigLines(maxEnvBytes/1010, 1000) + "\n"},
		{"utf-8 and tab", "agi_calleridname: Zoë\tK\n\n"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseEnvString(tt.env); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// bigLines returns n environment lines of distinct keys with values of
// size bytes.
func bigLines(n, size int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "agi_x%d: %s\n", i, strings.Repeat("y", size))
	}
	return b.String()
}

func args(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("agi_arg_" + strconv.Itoa(i) + ": a\n")
	}
	return b.String()
}

func lines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("agi_k" + strconv.Itoa(i) + ": v\n")
	}
	return b.String()
}

func TestParseScript(t *testing.T) {
	tests := []struct {
		in     string
		script string
		params []param
	}{
		{"decide", "decide", nil},
		{"/decide", "decide", nil},
		{"decide?direction=outbound&queue=sales", "decide", []param{{"direction", "outbound"}, {"queue", "sales"}}},
		{"decide?", "decide", nil},
		{"decide?&&a=1&", "decide", []param{{"a", "1"}}},
		{"decide?flag", "decide", []param{{"flag", ""}}},
		{"decide?a=b=c", "decide", []param{{"a", "b=c"}}},
		{"decide?q=%41%2b+x%3D", "decide", []param{{"q", "A+ x="}}},
		{"sub/dir?x=1", "sub/dir", []param{{"x", "1"}}},
		{"", "", nil},
	}
	for _, tt := range tests {
		script, params, err := parseScript(tt.in)
		if err != nil || script != tt.script || !slices.Equal(params, tt.params) {
			t.Errorf("parseScript(%q) = %q, %v, %v; want %q, %v", tt.in, script, params, err, tt.script, tt.params)
		}
	}
	for _, bad := range []string{"d?a=%", "d?a=%4", "d?%zz=1", "d?a=%g0"} {
		if _, _, err := parseScript(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseScript(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}

// BenchmarkReadRequest measures parsing the environment block Asterisk
// sends at the start of every session (transcript 0016).
func BenchmarkReadRequest(b *testing.B) {
	env, err := os.ReadFile("testdata/transcripts/0016-arm.raw")
	if err != nil {
		b.Fatal(err)
	}
	block := env[:bytes.Index(env, []byte("\n\n"))+2]
	r := bytes.NewReader(block)
	br := bufio.NewReaderSize(r, 1024)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(block)
		br.Reset(r)
		if _, err := readRequest(br); err != nil {
			b.Fatal(err)
		}
	}
}
