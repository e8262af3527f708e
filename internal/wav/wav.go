// Package wav reads what a recording check needs from a WAV file: its
// format, its duration and how loud it is. MixMonitor writes 16-bit PCM
// (".wav", 8 kHz mono, or wideband formats); nothing else is supported.
package wav

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// Info describes a PCM WAV file's audio.
type Info struct {
	SampleRate int
	Channels   int
	Bits       int
	// Samples is the number of sample frames in the data chunk as found
	// on disk (a file still being written may claim less in its header).
	Samples int
	// NonSilent counts samples whose magnitude is above SilenceLevel.
	NonSilent int
	// Peak is the largest sample magnitude (0..32768).
	Peak int
	// RMS is the root mean square of the samples (0..32768).
	RMS float64
	// Closed reports whether the header counts exactly the data on disk:
	// MixMonitor fixes the header when it closes the file.
	Closed bool
}

// SilenceLevel is the magnitude at or below which a 16-bit sample counts
// as silence (about -50 dBFS: line noise, comfort noise).
const SilenceLevel = 100

// HeaderOnly is the size of a WAV file MixMonitor left without audio.
const HeaderOnly = 44

// Duration is the audio's length.
func (i Info) Duration() time.Duration {
	if i.SampleRate == 0 {
		return 0
	}
	return time.Duration(i.Samples) * time.Second / time.Duration(i.SampleRate)
}

// HasAudio reports whether at least a tenth of a second of the file is
// above the silence level: real audio, not a header or digital silence.
func (i Info) HasAudio() bool {
	return i.SampleRate > 0 && i.NonSilent*10 >= i.SampleRate*i.Channels
}

// ReadFile reads and measures the WAV file at path.
func ReadFile(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("wav: %w", err)
	}
	defer f.Close()
	info, err := Read(f)
	if err != nil {
		return info, fmt.Errorf("wav %s: %w", path, err)
	}
	return info, nil
}

// Read reads and measures a WAV stream.
func Read(r io.Reader) (Info, error) {
	var info Info
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return info, errors.New("not a WAV file: too short")
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return info, errors.New("not a WAV file: no RIFF/WAVE header")
	}
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return info, errors.New("no data chunk")
		}
		size := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch string(hdr[0:4]) {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return info, fmt.Errorf("fmt chunk of %d bytes", size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return info, errors.New("short fmt chunk")
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			info.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			info.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			info.Bits = int(binary.LittleEndian.Uint16(b[14:16]))
			if format != 1 || info.Bits != 16 || info.Channels < 1 || info.SampleRate < 1 {
				return info, fmt.Errorf("unsupported format %d, %d bits, %d channels, %d Hz (want 16-bit PCM)", format, info.Bits, info.Channels, info.SampleRate)
			}
		case "data":
			if info.SampleRate == 0 {
				return info, errors.New("data chunk before fmt chunk")
			}
			// The header's size is not trusted: MixMonitor fixes it only
			// when it closes the file. Read to the end.
			err := measure(r, &info)
			info.Closed = err == nil && size == int64(info.Samples*info.Channels*2)
			return info, err
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return info, fmt.Errorf("short %q chunk", hdr[0:4])
			}
		}
	}
}

func measure(r io.Reader, info *Info) error {
	buf := make([]byte, 32<<10)
	var sum float64
	n := 0
	carry := 0
	for {
		m, err := r.Read(buf[carry:])
		m += carry
		even := m &^ 1
		for i := 0; i < even; i += 2 {
			v := int(int16(binary.LittleEndian.Uint16(buf[i:])))
			if v < 0 {
				v = -v
			}
			if v > SilenceLevel {
				info.NonSilent++
			}
			info.Peak = max(info.Peak, v)
			sum += float64(v * v)
			n++
		}
		carry = m - even
		if carry > 0 {
			buf[0] = buf[even]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	info.Samples = n / info.Channels
	if n > 0 {
		info.RMS = math.Sqrt(sum / float64(n))
	}
	return nil
}

// WaitClosed waits until the file at path looks closed by MixMonitor: its
// header counts all the data on disk. MixMonitor buffers what it writes,
// so a header-only file may still be open; one is believed only after it
// has stayed so for emptyGrace. It returns the last reading when ctx ends.
func WaitClosed(ctx context.Context, path string, emptyGrace time.Duration) (Info, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var emptySince time.Time
	for {
		info, err := ReadFile(path)
		if err == nil && info.Closed {
			if info.Samples > 0 {
				return info, nil
			}
			if emptySince.IsZero() {
				emptySince = time.Now()
			} else if time.Since(emptySince) >= emptyGrace {
				return info, nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("wav %s: not closed: %w", path, ctx.Err())
			}
			return info, err
		case <-tick.C:
		}
	}
}
