package agitest

import (
	"slices"
	"testing"
)

// TestSeparateArgs: the cases follow __ast_app_separate_args in Asterisk
// 22's main/app.c line by line.
func TestSeparateArgs(t *testing.T) {
	tests := []struct {
		in     string
		delim  byte
		remove bool
		max    int
		want   []string
	}{
		{"", ',', true, 10, nil},
		{"a", ',', true, 10, []string{"a"}},
		{"a,b", ',', true, 10, []string{"a", "b"}},
		{"a,", ',', true, 10, []string{"a", ""}},
		{",", ',', true, 10, []string{"", ""}},
		{"a,b(c,d),e", ',', true, 10, []string{"a", "b(c,d)", "e"}},
		{"a(b,c", ',', true, 10, []string{"a(b,c"}},         // an open parenthesis swallows the rest
		{"a)b,c", ',', true, 10, []string{"a)b", "c"}},      // a stray ')' is ignored
		{`"a,b",c`, ',', true, 10, []string{"a,b", "c"}},    // quotes group and are removed
		{`"a,b",c`, ',', false, 10, []string{`"a,b"`, "c"}}, // ... kept when not removing
		{`a\,b,c`, ',', true, 10, []string{"a,b", "c"}},     // a backslash makes the next character literal
		{`a\\,b`, ',', true, 10, []string{`a\`, "b"}},       // ... a backslash too
		{`a\,b`, ',', false, 10, []string{`a\,b`}},          // ... kept when not removing
		{"[a,b],c", ',', true, 10, []string{"[a,b]", "c"}},  // brackets group
		{"a,b,c", ',', true, 2, []string{"a", "b,c"}},       // the last takes the rest unparsed
		{`N="x,y"`, '=', true, 2, []string{"N", `"x,y"`}},   // MSet's pair split: the value is not parsed
		{"N=", '=', true, 2, []string{"N", ""}},
		{"N", '=', true, 2, []string{"N"}},
		{`x"(",y`, ',', true, 10, []string{"x(,y"}}, // a parenthesis counts inside quotes
	}
	for _, tt := range tests {
		if got := SeparateArgs(tt.in, tt.delim, tt.remove, tt.max); !slices.Equal(got, tt.want) {
			t.Errorf("SeparateArgs(%q, %q, %v, %d) = %q, want %q", tt.in, tt.delim, tt.remove, tt.max, got, tt.want)
		}
	}
}
