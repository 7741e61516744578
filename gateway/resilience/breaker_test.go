package resilience

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// breakerOnly keeps passive ejection out of the way of breaker tests.
func breakerOnly(b *config.Backend) { b.HealthCheck.PassiveFailures = 1 << 30 }

func (f *fixture) requests(t *testing.T, ok, failed int) {
	t.Helper()
	for range ok {
		f.do(t, Success)
	}
	for range failed {
		f.do(t, Failure)
	}
}

func (f *fixture) wantState(t *testing.T, want State) {
	t.Helper()
	if got := f.State(); got != want {
		t.Fatalf("breaker %v, want %v", got, want)
	}
}

// open trips a fresh fixture's breaker: 20 failed requests (min_requests).
func (f *fixture) open(t *testing.T) {
	t.Helper()
	f.requests(t, 0, 20)
	f.wantState(t, Open)
}

func TestBreakerOpens(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.requests(t, 0, 19)
	f.wantState(t, Closed) // below min_requests, though all failed
	f.requests(t, 1, 0)    // 19 of 20 failed
	f.wantState(t, Open)

	g := newFixture(t, breakerOnly, urlA)
	g.requests(t, 10, 10)
	g.wantState(t, Closed) // exactly half: opens only above failure_ratio
	g.requests(t, 0, 1)
	g.wantState(t, Open)
	if got := g.ev.breakerStates(); !slices.Equal(got, []State{Open}) {
		t.Errorf("hook states %v", got)
	}

	// Failures older than the window do not count.
	h := newFixture(t, breakerOnly, urlA)
	h.requests(t, 0, 15)
	h.clock.Advance(31 * time.Second)
	h.requests(t, 0, 15)
	h.wantState(t, Closed)
	h.requests(t, 0, 5)
	h.wantState(t, Open)
}

func TestBreakerOpenRejectsWithRetryAfter(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.open(t)
	for _, tc := range []struct {
		after time.Duration
		want  time.Duration
	}{
		{0, 30 * time.Second},
		{12500 * time.Millisecond, 18 * time.Second}, // 17.5s rounded up
		{17 * time.Second, time.Second},              // 0.5s left: at least 1s
	} {
		f.clock.Advance(tc.after)
		inst, _, rej := f.Acquire()
		if inst != nil || rej.Reason != CircuitOpen || rej.RetryAfter != tc.want {
			t.Errorf("after +%v: Acquire = %v, %+v; want CircuitOpen, retry after %v", tc.after, inst, rej, tc.want)
		}
	}
	if n := f.Status().InFlight; n != 0 {
		t.Errorf("%d in flight after rejections", n)
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.open(t)
	f.clock.Advance(30 * time.Second)
	f.wantState(t, HalfOpen)

	probe := func() (*Instance, Ticket) {
		t.Helper()
		inst, tk := f.mustAcquire(t)
		if !tk.Probe() {
			t.Fatal("first request after open_for is not a probe")
		}
		if _, _, rej := f.Acquire(); rej.Reason != CircuitOpen || rej.RetryAfter != time.Second {
			t.Fatalf("second request while the probe is out: %+v, want CircuitOpen after 1s", rej)
		}
		return inst, tk
	}

	// A failed probe opens it for another open_for.
	inst, tk := probe()
	f.Release(inst, tk, Failure)
	f.wantState(t, Open)
	if _, _, rej := f.Acquire(); rej.RetryAfter != 30*time.Second {
		t.Fatalf("reopened: retry after %v, want 30s", rej.RetryAfter)
	}
	f.clock.Advance(30 * time.Second)

	// A neutral probe frees the slot and counts nothing.
	inst, tk = probe()
	f.Release(inst, tk, Neutral)
	f.wantState(t, HalfOpen)

	// probe_successes (2) successes in a row start the ramp.
	inst, tk = probe()
	f.Release(inst, tk, Success)
	f.wantState(t, HalfOpen)
	inst, tk = probe()
	f.Release(inst, tk, Success)
	f.wantState(t, Ramping)

	want := []State{Open, HalfOpen, Open, HalfOpen, Ramping}
	if got := f.ev.breakerStates(); !slices.Equal(got, want) {
		t.Errorf("hook states %v, want %v", got, want)
	}
}

// ramp brings a fresh fixture's breaker to the start of Ramping.
func (f *fixture) ramp(t *testing.T) {
	t.Helper()
	f.open(t)
	f.clock.Advance(30 * time.Second)
	for range 2 {
		f.do(t, Success) // probes
	}
	f.wantState(t, Ramping)
}

func TestBreakerRamp(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.ramp(t)
	for _, step := range []struct {
		state State
		pct   int
	}{{Ramping, 10}, {Ramping, 25}, {Ramping, 50}, {Closed, 100}} {
		admitted, prevAdmitted := 0, -100
		for i := range 1000 {
			inst, tk, rej := f.Acquire()
			if rej.Rejected() {
				if rej.Reason != CircuitOpen || rej.RetryAfter != time.Second {
					t.Fatalf("ramp rejection %+v, want CircuitOpen after 1s", rej)
				}
				continue
			}
			// Evenly spread: admissions are 100/pct requests apart.
			if gap := i - prevAdmitted; prevAdmitted >= 0 && gap != 100/step.pct {
				t.Fatalf("%d%%: admitted requests %d and %d", step.pct, prevAdmitted, i)
			}
			prevAdmitted = i
			admitted++
			f.Release(inst, tk, Success)
		}
		if want := step.pct * 10; admitted < want-10 || admitted > want+10 {
			t.Errorf("%d%% step: admitted %d of 1000", step.pct, admitted)
		}
		f.wantState(t, step.state)
		f.clock.Advance(config.DefaultBreakerRampStep)
	}
	want := []State{Open, HalfOpen, Ramping, Closed}
	if got := f.ev.breakerStates(); !slices.Equal(got, want) {
		t.Errorf("hook states %v, want %v", got, want)
	}
}

func TestBreakerReopensDuringRamp(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.ramp(t)
	f.clock.Advance(60 * time.Second) // 50% step
	failed := 0
	for failed < 20 {
		inst, tk, rej := f.Acquire()
		if rej.Rejected() {
			continue
		}
		f.Release(inst, tk, Failure)
		failed++
	}
	f.wantState(t, Open)
	if _, _, rej := f.Acquire(); rej.Reason != CircuitOpen || rej.RetryAfter != 30*time.Second {
		t.Fatalf("after reopening: %+v", rej)
	}
}

func TestBreakerIgnoresResultsFromBeforeTransition(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	// 30 requests still in flight when the breaker opens.
	var slow []Ticket
	for range 30 {
		_, tk := f.mustAcquire(t)
		slow = append(slow, tk)
	}
	f.open(t)
	f.clock.Advance(30 * time.Second)
	inst, probe := f.mustAcquire(t)
	for _, tk := range slow[:10] { // they fail now: not the probe's business
		f.Release(inst, tk, Failure)
	}
	f.wantState(t, HalfOpen)
	if _, _, rej := f.Acquire(); rej.Reason != CircuitOpen {
		t.Fatal("stale results released the probe slot")
	}
	f.Release(inst, probe, Success)
	f.do(t, Success)
	f.wantState(t, Ramping)
	for _, tk := range slow[10:] { // 20 failures from before: not in the ramp's window
		f.Release(inst, tk, Failure)
	}
	f.wantState(t, Ramping)
	if n := f.Status().InFlight; n != 0 {
		t.Errorf("%d in flight after all releases", n)
	}
}

func TestBreakerProbeIsExclusive(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA, urlB)
	f.open(t)
	for round := range 20 {
		f.clock.Advance(30 * time.Second)
		const n = 32
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			probes  []Ticket
			insts   []*Instance
			otherOK int
		)
		for range n {
			wg.Go(func() {
				<-start
				inst, tk, rej := f.Acquire()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case rej.Rejected():
				case tk.Probe():
					probes, insts = append(probes, tk), append(insts, inst)
				default:
					otherOK++
				}
			})
		}
		close(start)
		wg.Wait()
		if len(probes) != 1 || otherOK != 0 {
			t.Fatalf("round %d: %d probes and %d other requests admitted, want exactly 1 probe", round, len(probes), otherOK)
		}
		f.Release(insts[0], probes[0], Failure) // back to open for the next round
		f.wantState(t, Open)
	}
}

func TestBreakerWithoutRampClosesAtOnce(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		breakerOnly(b)
		b.CircuitBreaker.RampSteps = []int{100}
		b.CircuitBreaker.OpenFor = 10 * time.Second // the 20 failures stay inside the 30s window
	}, urlA)
	f.open(t)
	f.clock.Advance(10 * time.Second)
	f.requests(t, 2, 0)
	f.wantState(t, Closed)
	// The window was reset on closing: 19 new failures are below min_requests.
	f.requests(t, 0, 19)
	f.wantState(t, Closed)
}

func TestBreakerDisabled(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		breakerOnly(b)
		b.CircuitBreaker.Disabled = true
	}, urlA)
	f.requests(t, 0, 1000)
	f.wantState(t, Closed)
	if st := f.Status(); st.Breaker != Closed || st.InFlight != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestReleaseAtUsesTheGivenTime(t *testing.T) {
	f := newFixture(t, breakerOnly, urlA)
	f.clock.Advance(time.Hour)
	old := f.clock.Now().Add(-31 * time.Second) // outside the window
	for range 15 {
		inst, tk := f.mustAcquire(t)
		f.ReleaseAt(inst, tk, Failure, old)
	}
	f.requests(t, 0, 15)
	f.wantState(t, Closed) // the 15 old failures are not in the window
	for range 5 {
		inst, tk := f.mustAcquire(t)
		f.ReleaseAt(inst, tk, Failure, f.clock.Now())
	}
	f.wantState(t, Open)
}
