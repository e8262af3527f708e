package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxScrape bounds the exposition read from a metrics endpoint.
const maxScrape = 16 << 20

// Bucket is one cumulative histogram bucket: Count observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// HistogramSnapshot is a Prometheus histogram at one scrape, summed over
// its label sets.
type HistogramSnapshot struct {
	Buckets []Bucket // sorted by UpperBound, ending with +Inf
	Count   float64
	Sum     float64
}

// ScrapeHistogram fetches the Prometheus text exposition at url (loopback
// only) and returns the histogram called name.
func ScrapeHistogram(ctx context.Context, url, name string) (HistogramSnapshot, error) {
	body, err := scrape(ctx, url)
	if err != nil {
		return HistogramSnapshot{}, err
	}
	return ParseHistogram(bytes.NewReader(body), name)
}

// ScrapeGauge fetches the exposition at url (loopback only) and returns the
// value of the gauge called name (summed over its label sets), e.g. the
// server's process_resident_memory_bytes: the memory test finds the server
// by its metrics address, not by a process id.
func ScrapeGauge(ctx context.Context, url, name string) (float64, error) {
	body, err := scrape(ctx, url)
	if err != nil {
		return 0, err
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("parse exposition: %w", err)
	}
	mf, ok := families[name]
	if !ok || mf.GetType() != dto.MetricType_GAUGE {
		return 0, fmt.Errorf("scrape %s: no gauge %s", url, name)
	}
	var v float64
	for _, m := range mf.GetMetric() {
		v += m.GetGauge().GetValue()
	}
	return v, nil
}

// scrape reads the exposition at url, a loopback address.
func scrape(ctx context.Context, url string) ([]byte, error) {
	if err := CheckLoopbackURL(url); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	client := &http.Client{Transport: &http.Transport{DialContext: loopbackDialer().DialContext, Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxScrape))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return body, nil
}

// ParseHistogram reads a Prometheus text exposition and returns the
// histogram called name, its buckets summed over every label set.
func ParseHistogram(r io.Reader, name string) (HistogramSnapshot, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return HistogramSnapshot{}, fmt.Errorf("parse exposition: %w", err)
	}
	mf, ok := families[name]
	if !ok {
		return HistogramSnapshot{}, fmt.Errorf("parse exposition: no metric %s", name)
	}
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		return HistogramSnapshot{}, fmt.Errorf("parse exposition: %s is a %s, not a histogram", name, mf.GetType())
	}
	byBound := map[float64]float64{}
	var snap HistogramSnapshot
	for _, m := range mf.GetMetric() {
		h := m.GetHistogram()
		snap.Count += float64(h.GetSampleCount())
		snap.Sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			byBound[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	byBound[math.Inf(1)] = snap.Count
	for ub, c := range byBound {
		snap.Buckets = append(snap.Buckets, Bucket{UpperBound: ub, Count: c})
	}
	slices.SortFunc(snap.Buckets, func(a, b Bucket) int {
		switch {
		case a.UpperBound < b.UpperBound:
			return -1
		case a.UpperBound > b.UpperBound:
			return 1
		}
		return 0
	})
	return snap, nil
}

// Sub returns the observations made between earlier and s, two scrapes of
// the same histogram (a server restart in between gives nonsense).
func (s HistogramSnapshot) Sub(earlier HistogramSnapshot) HistogramSnapshot {
	prev := map[float64]float64{}
	for _, b := range earlier.Buckets {
		prev[b.UpperBound] = b.Count
	}
	d := HistogramSnapshot{Count: s.Count - earlier.Count, Sum: s.Sum - earlier.Sum}
	for _, b := range s.Buckets {
		d.Buckets = append(d.Buckets, Bucket{UpperBound: b.UpperBound, Count: b.Count - prev[b.UpperBound]})
	}
	return d
}

// Quantile estimates the q-quantile as Prometheus' histogram_quantile does:
// linear interpolation inside the bucket that holds the rank (the first
// bucket starts at 0; a rank in +Inf gives the highest finite bound). It
// returns NaN when the histogram is empty.
func (s HistogramSnapshot) Quantile(q float64) float64 {
	if s.Count <= 0 || len(s.Buckets) == 0 {
		return math.NaN()
	}
	rank := q * s.Count
	lower, below := 0.0, 0.0
	for i, b := range s.Buckets {
		if b.Count >= rank {
			if math.IsInf(b.UpperBound, 1) {
				if i == 0 {
					return math.NaN()
				}
				return s.Buckets[i-1].UpperBound
			}
			in := b.Count - below
			if in <= 0 {
				return b.UpperBound
			}
			return lower + (b.UpperBound-lower)*(rank-below)/in
		}
		lower, below = b.UpperBound, b.Count
	}
	return s.Buckets[len(s.Buckets)-1].UpperBound
}
