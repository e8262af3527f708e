package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantilesOnKnownData(t *testing.T) {
	h := NewHistogram()
	// 1µs .. 10000µs, shuffled order does not matter to a histogram.
	for i := 10000; i >= 1; i-- {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.001, 10 * time.Microsecond},
		{0.50, 5000 * time.Microsecond},
		{0.90, 9000 * time.Microsecond},
		{0.99, 9900 * time.Microsecond},
		{0.999, 9990 * time.Microsecond},
		{1, 10000 * time.Microsecond},
	}
	for _, tt := range tests {
		got := h.Quantile(tt.q)
		if rel := math.Abs(float64(got-tt.want)) / float64(tt.want); rel > 0.008 {
			t.Errorf("Quantile(%g) = %s, want %s within 0.8%% (off by %.2f%%)", tt.q, got, tt.want, rel*100)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Min() != time.Microsecond {
		t.Errorf("Max, Min = %s, %s; want exact 10ms, 1µs", h.Max(), h.Min())
	}
	if h.Count() != 10000 {
		t.Errorf("Count = %d", h.Count())
	}
	if want := 5000500 * time.Nanosecond; h.Mean() != want {
		t.Errorf("Mean = %s, want %s", h.Mean(), want)
	}
}

func TestHistogramSmallValuesExactAndOutlier(t *testing.T) {
	h := NewHistogram()
	for range 99 {
		h.Record(100) // ns, in the exact range
	}
	h.Record(3 * time.Second)
	if got := h.Quantile(0.99); got != 100 {
		t.Errorf("p99 = %v, want 100ns (99 of 100 samples)", got)
	}
	if got := h.Quantile(0.999); got != 3*time.Second {
		t.Errorf("p99.9 = %v, want the 3s outlier", got)
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Quantile(0.5) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for i := 1; i <= 50; i++ {
		a.Record(time.Duration(i) * time.Millisecond)
		b.Record(time.Duration(50+i) * time.Millisecond)
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Count() != 100 || a.Max() != 100*time.Millisecond || a.Min() != time.Millisecond {
		t.Fatalf("merged: count %d max %s min %s", a.Count(), a.Max(), a.Min())
	}
	if got := a.Quantile(0.75); math.Abs(float64(got-75*time.Millisecond)) > 0.008*float64(75*time.Millisecond) {
		t.Errorf("merged p75 = %s, want ~75ms", got)
	}
}

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 1000, 123456789, 1 << 40, math.MaxInt64} {
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v > hi {
			t.Errorf("value %d in bucket [%d, %d]", v, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(v)/subCount {
			t.Errorf("bucket of %d is %d wide: over 1/%d", v, hi-lo, subCount)
		}
	}
}
