package resilience

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Result is the outcome of a forwarded request, as far as the backend's
// health is concerned.
type Result uint8

const (
	// Success: the backend answered (any status below 500).
	Success Result = iota
	// Failure: connection error, timeout, or a 5xx from the upstream.
	Failure
	// Neutral: not the backend's fault (the client went away, the request
	// was refused before reaching it, ...). Counted nowhere.
	Neutral
)

// Reason says why Acquire refused a request.
type Reason uint8

const (
	Admitted     Reason = iota // not refused
	NoHealthy                  // no instance is in rotation
	CircuitOpen                // the breaker is open, half-open with its probe out, or ramping
	BulkheadFull               // MaxInFlight requests are already in flight
)

func (r Reason) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case NoHealthy:
		return "no_healthy_instance"
	case CircuitOpen:
		return "circuit_open"
	case BulkheadFull:
		return "bulkhead_full"
	}
	return "unknown"
}

// Reject is Acquire's refusal. The zero value means admitted.
type Reject struct {
	Reason Reason
	// RetryAfter is a hint for the Retry-After header, whole seconds, at
	// least 1s: for an open breaker the time until it lets a probe through,
	// otherwise 1s.
	RetryAfter time.Duration
}

// Rejected reports whether the request was refused.
func (r Reject) Rejected() bool { return r.Reason != Admitted }

// Ticket is what Acquire hands out and Release takes back: which breaker
// generation admitted the request and whether it is the breaker's probe.
type Ticket struct {
	gen   uint32
	probe bool
}

// Probe reports whether the request is the half-open breaker's probe.
func (t Ticket) Probe() bool { return t.probe }

// Hooks are optional callbacks for metrics and logs. They are called
// synchronously, never under a lock of this package, by whichever goroutine
// made the transition (a request's Acquire or Release, or a probe); they
// must be quick and must not call back into the Backend's Stop.
type Hooks struct {
	// InstanceHealth reports an instance leaving (healthy false) or
	// rejoining the rotation.
	InstanceHealth func(backend, url string, healthy bool, reason string)
	// BreakerState reports each breaker transition.
	BreakerState func(backend string, s State)
}

// Instance is one address of a backend. Its exported fields are fixed at
// NewBackend; its runtime state (in flight, health) is shared with the
// same-URL instance of the Backend it replaced.
type Instance struct {
	URL    string // as configured
	Scheme string // http or https
	Host   string // host:port
	Weight int    // at least 1

	probeURL string
	st       *instState
}

// InFlight is the number of requests in flight to the instance.
func (in *Instance) InFlight() int64 { return in.st.inflight.Load() }

// Healthy reports whether the instance is in rotation.
func (in *Instance) Healthy() bool { return in.st.up.Load() }

// counter is a padded atomic so that hot counters do not share cache lines.
type counter struct {
	_ [64]byte
	v atomic.Int64
	_ [56]byte
}

// Backend is the resilience state of one named backend: its instances'
// health, its balancer, breaker and bulkhead. Safe for concurrent use.
type Backend struct {
	name     string
	s        Settings
	maxIn    int64
	insts    []*Instance
	seq      []int32 // smooth weighted round-robin order of insts
	br       *breaker
	hooks    Hooks
	why      reasons
	now      func() time.Time
	base     time.Time // clock zero, shared along a chain of reloads
	clk      func() int64
	inflight *counter // shared along a chain of reloads: the bulkhead spans them
	rr       counter  // round-robin position; least-outstanding tie rotation

	runMu   sync.Mutex
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

// NewBackend builds a backend's resilience state. now is the clock (nil:
// time.Now). prev, if not nil, is the same-named Backend being replaced by a
// reload: instances with the same URL keep their health, in-flight count and
// passive-failure count; the breaker keeps its state when its settings are
// unchanged; the bulkhead counts the requests still in flight through prev
// (they Release on prev); the round-robin position carries over. NewBackend
// starts nothing: call Start for active health checks.
func NewBackend(name string, s Settings, instances []InstanceSpec, prev *Backend, now func() time.Time, hooks Hooks) (*Backend, error) {
	urls := make([]*url.URL, len(instances))
	for i, spec := range instances {
		u, err := url.Parse(spec.URL)
		if err != nil {
			return nil, fmt.Errorf("backend %s: instance %q: %w", name, spec.URL, err)
		}
		if u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("backend %s: instance %q: want http://host:port or https://host:port", name, spec.URL)
		}
		urls[i] = u
	}
	system := now == nil
	if system {
		now = time.Now
	}
	s.Breaker.RampSteps = slices.Clone(s.Breaker.RampSteps)
	b := &Backend{name: name, s: s, maxIn: int64(s.MaxInFlight), hooks: hooks, why: newReasons(s.Health), now: now}
	if prev != nil {
		b.base, b.inflight = prev.base, prev.inflight
		b.rr.v.Store(prev.rr.v.Load())
	} else {
		b.base, b.inflight = now(), new(counter)
	}
	if system {
		// Monotonic clock only: half the cost of time.Now on the hot path.
		b.clk = func() int64 { return int64(time.Since(b.base)) }
	} else {
		b.clk = func() int64 { return int64(b.now().Sub(b.base)) }
	}

	states := map[string]*instState{}
	if prev != nil {
		for _, in := range prev.insts {
			states[in.URL] = in.st
		}
	}
	weights := make([]int, len(instances))
	for i, spec := range instances {
		u := urls[i]
		st := states[spec.URL]
		if st == nil {
			st = newInstState()
			states[spec.URL] = st
		} else if s.Health.Disabled {
			// Ejected while probes were on: come back by time now.
			st.mu.Lock()
			if !st.up.Load() && st.readmitAt.Load() == never {
				st.readmitAt.Store(b.clk() + int64(s.Health.EjectFor))
			}
			st.mu.Unlock()
		}
		w := max(spec.Weight, 1)
		weights[i] = w
		b.insts = append(b.insts, &Instance{
			URL: spec.URL, Scheme: u.Scheme, Host: u.Host, Weight: w,
			probeURL: u.Scheme + "://" + u.Host + s.Health.Path,
			st:       st,
		})
	}
	b.seq = wrrSequence(weights)

	if !s.Breaker.Disabled {
		if prev != nil && prev.br != nil && prev.s.Breaker.equal(s.Breaker) {
			b.br = prev.br
		} else {
			b.br = newBreaker(s.Breaker)
		}
	}
	return b, nil
}

// Name is the backend's name.
func (b *Backend) Name() string { return b.name }

// Instances lists the backend's instances in configuration order. The slice
// is shared: do not modify it.
func (b *Backend) Instances() []*Instance { return b.insts }

// Acquire admits a request or says why not. On admission it returns the
// instance to send it to and a Ticket; the caller must then call Release
// exactly once with both. Checks, in order: an instance in rotation
// (balancing policy), the bulkhead, the breaker. Allocation-free.
func (b *Backend) Acquire() (*Instance, Ticket, Reject) {
	inst := b.pick()
	if inst == nil {
		return nil, Ticket{}, Reject{Reason: NoHealthy, RetryAfter: time.Second}
	}
	if n := b.inflight.v.Add(1); b.maxIn > 0 && n > b.maxIn {
		b.inflight.v.Add(-1)
		return nil, Ticket{}, Reject{Reason: BulkheadFull, RetryAfter: time.Second}
	}
	var t Ticket
	if b.br != nil {
		var rej Reject
		var tr State
		t, rej, tr = b.br.admit(b.clk)
		if tr != noChange {
			b.breakerHook(tr)
		}
		if rej.Reason != Admitted {
			b.inflight.v.Add(-1)
			return nil, Ticket{}, rej
		}
	}
	inst.st.inflight.Add(1)
	return inst, t, Reject{}
}

// Release ends a request admitted by this Backend's Acquire: it updates the
// in-flight counts, the instance's passive health and the breaker.
// Allocation-free.
func (b *Backend) Release(inst *Instance, t Ticket, r Result) {
	b.release(inst, t, r, unknownTime)
}

// ReleaseAt is Release for a caller that has just read the clock (the
// request's end time, from the same clock as NewBackend's): it saves the
// Backend a clock read.
func (b *Backend) ReleaseAt(inst *Instance, t Ticket, r Result, now time.Time) {
	b.release(inst, t, r, int64(now.Sub(b.base)))
}

func (b *Backend) release(inst *Instance, t Ticket, r Result, now int64) {
	st := inst.st
	st.inflight.Add(-1)
	b.inflight.v.Add(-1)
	switch r {
	case Success:
		if st.passive.Load() != 0 {
			st.passive.Store(0)
		}
	case Failure:
		if p := int64(b.s.Health.PassiveFailures); p > 0 && st.passive.Add(1) >= p && st.up.Load() {
			b.eject(inst)
		}
	}
	if b.br != nil {
		if tr := b.br.record(t, r, now, b.clk); tr != noChange {
			b.breakerHook(tr)
		}
	}
}

func (b *Backend) breakerHook(s State) {
	if f := b.hooks.BreakerState; f != nil {
		f(b.name, s)
	}
}

// State is the breaker's state (Closed when the breaker is disabled).
func (b *Backend) State() State {
	if b.br == nil {
		return Closed
	}
	s, tr := b.br.current(b.clk())
	if tr != noChange {
		b.breakerHook(tr)
	}
	return s
}

// Healthy is the number of instances in rotation.
func (b *Backend) Healthy() int {
	n := 0
	for _, in := range b.insts {
		if b.available(in) {
			n++
		}
	}
	return n
}

// BackendStatus is a backend's state for the admin API and readiness.
type BackendStatus struct {
	Name        string           `json:"name"`
	Breaker     State            `json:"breaker"`
	InFlight    int64            `json:"in_flight"`
	MaxInFlight int              `json:"max_in_flight"`
	Healthy     int              `json:"healthy"`
	Instances   []InstanceStatus `json:"instances"`
}

// InstanceStatus is one instance's state.
type InstanceStatus struct {
	URL      string `json:"url"`
	Weight   int    `json:"weight"`
	Healthy  bool   `json:"healthy"`
	InFlight int64  `json:"in_flight"`
	// Reason is the last health transition's cause (why it is out, or why
	// it came back); empty if it never left the rotation.
	Reason string `json:"reason,omitempty"`
}

// Status reports the backend's current state.
func (b *Backend) Status() BackendStatus {
	bs := BackendStatus{
		Name:        b.name,
		Breaker:     b.State(),
		InFlight:    b.inflight.v.Load(),
		MaxInFlight: b.s.MaxInFlight,
		Instances:   make([]InstanceStatus, len(b.insts)),
	}
	for i, in := range b.insts {
		up := b.available(in)
		if up {
			bs.Healthy++
		}
		in.st.mu.Lock()
		reason := in.st.reason
		in.st.mu.Unlock()
		bs.Instances[i] = InstanceStatus{URL: in.URL, Weight: in.Weight, Healthy: up, InFlight: in.st.inflight.Load(), Reason: reason}
	}
	return bs
}
