package resilience

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func TestSettingsFrom(t *testing.T) {
	bc := backendConfig(func(b *config.Backend) { b.Balance = LeastOutstanding }, urlA)
	got := SettingsFrom(bc)
	want := Settings{
		Balance:     LeastOutstanding,
		MaxInFlight: config.DefaultBackendMaxInFlight,
		Health: HealthSettings{
			Path: "/healthz", Interval: 10 * time.Second, Timeout: 2 * time.Second,
			UnhealthyAfter: 3, HealthyAfter: 2, PassiveFailures: 5,
			EjectFor: 10 * time.Second, FlapHolddown: 30 * time.Second,
		},
		Breaker: BreakerSettings{
			Window: 30 * time.Second, MinRequests: 20, FailureRatio: 0.5, OpenFor: 30 * time.Second,
			ProbeSuccesses: 2, RampSteps: []int{10, 25, 50, 100}, RampStep: config.DefaultBreakerRampStep,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SettingsFrom =\n%+v\nwant\n%+v", got, want)
	}
	// A backend without defaults applied balances round robin.
	if got := SettingsFrom(config.Backend{}).Balance; got != RoundRobin || got.String() != "round_robin" {
		t.Errorf("SettingsFrom without balance: %v", got)
	}
}

func TestNewBackendRejectsBadURL(t *testing.T) {
	for _, u := range []string{"://x", "10.0.0.1:8080", "ftp://h:1"} {
		if _, err := NewBackend("b", Settings{}, []InstanceSpec{{URL: u}}, nil, nil, Hooks{}); err == nil {
			t.Errorf("NewBackend accepted instance %q", u)
		}
	}
	b := must(NewBackend("b", Settings{}, []InstanceSpec{{URL: "https://[::1]:8443/", Weight: 0}}, nil, nil, Hooks{}))
	in := b.Instances()[0]
	if in.Scheme != "https" || in.Host != "[::1]:8443" || in.Weight != 1 || in.probeURL != "https://[::1]:8443" {
		t.Errorf("instance %+v", in)
	}
}

func TestBulkhead(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		b.MaxInFlight = 5
		b.CircuitBreaker.Disabled = true
	}, urlA, urlB)
	type held struct {
		inst *Instance
		tk   Ticket
	}
	var hold []held
	for range 5 {
		inst, tk := f.mustAcquire(t)
		hold = append(hold, held{inst, tk})
	}
	for range 3 {
		if inst, _, rej := f.Acquire(); inst != nil || rej.Reason != BulkheadFull || rej.RetryAfter != time.Second {
			t.Fatalf("6th request in flight: %v, %+v; want BulkheadFull", inst, rej)
		}
	}
	if st := f.Status(); st.InFlight != 5 || st.Instances[0].InFlight+st.Instances[1].InFlight != 5 {
		t.Fatalf("status %+v", st)
	}
	f.Release(hold[0].inst, hold[0].tk, Success)
	f.mustAcquire(t) // one slot freed: exactly one more
	if _, _, rej := f.Acquire(); rej.Reason != BulkheadFull {
		t.Fatalf("over the limit again: %+v", rej)
	}
}

func TestBulkheadUnderConcurrency(t *testing.T) {
	const limit = 8
	f := newFixture(t, func(b *config.Backend) {
		b.MaxInFlight = limit
		b.CircuitBreaker.Disabled = true
	}, urlA, urlB)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		inNow int
		peak  int
	)
	for range 16 {
		wg.Go(func() {
			for range 2000 {
				inst, tk, rej := f.Acquire()
				if rej.Rejected() {
					if rej.Reason != BulkheadFull {
						t.Errorf("rejected %v", rej.Reason)
					}
					continue
				}
				mu.Lock()
				inNow++
				peak = max(peak, inNow)
				mu.Unlock()
				mu.Lock()
				inNow--
				mu.Unlock()
				f.Release(inst, tk, Success)
			}
		})
	}
	wg.Wait()
	if peak > limit {
		t.Errorf("%d requests in flight at once, limit %d", peak, limit)
	}
	if n := f.Status().InFlight; n != 0 {
		t.Errorf("%d in flight after all releases", n)
	}
}

func TestReloadCarriesState(t *testing.T) {
	mod := func(b *config.Backend) { breakerOnly(b) }
	f := newFixture(t, mod, urlA, urlB, urlC)
	a, b := f.byURL(t, urlA), f.byURL(t, urlB)
	probes(f, a, false, 3) // A out
	probes(f, b, false, 2) // B two failures into its run
	// One request in flight on C, then the breaker opens.
	var cInst *Instance
	var cTk Ticket
	for i := 0; cInst == nil; i++ {
		if i == 100 {
			t.Fatal("C never picked")
		}
		inst, tk := f.mustAcquire(t)
		if inst.URL == urlC {
			cInst, cTk = inst, tk
		} else {
			f.Release(inst, tk, Success)
		}
	}
	for i := 0; f.State() != Open; i++ {
		if i == 40 {
			t.Fatal("breaker not open after 40 failures")
		}
		f.do(t, Failure)
	}

	// Reload: same instances plus D, same breaker settings.
	bc := backendConfig(mod, urlA, urlB, urlC, urlD)
	n := must(NewBackend("users", SettingsFrom(bc), InstancesFrom(bc), f.Backend, f.clock.Now, f.ev.hooks()))
	g := &fixture{Backend: n, clock: f.clock, ev: f.ev}
	if g.byURL(t, urlA).Healthy() || !g.byURL(t, urlD).Healthy() || g.Healthy() != 3 {
		t.Fatalf("health after reload: %+v", g.Status())
	}
	g.ObserveProbe(g.byURL(t, urlB), false) // third in a row, counted across the reload
	if g.byURL(t, urlB).Healthy() {
		t.Error("probe failure run lost on reload")
	}
	if got := g.byURL(t, urlC).InFlight(); got != 1 {
		t.Errorf("C in flight after reload = %d, want 1", got)
	}
	if st := g.Status(); st.InFlight != 1 || st.Breaker != Open {
		t.Errorf("reloaded status: in flight %d, breaker %v; want 1, open", st.InFlight, st.Breaker)
	}
	// The old request ends on the old Backend; the shared counters follow.
	f.Release(cInst, cTk, Failure)
	if got := g.byURL(t, urlC).InFlight(); got != 0 || g.Status().InFlight != 0 {
		t.Errorf("in flight after the old request ended: instance %d, backend %d", got, g.Status().InFlight)
	}

	// Changed breaker settings: a fresh, closed breaker.
	bc2 := backendConfig(func(b *config.Backend) { mod(b); b.CircuitBreaker.OpenFor = time.Minute }, urlA)
	h := must(NewBackend("users", SettingsFrom(bc2), InstancesFrom(bc2), n, f.clock.Now, Hooks{}))
	if h.State() != Closed {
		t.Errorf("breaker with new settings is %v, want closed", h.State())
	}
	if h.Instances()[0].Healthy() {
		t.Error("A's health lost on the second reload")
	}
}

func TestReloadCarriesPassiveCount(t *testing.T) {
	f := newFixture(t, noBreaker, urlA)
	f.requests(t, 0, 4) // one short of passive_failures
	bc := backendConfig(noBreaker, urlA)
	g := &fixture{Backend: must(NewBackend("users", SettingsFrom(bc), InstancesFrom(bc), f.Backend, f.clock.Now, Hooks{})), clock: f.clock}
	g.do(t, Failure)
	if g.Healthy() != 0 {
		t.Fatal("passive failure run lost on reload")
	}
}

func TestReloadDisablingProbesLetsEjectedReturn(t *testing.T) {
	f := newFixture(t, noBreaker, urlA, urlB)
	probes(f, f.byURL(t, urlA), false, 3)
	bc := backendConfig(func(b *config.Backend) { noBreaker(b); b.HealthCheck.Disabled = true }, urlA, urlB)
	g := must(NewBackend("users", SettingsFrom(bc), InstancesFrom(bc), f.Backend, f.clock.Now, Hooks{}))
	if g.Healthy() != 1 {
		t.Fatal("A back at once")
	}
	f.clock.Advance(10 * time.Second)
	if g.Healthy() != 2 {
		t.Fatal("A, out when probes were turned off, never comes back")
	}
}

func TestConcurrentUse(t *testing.T) {
	for _, bal := range []Balance{RoundRobin, LeastOutstanding} {
		f := newFixture(t, func(b *config.Backend) {
			b.Balance = bal
			b.MaxInFlight = 16
			b.CircuitBreaker.MinRequests = 50
		}, urlA, urlB, urlC, urlD)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 3000 {
					inst, tk, rej := f.Acquire()
					if rej.Rejected() {
						continue
					}
					r := Success
					if (i+w)%7 == 0 {
						r = Failure
					}
					f.Release(inst, tk, r)
					if i%500 == 0 {
						f.ObserveProbe(inst, i%1000 != 0)
						f.clock.Advance(time.Second)
						_ = f.Status()
					}
				}
			})
		}
		wg.Wait()
		st := f.Status()
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight at the end", bal, st.InFlight)
		}
		for _, in := range st.Instances {
			if in.InFlight != 0 {
				t.Errorf("%s: %s has %d in flight at the end", bal, in.URL, in.InFlight)
			}
		}
	}
}

func TestAcquireReleaseDoNotAllocate(t *testing.T) {
	for _, bal := range []Balance{RoundRobin, LeastOutstanding} {
		f := newFixture(t, func(b *config.Backend) { b.Balance = bal }, urlA, urlB, urlC, urlD)
		probes(f, f.byURL(t, urlB), false, 3) // skipping costs nothing either
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			inst, tk, rej := f.Acquire()
			if rej.Rejected() {
				t.Fatalf("rejected %v", rej.Reason)
			}
			r := Success
			if i++; i%3 == 0 {
				r = Failure // counted in the window, below the ratio
			}
			f.Release(inst, tk, r)
		})
		if allocs != 0 {
			t.Errorf("%s: Acquire+Release allocate %v times, want 0", bal, allocs)
		}
	}
	f := newFixture(t, nil, urlA, urlB)
	now := f.clock.Now()
	if allocs := testing.AllocsPerRun(1000, func() {
		inst, tk, _ := f.Acquire()
		f.ReleaseAt(inst, tk, Success, now)
	}); allocs != 0 {
		t.Errorf("Acquire+ReleaseAt allocate %v times", allocs)
	}
	// Rejections are allocation-free too.
	f = newFixture(t, breakerOnly, urlA)
	f.open(t)
	if allocs := testing.AllocsPerRun(1000, func() { f.Acquire() }); allocs != 0 {
		t.Errorf("open-breaker rejection allocates %v times", allocs)
	}
}

func benchmarkAcquireRelease(b *testing.B, bal Balance, at bool) {
	bc := backendConfig(func(c *config.Backend) {
		c.Balance = bal
		c.MaxInFlight = 1 << 20
	}, urlA, urlB, urlC, urlD)
	be := must(NewBackend(bc.Name, SettingsFrom(bc), InstancesFrom(bc), nil, nil, Hooks{}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now() // ReleaseAt: stands for the caller's own end-of-request clock read
		for pb.Next() {
			inst, tk, rej := be.Acquire()
			if rej.Rejected() {
				b.Fatal(rej.Reason)
			}
			if at {
				be.ReleaseAt(inst, tk, Success, now)
			} else {
				be.Release(inst, tk, Success)
			}
		}
	})
}

func BenchmarkAcquireRelease(b *testing.B) {
	b.Run("RoundRobin", func(b *testing.B) { benchmarkAcquireRelease(b, RoundRobin, false) })
	b.Run("LeastOutstanding", func(b *testing.B) { benchmarkAcquireRelease(b, LeastOutstanding, false) })
	// ReleaseAt with the time the caller read anyway: no clock read here.
	b.Run("RoundRobinReleaseAt", func(b *testing.B) { benchmarkAcquireRelease(b, RoundRobin, true) })
}
