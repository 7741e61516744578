package load

import (
	"math"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestScheduleTable(t *testing.T) {
	type at struct {
		seq uint64
		due time.Duration
	}
	type hits struct {
		t time.Duration
		n float64
	}
	cases := []struct {
		name     string
		s        Schedule
		total    uint64
		intended []at
		hits     []hits
		rates    map[time.Duration]float64
	}{
		{
			name:     "constant",
			s:        Schedule{{Duration: 4 * time.Second, Rate: 200}},
			total:    800,
			intended: []at{{0, 0}, {1, 5 * ms}, {200, time.Second}, {799, 3995 * ms}, {800, 4 * time.Second}},
			hits:     []hits{{0, 0}, {time.Second, 200}, {2500 * ms, 500}, {4 * time.Second, 800}, {time.Hour, 800}},
			rates:    map[time.Duration]float64{0: 200, 3 * time.Second: 200, 4 * time.Second: 0},
		},
		{
			name:  "ramp up from zero",
			s:     Schedule{{Duration: 2 * time.Second, Rate: 0, To: 100}},
			total: 100,
			// Hits(t) = 25 t^2: request k is due at sqrt(k/25) s.
			intended: []at{{0, 0}, {1, 200 * ms}, {25, time.Second}, {64, 1600 * ms}, {99, 1989975 * time.Microsecond}},
			hits:     []hits{{time.Second, 25}, {2 * time.Second, 100}},
			rates:    map[time.Duration]float64{0: 0, time.Second: 50, 1500 * ms: 75},
		},
		{
			name:  "ramp down",
			s:     Schedule{{Duration: time.Second, Rate: 100, To: 10}},
			total: 55,
			// Hits(t) = 100 t - 45 t^2.
			intended: []at{{0, 0}, {55, time.Second}},
			hits:     []hits{{500 * ms, 38.75}, {time.Second, 55}},
			rates:    map[time.Duration]float64{0: 100, 500 * ms: 55},
		},
		{
			name: "stages with a pause",
			s: Schedule{
				{Duration: time.Second, Rate: 100},
				{Duration: time.Second, Rate: 0},
				{Duration: time.Second, Rate: 50, To: 150},
				{Duration: 500 * ms, Rate: 200},
			},
			total: 300,
			// The first request after the pause is due when the ramp starts.
			intended: []at{{0, 0}, {99, 990 * ms}, {100, 2 * time.Second}, {200, 3 * time.Second}, {299, 3495 * ms}},
			hits:     []hits{{time.Second, 100}, {1500 * ms, 100}, {2500 * ms, 100 + 25 + 12.5}, {3250 * ms, 250}},
			rates:    map[time.Duration]float64{1500 * ms: 0, 2500 * ms: 100, 3100 * ms: 200, 3500 * ms: 0},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := c.s.Total(); got != c.total {
				t.Errorf("Total = %d, want %d", got, c.total)
			}
			for _, a := range c.intended {
				if got := c.s.Intended(a.seq); absDur(got-a.due) > time.Microsecond {
					t.Errorf("Intended(%d) = %v, want %v", a.seq, got, a.due)
				}
			}
			for _, h := range c.hits {
				if got := c.s.Hits(h.t); math.Abs(got-h.n) > 1e-9 {
					t.Errorf("Hits(%v) = %v, want %v", h.t, got, h.n)
				}
			}
			for at, want := range c.rates {
				if got := c.s.Rate(at); math.Abs(got-want) > 1e-9 {
					t.Errorf("Rate(%v) = %v, want %v", at, got, want)
				}
			}
			checkInverse(t, c.s)
			checkPace(t, c.s)
		})
	}
}

// checkInverse checks that Intended inverts Hits: Hits(Intended(k)) = k for
// every request, the due times never go back, and all fall in the schedule.
func checkInverse(t *testing.T, s Schedule) {
	t.Helper()
	var prev time.Duration
	for k := range s.Total() {
		due := s.Intended(k)
		if got := s.Hits(due); math.Abs(got-float64(k)) > 1e-3 {
			t.Fatalf("Hits(Intended(%d) = %v) = %v, want %d", k, due, got, k)
		}
		if due < prev {
			t.Fatalf("Intended(%d) = %v is before Intended(%d) = %v", k, due, k-1, prev)
		}
		if due >= s.Duration() {
			t.Fatalf("Intended(%d) = %v is not before the end %v", k, due, s.Duration())
		}
		prev = due
	}
	// Intended(Hits(t)) = t wherever Hits(t) is a whole number of requests.
	for k := range s.Total() {
		tt := s.Intended(k)
		if h := s.Hits(tt); math.Abs(h-math.Round(h)) < 1e-9 {
			if back := s.Intended(uint64(math.Round(h))); absDur(back-tt) > time.Microsecond {
				t.Fatalf("Intended(Hits(%v)) = %v", tt, back)
			}
		}
	}
}

// checkPace drives Pace the way vegeta does, on a virtual clock that sleeps
// exactly as told, and checks that request k leaves at Intended(k), that it
// stops after Total() requests, and that a late sender is told not to wait.
func checkPace(t *testing.T, s Schedule) {
	t.Helper()
	var elapsed time.Duration
	var sent uint64
	for range s.Total() + 10 {
		wait, stop := s.Pace(elapsed, sent)
		if stop {
			break
		}
		if wait < 0 {
			t.Fatalf("Pace(%v, %d) wait %v < 0", elapsed, sent, wait)
		}
		elapsed += wait
		if due := s.Intended(sent); elapsed != due {
			t.Fatalf("request %d paced at %v, Intended says %v", sent, elapsed, due)
		}
		sent++
	}
	if sent != s.Total() {
		t.Fatalf("Pace let %d requests go, want Total() = %d", sent, s.Total())
	}
	if s.Total() > 1 {
		late := s.Intended(1) + 3*ms
		if wait, stop := s.Pace(late, 1); wait != 0 || stop {
			t.Fatalf("Pace(%v, 1) = %v, %v; a late request goes at once", late, wait, stop)
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	cases := []struct {
		name string
		s    Schedule
		want []string
	}{
		{"empty", nil, []string{"no stages"}},
		{"bad stages", Schedule{{Duration: 0, Rate: 10}, {Duration: time.Second, Rate: -1}, {Duration: time.Second, Rate: 1, To: math.NaN()}},
			[]string{"stage 1: duration", "stage 2: rate", "stage 3: ramp target"}},
		{"nothing sent", Schedule{{Duration: time.Second, Rate: 0}}, []string{"sends no request"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestScheduleString(t *testing.T) {
	s := Schedule{{Duration: 10 * time.Second, Rate: 200}, {Duration: 5 * time.Second, Rate: 200, To: 2000}}
	if got, want := s.String(), "200/s for 10s, 200->2000/s for 5s"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
