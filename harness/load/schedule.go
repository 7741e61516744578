package load

import (
	"errors"
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Stage is one piece of a Schedule: Duration long, at Rate requests per
// second, or, when To > 0, ramping linearly from Rate to To. A ramp down to
// zero cannot be written (To == 0 means constant); a pause is a stage with
// Rate 0.
type Stage struct {
	Duration time.Duration
	Rate     float64
	To       float64
}

// Schedule is an open-model load shape: its stages run one after the other
// from t = 0, the attack start.
//
// Hits(t) is the number of requests due by t (the integral of the rate).
// Request number k (0-based, vegeta's Result.Seq) is due at
// Intended(k) = inf{t : Hits(t) > k}, so Intended(Hits(t)) = t, the first
// request is due at t = 0 and exactly Total() requests are due before
// Duration(). Pace, which vegeta calls to learn how long to sleep before it
// sends request number hits, waits for Intended(hits): the sender follows
// the same schedule that the latency correction later assumes.
type Schedule []Stage

var _ vegeta.Pacer = Schedule(nil)

// hitsEpsilon absorbs float rounding when a count of requests is taken from
// Hits: 800.0000000001 requests due by the end means 800.
const hitsEpsilon = 1e-6

// Duration is the sum of the stages' durations.
func (s Schedule) Duration() time.Duration {
	var d time.Duration
	for _, st := range s {
		d += st.Duration
	}
	return d
}

// Validate returns every problem with the schedule at once, or nil.
func (s Schedule) Validate() error {
	var errs []error
	if len(s) == 0 {
		errs = append(errs, errors.New("schedule has no stages"))
	}
	for i, st := range s {
		if st.Duration <= 0 {
			errs = append(errs, fmt.Errorf("stage %d: duration %v is not positive", i+1, st.Duration))
		}
		if st.Rate < 0 || math.IsNaN(st.Rate) || math.IsInf(st.Rate, 0) {
			errs = append(errs, fmt.Errorf("stage %d: rate %v is not a finite rate >= 0", i+1, st.Rate))
		}
		if st.To < 0 || math.IsNaN(st.To) || math.IsInf(st.To, 0) {
			errs = append(errs, fmt.Errorf("stage %d: ramp target %v is not a finite rate >= 0", i+1, st.To))
		}
	}
	if len(errs) == 0 && s.Total() == 0 {
		errs = append(errs, errors.New("schedule sends no request"))
	}
	return errors.Join(errs...)
}

// area is the number of requests a whole stage sends.
func (st Stage) area() float64 {
	d := st.Duration.Seconds()
	if st.To > 0 {
		return (st.Rate + st.To) / 2 * d
	}
	return st.Rate * d
}

// hitsAt is the number of requests the stage has sent tau seconds into it.
func (st Stage) hitsAt(tau float64) float64 {
	if st.To > 0 {
		return st.Rate*tau + (st.To-st.Rate)/(2*st.Duration.Seconds())*tau*tau
	}
	return st.Rate * tau
}

// timeOf is the time, in seconds into the stage, at which its hitsAt reaches
// m (0 <= m < area). The ramp's quadratic is solved in the form that stays
// exact for ramps down and for ramps from rate 0.
func (st Stage) timeOf(m float64) float64 {
	if m <= 0 {
		return 0
	}
	if st.To <= 0 || st.To == st.Rate {
		return m / st.Rate
	}
	a := (st.To - st.Rate) / (2 * st.Duration.Seconds())
	b := st.Rate
	disc := b*b + 4*a*m
	if disc < 0 { // only by rounding at the very end of a ramp down
		disc = 0
	}
	return 2 * m / (b + math.Sqrt(disc))
}

// rateAt is the stage's instantaneous rate tau seconds into it.
func (st Stage) rateAt(tau float64) float64 {
	if st.To > 0 {
		return st.Rate + (st.To-st.Rate)*tau/st.Duration.Seconds()
	}
	return st.Rate
}

// Hits returns the number of requests due by t (fractional: the integral of
// the rate from 0 to t). It is Hits(Duration()) after the schedule.
func (s Schedule) Hits(t time.Duration) float64 {
	if t <= 0 {
		return 0
	}
	var n float64
	for _, st := range s {
		if t < st.Duration {
			return n + st.hitsAt(t.Seconds())
		}
		n += st.area()
		t -= st.Duration
	}
	return n
}

// Total is the number of requests the schedule sends: those due before
// Duration().
func (s Schedule) Total() uint64 {
	return s.dueBefore(s.Duration())
}

// dueBefore is the number of requests due strictly before t.
func (s Schedule) dueBefore(t time.Duration) uint64 {
	h := math.Ceil(s.Hits(t) - hitsEpsilon)
	if h <= 0 {
		return 0
	}
	return uint64(h)
}

// Intended returns when request number seq (0-based) was due, from the
// attack start. For seq >= Total() it returns Duration().
func (s Schedule) Intended(seq uint64) time.Duration {
	n := float64(seq)
	var cum float64
	var start time.Duration
	for _, st := range s {
		a := st.area()
		if a > 0 && n < cum+a {
			tau := st.timeOf(n - cum)
			d := start + time.Duration(math.Round(tau*1e9))
			return min(d, start+st.Duration)
		}
		cum += a
		start += st.Duration
	}
	return start
}

// Pace implements vegeta.Pacer: it returns how long to wait before sending
// request number hits (the time until Intended(hits), or 0 when it is already
// late), and stop once every request of the schedule was handed out.
func (s Schedule) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= s.Total() {
		return 0, true
	}
	if due := s.Intended(hits); due > elapsed {
		return due - elapsed, false
	}
	return 0, false
}

// Rate implements vegeta.Pacer: the instantaneous rate at elapsed, in
// requests per second (0 after the schedule).
func (s Schedule) Rate(elapsed time.Duration) float64 {
	if elapsed < 0 {
		return 0
	}
	for _, st := range s {
		if elapsed < st.Duration {
			return st.rateAt(elapsed.Seconds())
		}
		elapsed -= st.Duration
	}
	return 0
}

// String describes the schedule, e.g. "200/s for 10s, 200->2000/s for 5s".
func (s Schedule) String() string {
	out := ""
	for i, st := range s {
		if i > 0 {
			out += ", "
		}
		if st.To > 0 {
			out += fmt.Sprintf("%g->%g/s for %v", st.Rate, st.To, st.Duration)
		} else {
			out += fmt.Sprintf("%g/s for %v", st.Rate, st.Duration)
		}
	}
	return out
}
