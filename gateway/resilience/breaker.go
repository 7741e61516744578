package resilience

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker's state.
type State uint8

const (
	// Closed admits every request and counts failures in the window.
	Closed State = iota
	// Open rejects every request until OpenFor has passed.
	Open
	// HalfOpen admits one probe request at a time.
	HalfOpen
	// Ramping admits a growing percentage of requests (RampSteps) before
	// closing; failures count and may open the breaker again.
	Ramping
)

// noChange is what the breaker's methods return when the state did not change.
const noChange State = math.MaxUint8

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	case Ramping:
		return "ramping"
	}
	return "unknown"
}

// MarshalText makes a State read as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

const (
	windowBuckets = 10
	emptyBucket   = math.MinInt64
	countShift    = 32 // bucket.n holds requests<<countShift | failures
	failMask      = 1<<countShift - 1
)

// bucket is one slice of the breaker's sliding window. Padded to its own
// cache line: every Release writes one.
type bucket struct {
	id atomic.Int64  // bucket number (time / width); emptyBucket when unused
	n  atomic.Uint64 // requests<<32 | failures
	_  [48]byte
}

// breaker is a backend's circuit breaker. The state and its generation are
// one atomic word so the closed fast path is a single load; every transition
// happens under mu. A ticket carries the generation it was admitted in, and a
// result from another generation (admitted before the last transition) is not
// counted, except that Ramping -> Closed keeps the generation.
type breaker struct {
	s     BreakerSettings
	width int64 // bucket width in ns

	se        atomic.Uint64 // generation<<8 | State
	openUntil atomic.Int64  // clock value when Open ends
	pending   atomic.Bool   // the failure ratio is over but the window has too few requests
	_         [44]byte

	buckets [windowBuckets]bucket
	wmu     sync.Mutex // serialises bucket rotation and reset

	mu        sync.Mutex
	probing   bool   // HalfOpen: a probe is in flight
	probeOK   int    // HalfOpen: probe successes in a row
	rampStart int64  // Ramping: when it began
	rampIdx   int    // Ramping: current step
	rampN     uint64 // Ramping: requests seen in the current step, mod 100
}

func newBreaker(s BreakerSettings) *breaker {
	br := &breaker{s: s, width: max(int64(s.Window)/windowBuckets, 1)}
	for i := range br.buckets {
		br.buckets[i].id.Store(emptyBucket)
	}
	return br
}

func pack(gen uint32, s State) uint64 { return uint64(gen)<<8 | uint64(s) }

func unpack(se uint64) (uint32, State) { return uint32(se >> 8), State(se & 0xff) }

func (br *breaker) state() State {
	_, s := unpack(br.se.Load())
	return s
}

// set stores a new state under mu, bumping the generation unless keepGen.
func (br *breaker) set(s State, keepGen bool) {
	gen, _ := unpack(br.se.Load())
	if !keepGen {
		gen++
	}
	br.se.Store(pack(gen, s))
}

// admit decides whether a request may pass. It returns the state it moved
// to, or noChange.
func (br *breaker) admit(clk func() int64) (Ticket, Reject, State) {
	gen, s := unpack(br.se.Load())
	switch s {
	case Closed:
		return Ticket{gen: gen}, Reject{}, noChange
	case Open:
		now := clk()
		if until := br.openUntil.Load(); now < until {
			return Ticket{}, Reject{Reason: CircuitOpen, RetryAfter: retryAfter(until - now)}, noChange
		}
		return br.admitSlow(now)
	}
	return br.admitSlow(clk())
}

func (br *breaker) admitSlow(now int64) (Ticket, Reject, State) {
	br.mu.Lock()
	defer br.mu.Unlock()
	tr := br.advance(now)
	gen, s := unpack(br.se.Load())
	switch s {
	case Open:
		return Ticket{}, Reject{Reason: CircuitOpen, RetryAfter: retryAfter(br.openUntil.Load() - now)}, tr
	case HalfOpen:
		if br.probing {
			return Ticket{}, Reject{Reason: CircuitOpen, RetryAfter: time.Second}, tr
		}
		br.probing = true
		return Ticket{gen: gen, probe: true}, Reject{}, tr
	case Ramping:
		p := uint64(br.s.RampSteps[br.rampIdx])
		k := br.rampN
		br.rampN = (k + 1) % 100
		// Admit request k of the step iff (k*p) mod 100 < p: exactly p of
		// every 100, evenly spread, the first one admitted.
		if (k*p)%100 >= p {
			return Ticket{}, Reject{Reason: CircuitOpen, RetryAfter: time.Second}, tr
		}
	}
	return Ticket{gen: gen}, Reject{}, tr
}

// advance makes the time-driven transitions (Open -> HalfOpen, ramp steps,
// Ramping -> Closed). Called under mu.
func (br *breaker) advance(now int64) State {
	_, s := unpack(br.se.Load())
	switch s {
	case Open:
		if now >= br.openUntil.Load() {
			br.probing, br.probeOK = false, 0
			br.set(HalfOpen, false)
			return HalfOpen
		}
	case Ramping:
		steps := br.s.RampSteps
		i := len(steps)
		if step := int64(br.s.RampStep); step > 0 {
			i = int(min(max((now-br.rampStart)/step, 0), int64(len(steps))))
		}
		if i >= len(steps) || steps[i] >= 100 {
			br.set(Closed, true) // results of ramp requests still count
			return Closed
		}
		if i != br.rampIdx {
			br.rampIdx, br.rampN = i, 0
		}
	}
	return noChange
}

// current is the state as of now, making due time-driven transitions.
func (br *breaker) current(now int64) (State, State) {
	br.mu.Lock()
	defer br.mu.Unlock()
	tr := br.advance(now)
	return br.state(), tr
}

// unknownTime asks record to read the clock itself.
const unknownTime = math.MinInt64

// record counts a finished request at now (unknownTime: read clk). It
// returns the state it moved to, or noChange.
func (br *breaker) record(t Ticket, r Result, now int64, clk func() int64) State {
	if t.probe {
		if now == unknownTime {
			now = clk()
		}
		return br.probeDone(t, r, now)
	}
	if r == Neutral {
		return noChange
	}
	gen, s := unpack(br.se.Load())
	if gen != t.gen || (s != Closed && s != Ramping) {
		return noChange // admitted before the last transition
	}
	if now == unknownTime {
		now = clk()
	}
	fail := r == Failure
	br.add(now, fail)
	// Only a failure can push the ratio over; a success matters only when
	// the ratio is already over and the window lacked requests (pending).
	if !fail && !br.pending.Load() {
		return noChange
	}
	return br.evaluate(t.gen, now)
}

// evaluate opens the breaker if the window is over the failure ratio with
// enough requests.
func (br *breaker) evaluate(gen uint32, now int64) State {
	req, fails := br.sum(now)
	if float64(fails) <= br.s.FailureRatio*float64(req) {
		if br.pending.Load() {
			br.pending.Store(false)
		}
		return noChange
	}
	if req < uint64(br.s.MinRequests) {
		if !br.pending.Load() {
			br.pending.Store(true)
		}
		return noChange
	}
	br.mu.Lock()
	defer br.mu.Unlock()
	if g, s := unpack(br.se.Load()); g != gen || (s != Closed && s != Ramping) {
		return noChange // another failure tripped it first
	}
	br.trip(now)
	return Open
}

func (br *breaker) probeDone(t Ticket, r Result, now int64) State {
	br.mu.Lock()
	defer br.mu.Unlock()
	if gen, s := unpack(br.se.Load()); gen != t.gen || s != HalfOpen {
		return noChange
	}
	br.probing = false
	switch r {
	case Failure:
		br.trip(now)
		return Open
	case Success:
		br.probeOK++
		if br.probeOK < br.s.ProbeSuccesses {
			return noChange
		}
		br.reset()
		if len(br.s.RampSteps) == 0 || br.s.RampSteps[0] >= 100 || br.s.RampStep <= 0 {
			br.set(Closed, false)
			return Closed
		}
		br.rampStart, br.rampIdx, br.rampN = now, 0, 0
		br.set(Ramping, false)
		return Ramping
	}
	return noChange
}

// trip opens the breaker for OpenFor. Called under mu.
func (br *breaker) trip(now int64) {
	br.pending.Store(false)
	br.openUntil.Store(now + int64(br.s.OpenFor))
	br.set(Open, false)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// add counts one request in the bucket of now.
func (br *breaker) add(now int64, fail bool) {
	idx := floorDiv(now, br.width)
	b := &br.buckets[(idx%windowBuckets+windowBuckets)%windowBuckets]
	if b.id.Load() != idx && !br.rotate(b, idx) {
		return
	}
	d := uint64(1) << countShift
	if fail {
		d |= 1
	}
	b.n.Add(d)
}

// rotate makes b the bucket of idx, unless it already holds a later one (a
// result from a moment already rotated out, which is dropped: false).
func (br *breaker) rotate(b *bucket, idx int64) bool {
	br.wmu.Lock()
	defer br.wmu.Unlock()
	switch id := b.id.Load(); {
	case id > idx:
		return false
	case id < idx:
		b.n.Store(0)
		b.id.Store(idx)
	}
	return true
}

// sum returns the requests and failures in the window ending now.
func (br *breaker) sum(now int64) (req, fails uint64) {
	idx := floorDiv(now, br.width)
	for i := range br.buckets {
		b := &br.buckets[i]
		if id := b.id.Load(); id > idx-windowBuckets && id <= idx {
			n := b.n.Load()
			req += n >> countShift
			fails += n & failMask
		}
	}
	return req, fails
}

// reset empties the window.
func (br *breaker) reset() {
	br.wmu.Lock()
	defer br.wmu.Unlock()
	br.pending.Store(false)
	for i := range br.buckets {
		br.buckets[i].id.Store(emptyBucket)
		br.buckets[i].n.Store(0)
	}
}

// retryAfter rounds a wait up to whole seconds, at least one.
func retryAfter(d int64) time.Duration {
	s := (time.Duration(d) + time.Second - 1) / time.Second * time.Second
	return max(s, time.Second)
}
