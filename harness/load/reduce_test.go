package load

import (
	"reflect"
	"testing"
	"time"
)

func TestHist(t *testing.T) {
	// 100 samples: Latency 1..100 ms, Corrected 10 x that, Req alternating.
	var samples []Sample
	for i := 1; i <= 100; i++ {
		d := time.Duration(i) * ms
		samples = append(samples, Sample{Latency: d, Corrected: 10 * d, Req: uint16(i % 2), Code: 200})
	}
	within := func(got, want time.Duration) bool { // HDR: 3 significant digits
		return got >= want && got <= want+want/500
	}
	cases := []struct {
		name      string
		corrected bool
		keep      func(*Sample) bool
		count     int64
		p50, p99  time.Duration
		max       time.Duration
	}{
		{"uncorrected", false, nil, 100, 50 * ms, 99 * ms, 100 * ms},
		{"corrected", true, nil, 100, 500 * ms, 990 * ms, 1000 * ms},
		{"kept only", false, func(s *Sample) bool { return s.Req == 0 }, 50, 50 * ms, 100 * ms, 100 * ms},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := Hist(samples, c.corrected, c.keep)
			if h.TotalCount() != c.count {
				t.Fatalf("count = %d, want %d", h.TotalCount(), c.count)
			}
			q := QuantilesOf(h)
			if !within(q.P50, c.p50) || !within(q.P99, c.p99) || !within(q.Max, c.max) {
				t.Errorf("p50 %v p99 %v max %v, want %v %v %v", q.P50, q.P99, q.Max, c.p50, c.p99, c.max)
			}
			if q.Mean <= 0 || q.Mean > q.Max || q.P90 < q.P50 || q.P999 < q.P99 || q.P9999 < q.P999 {
				t.Errorf("quantiles out of order: %+v", q)
			}
		})
	}

	t.Run("clamped", func(t *testing.T) {
		h := Hist([]Sample{{Latency: 0}, {Latency: -time.Second}, {Latency: 2 * time.Minute}}, false, nil)
		if h.TotalCount() != 3 {
			t.Fatalf("count = %d, want 3 (out-of-range values clamped, not dropped)", h.TotalCount())
		}
		if h.Min() != 1 {
			t.Errorf("min = %dus, want 1us", h.Min())
		}
		if m := QuantilesOf(h).Max; m < 60*time.Second || m > 60*time.Second+60*time.Second/500 {
			t.Errorf("max = %v, want 60s", m)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if q := QuantilesOf(Hist(nil, true, nil)); q != (Quantiles{}) {
			t.Errorf("empty histogram: %+v, want zeros", q)
		}
	})
}

func TestSeries(t *testing.T) {
	s := func(intended time.Duration, code uint16, corrected time.Duration, req uint16) Sample {
		return Sample{Intended: intended, Sent: intended, Latency: corrected, Corrected: corrected, Code: code, Req: req}
	}
	samples := []Sample{
		s(1200*ms, 503, 40*ms, 0), // arrival order is not time order
		s(100*ms, 200, 2*ms, 0),
		s(500*ms, 200, 4*ms, 1),
		s(999*ms, 201, 6*ms, 0),
		s(3700*ms, 0, 300*ms, 0),
	}
	cases := []struct {
		name   string
		bucket time.Duration
		keep   func(*Sample) bool
		want   []Point
	}{
		{"seconds", time.Second, nil, []Point{
			{T: 0, Requests: 3, OK: 3, Codes: map[int]int{200: 2, 201: 1}, P50: 4 * ms, P99: 6 * ms},
			{T: 1, Requests: 1, Codes: map[int]int{503: 1}, P50: 40 * ms, P99: 40 * ms},
			{T: 2, Codes: map[int]int{}},
			{T: 3, Requests: 1, Errors: 1, Codes: map[int]int{}, P50: 300 * ms, P99: 300 * ms},
		}},
		{"default bucket", 0, func(s *Sample) bool { return s.Req == 1 }, []Point{
			{T: 0, Requests: 1, OK: 1, Codes: map[int]int{200: 1}, P50: 4 * ms, P99: 4 * ms},
		}},
		{"half seconds, from the first kept", 500 * ms, func(s *Sample) bool { return s.Intended >= 500*ms && s.Code != 0 }, []Point{
			{T: 1, Requests: 2, OK: 2, Codes: map[int]int{200: 1, 201: 1}, P50: 4 * ms, P99: 6 * ms},
			{T: 2, Requests: 1, Codes: map[int]int{503: 1}, P50: 40 * ms, P99: 40 * ms},
		}},
		{"nothing kept", time.Second, func(*Sample) bool { return false }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Series(samples, c.bucket, c.keep)
			// HDR reports the top of a value's bucket: round to the ms.
			for i := range got {
				got[i].P50 = got[i].P50.Round(ms)
				got[i].P99 = got[i].P99.Round(ms)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Series:\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
	if got := Series(nil, time.Second, nil); got != nil {
		t.Errorf("Series(nil) = %+v, want nil", got)
	}
}
