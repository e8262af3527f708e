package loadgen

import "testing"

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantErr bool
	}{
		{"3", Mix{3, 1}, false},
		{"2.5", Mix{5, 2}, false},
		{"2.01", Mix{201, 100}, false}, // exact, not the float nearest 2.01
		{"402/200", Mix{201, 100}, false},
		{"0", Mix{0, 1}, false},
		{"64", Mix{64, 1}, false},
		{"65", Mix{}, true},
		{"-1", Mix{}, true},
		{"two", Mix{}, true},
		{"1/0", Mix{}, true},
		{"1/1000000000", Mix{}, true},
	}
	for _, tt := range tests {
		got, err := ParseMix(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMix(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestMixWindowsAreExact: any run of a mix's sessions sends exactly its
// commands, wherever the run starts. 2.01 in floating point once gave a
// 200-session window 401 commands instead of 402.
func TestMixWindowsAreExact(t *testing.T) {
	for _, tt := range []struct{ commands, sessions int64 }{{402, 200}, {401, 200}, {7, 3}, {600, 200}, {0, 5}, {12_799, 200}} {
		m, err := MixOf(tt.commands, tt.sessions)
		if err != nil {
			t.Fatal(err)
		}
		for _, start := range []int64{0, 1, 37, 199, 12_345, 1 << 40} {
			var sum int64
			for i := start; i < start+tt.sessions; i++ {
				n := m.commands(i)
				if n < 0 || n > defaultMaxCommands {
					t.Fatalf("%v: session %d sends %d", m, i, n)
				}
				sum += int64(n)
			}
			if sum != tt.commands {
				t.Errorf("%d/%d from session %d: %d commands, want %d", tt.commands, tt.sessions, start, sum, tt.commands)
			}
		}
		if back, err := ParseMix(m.String()); err != nil || back != m {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", m.String(), back, err, m)
		}
	}
}

func TestMixOfRefuses(t *testing.T) {
	for _, tt := range []struct{ commands, sessions int64 }{{1, 0}, {-1, 5}, {65, 1}} {
		if m, err := MixOf(tt.commands, tt.sessions); err == nil {
			t.Errorf("MixOf(%d, %d) = %v, want an error", tt.commands, tt.sessions, m)
		}
	}
}

// TestMixOfTooFineAFraction: a run whose exact fraction has more than
// maxMixSessions sessions is rounded to six decimals rather than refused.
func TestMixOfTooFineAFraction(t *testing.T) {
	const sessions = 200_000_003
	m, err := MixOf(2*sessions+1, sessions)
	if err != nil || m != (Mix{Commands: 2, Sessions: 1}) {
		t.Errorf("MixOf(2S+1, S) = %v, %v; want 2/1", m, err)
	}
}
