package load

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

const (
	// histMin and histMax bound the histograms, in microseconds (1us..60s);
	// values outside are clamped to them.
	histMin    = 1
	histMax    = 60_000_000
	histDigits = 3
)

// newHist returns an empty histogram of the package's shape.
func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histDigits)
}

// record adds d to h in microseconds, clamped to [1us, 60s].
func record(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// histOf records value(s) of every sample that keep accepts (nil: all).
func histOf(samples []Sample, keep func(*Sample) bool, value func(*Sample) time.Duration) *hdrhistogram.Histogram {
	h := newHist()
	for i := range samples {
		s := &samples[i]
		if keep == nil || keep(s) {
			record(h, value(s))
		}
	}
	return h
}

// Hist returns the HDR histogram (microseconds, 1us..60s, 3 significant
// digits, values clamped into that range) of the samples that keep accepts
// (nil: all): their Corrected latency when corrected is true, else their
// Latency. It does not modify the samples.
func Hist(samples []Sample, corrected bool, keep func(*Sample) bool) *hdrhistogram.Histogram {
	if corrected {
		return histOf(samples, keep, func(s *Sample) time.Duration { return s.Corrected })
	}
	return histOf(samples, keep, func(s *Sample) time.Duration { return s.Latency })
}

// Quantiles are a latency distribution's summary.
type Quantiles struct {
	P50, P90, P99, P999, P9999, Max, Mean time.Duration
}

// QuantilesOf reads a microsecond histogram (as Hist returns); all zero when
// it is empty. Values are HDR's: the highest value equivalent to the
// recorded one, within 0.1 %.
func QuantilesOf(h *hdrhistogram.Histogram) Quantiles {
	if h == nil || h.TotalCount() == 0 {
		return Quantiles{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Quantiles{
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		P9999: us(h.ValueAtQuantile(99.99)),
		Max:   us(h.Max()),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
	}
}

// Point is one bucket of a Series.
type Point struct {
	T        int           // bucket number: the bucket covers [T×bucket, (T+1)×bucket) of Intended (with 1s buckets, the second)
	Requests int           // samples in the bucket
	OK       int           // 2xx among them
	Codes    map[int]int   // by HTTP status; transport errors are not here but in Errors
	Errors   int           // transport errors (Code 0)
	P50, P99 time.Duration // corrected latency
}

// Series buckets the samples that keep accepts (nil: all) by their intended
// send time (so a stall shows where the load was due, and the closed loop's
// Intended is its Sent), bucket wide (default 1s). Points run without gaps
// from the first bucket holding a sample to the last; empty buckets in
// between are zero points. Nil when no sample is kept.
func Series(samples []Sample, bucket time.Duration, keep func(*Sample) bool) []Point {
	if bucket <= 0 {
		bucket = time.Second
	}
	// Bucket of every kept sample (-1: not kept), and the range.
	idx := make([]int, len(samples))
	lo, hi := -1, -1
	for i := range samples {
		s := &samples[i]
		if keep != nil && !keep(s) {
			idx[i] = -1
			continue
		}
		b := int(max(s.Intended, 0) / bucket)
		idx[i] = b
		if lo < 0 || b < lo {
			lo = b
		}
		if b > hi {
			hi = b
		}
	}
	if lo < 0 {
		return nil
	}
	// Counting sort of the kept samples by bucket.
	n := hi - lo + 1
	first := make([]int, n+1)
	for _, b := range idx {
		if b >= 0 {
			first[b-lo+1]++
		}
	}
	for b := range n {
		first[b+1] += first[b]
	}
	order := make([]int32, first[n])
	fill := append([]int(nil), first[:n]...)
	for i, b := range idx {
		if b >= 0 {
			order[fill[b-lo]] = int32(i)
			fill[b-lo]++
		}
	}

	points := make([]Point, n)
	h := newHist()
	for b := range n {
		p := Point{T: lo + b, Codes: map[int]int{}}
		h.Reset()
		for _, i := range order[first[b]:first[b+1]] {
			s := &samples[i]
			p.Requests++
			switch {
			case s.Code == 0:
				p.Errors++
			default:
				p.Codes[int(s.Code)]++
				if s.Code >= 200 && s.Code < 300 {
					p.OK++
				}
			}
			record(h, s.Corrected)
		}
		if p.Requests > 0 {
			p.P50 = time.Duration(h.ValueAtQuantile(50)) * time.Microsecond
			p.P99 = time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
		}
		points[b] = p
	}
	return points
}
