package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a recorded value is known to within 1/2^subBits (under 0.8%).
const subBits = 7

const (
	subCount = 1 << subBits
	// Values below subCount ns are exact; above, 64-subBits powers of two.
	bucketCount = subCount + (64-subBits)*subCount
)

// Histogram records durations in log-linear buckets, as HDR histograms do:
// fixed memory whatever the number of samples, values within 0.8%, the
// maximum exact. The zero value is not usable; use NewHistogram. It is not
// safe for concurrent use.
type Histogram struct {
	counts   []uint64
	total    uint64
	sum      float64 // nanoseconds
	min, max int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, bucketCount), min: math.MaxInt64}
}

func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // shift that leaves subBits+1 bits
	return subCount + e*subCount + int(uint64(v)>>e) - subCount
}

// bucketRange returns the smallest and largest values of bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	e := (i - subCount) / subCount
	m := int64((i-subCount)%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of samples recorded.
func (h *Histogram) Count() int64 { return int64(h.total) }

// Max is the largest sample, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min is the smallest sample, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean is the average sample; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the smallest
// recorded value v such that at least q of the samples are ≤ v, to within
// the bucket's precision (the bucket's middle, kept inside [Min, Max]; the
// maximum itself when the rank falls in the top bucket).
// It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			if hi >= h.max {
				return time.Duration(h.max) // the top bucket: the maximum is known exactly
			}
			mid := lo + (hi-lo)/2
			return time.Duration(min(max(mid, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// Latency is a histogram's summary as the bench prints it.
type Latency struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summary returns the histogram's count, mean, p50, p90, p99, p99.9 and max.
func (h *Histogram) Summary() Latency {
	return Latency{
		Count: h.Count(), Mean: h.Mean(),
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
		Max: h.Max(),
	}
}
