package rules

import (
	"strings"
	"testing"
)

func TestValidateText(t *testing.T) {
	tests := []struct {
		in   string
		want string // a part of the error; "" for accepted
	}{
		{"Anna (sales desk)", ""},
		{"Zażółć gęślą jaźń — Łódź", ""},
		{"東京 office", ""},
		{"", ""},
		{"\x1b[31mAnna", `"\x1b[31mAnna" holds the control character U+001B at character 1`},
		{"Anna\n1002  Fake row", "U+000A at character 5"},
		{"tab\there", "U+0009"},
		{"del\x7f", "U+007F"},
		{"c1\u0085", "U+0085"},
		{"Ł\u202eevil", "U+202E at character 2"},
		{"line\u2028sep", "U+2028"},
		{"bad\xffutf8", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := ValidateText("--name", tt.in)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateText(%q) = %v, want accepted", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "--name: ")):
			t.Errorf("ValidateText(%q) = %v, want an error naming --name and %q", tt.in, err, tt.want)
		case tt.want != "" && ErrorCode(err) != EINVALID:
			t.Errorf("ValidateText(%q) code = %q, want %q", tt.in, ErrorCode(err), EINVALID)
		}
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Anna", "Anna"},
		{"Zażółć", "Zażółć"},
		{"\x1b[2J", `"\x1b[2J"`},
		{"a\tb", `"a\tb"`},
		{"x\u202ey", `"x\u202ey"`},
		{"\xff", `"\xff"`},
	}
	for _, tt := range tests {
		if got := Printable(tt.in); got != tt.want {
			t.Errorf("Printable(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestStationValidateRefusesControlCharactersInName(t *testing.T) {
	s := &Station{ID: "1001", Name: "\x1b]0;owned\x07", Kind: SIPPhone}
	err := s.Validate()
	if err == nil || !strings.Contains(err.Error(), "station 1001: name: ") {
		t.Fatalf("Validate = %v, want a refusal naming the station and its name", err)
	}
	s.Name = "Paweł (recepcja)"
	if err := s.Validate(); err != nil {
		t.Fatalf("a Polish name was refused: %v", err)
	}
}

func TestRulesFileManaged(t *testing.T) {
	if err := RulesFileManaged(""); err != nil {
		t.Errorf("no rules file: %v", err)
	}
	err := RulesFileManaged("/etc/recgate/rules.yaml")
	if ErrorCode(err) != ECONFLICT || !strings.Contains(err.Error(), "rules_file /etc/recgate/rules.yaml") {
		t.Errorf("RulesFileManaged = %v (%s), want a conflict naming the file", err, ErrorCode(err))
	}
}
