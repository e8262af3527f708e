package wav

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// build makes a 16-bit mono WAV of samples at rate; headerSize is what the
// header claims for the data chunk (MixMonitor's claim while writing).
func build(rate int, samples []int16, headerSize uint32) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+headerSize))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint16(1))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*2))
	binary.Write(&b, binary.LittleEndian, uint16(2))
	binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, headerSize)
	binary.Write(&b, binary.LittleEndian, samples)
	return b.Bytes()
}

func tone(n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	return s
}

func TestRead(t *testing.T) {
	tests := []struct {
		name      string
		file      []byte
		duration  time.Duration
		audio     bool
		closed    bool
		wantError bool
	}{
		{"header only", build(8000, nil, 0), 0, false, true, false},
		{"two seconds of tone", build(8000, tone(16000, 8000), 32000), 2 * time.Second, true, true, false},
		{"header not yet fixed", build(8000, tone(8000, 8000), 0), time.Second, true, false, false},
		{"digital silence", build(8000, make([]int16, 16000), 32000), 2 * time.Second, false, true, false},
		{"faint noise", build(8000, tone(16000, 50), 32000), 2 * time.Second, false, true, false},
		{"a click only", build(8000, append(make([]int16, 16000), tone(80, 9000)...), 32160), 2*time.Second + 10*time.Millisecond, false, true, false},
		{"not riff", []byte("RIFX0000WAVE"), 0, false, false, true},
		{"truncated", []byte("RIF"), 0, false, false, true},
		{"no data chunk", build(8000, nil, 0)[:36], 0, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Read(bytes.NewReader(tt.file))
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, want error %v", err, tt.wantError)
			}
			if err != nil {
				return
			}
			if info.Duration() != tt.duration || info.HasAudio() != tt.audio || info.Closed != tt.closed {
				t.Errorf("duration %s audio %v (nonsilent %d) closed %v, want %s %v %v", info.Duration(), info.HasAudio(), info.NonSilent, info.Closed, tt.duration, tt.audio, tt.closed)
			}
		})
	}
}

func TestReadRefusesOtherFormats(t *testing.T) {
	f := build(8000, tone(100, 1000), 200)
	binary.LittleEndian.PutUint16(f[34:], 8) // 8-bit
	if _, err := Read(bytes.NewReader(f)); err == nil {
		t.Fatal("8-bit WAV accepted")
	}
}

func FuzzRead(f *testing.F) {
	f.Add(build(8000, tone(100, 1000), 200))
	f.Add(build(8000, nil, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Read(bytes.NewReader(b))
		if err == nil && info.Samples < 0 {
			t.Fatal("negative samples")
		}
	})
}

func TestWaitClosed(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	start := time.Now()
	if info, err := WaitClosed(ctx, write("audio.wav", build(8000, tone(8000, 8000), 16000)), time.Second); err != nil || !info.HasAudio() {
		t.Errorf("closed file with audio: %+v %v", info, err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Errorf("a closed file with audio took %s", time.Since(start))
	}

	start = time.Now()
	if info, err := WaitClosed(ctx, write("empty.wav", build(8000, nil, 0)), 200*time.Millisecond); err != nil || info.Samples != 0 {
		t.Errorf("header-only file: %+v %v", info, err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Errorf("a header-only file was believed after %s, before its grace", time.Since(start))
	}

	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if _, err := WaitClosed(short, write("open.wav", build(8000, tone(800, 8000), 0)), time.Second); err == nil {
		t.Error("a file whose header does not count its data was taken for closed")
	}
	if _, err := WaitClosed(short, filepath.Join(dir, "missing.wav"), time.Second); err == nil {
		t.Error("a missing file was taken for closed")
	}
}
