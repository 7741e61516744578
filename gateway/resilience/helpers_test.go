package resilience

import (
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// fakeClock is a settable clock; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backendConfig is a backend as the config package delivers it: defaults
// applied (the chapter's numbers), then mod.
func backendConfig(mod func(*config.Backend), urls ...string) config.Backend {
	c := config.Config{Backends: []config.Backend{{Name: "users"}}}
	for _, u := range urls {
		c.Backends[0].Instances = append(c.Backends[0].Instances, config.Instance{URL: u})
	}
	if mod != nil {
		mod(&c.Backends[0])
	}
	c.ApplyDefaults()
	return c.Backends[0]
}

// events records hook calls.
type events struct {
	mu      sync.Mutex
	health  []string // "url up|down reason"
	breaker []State
}

func (e *events) hooks() Hooks {
	return Hooks{
		InstanceHealth: func(_, url string, healthy bool, reason string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			s := url + " down"
			if healthy {
				s = url + " up"
			}
			e.health = append(e.health, s+": "+reason)
		},
		BreakerState: func(_ string, s State) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.breaker = append(e.breaker, s)
		},
	}
}

func (e *events) breakerStates() []State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]State(nil), e.breaker...)
}

// fixture is a Backend on a fake clock with recorded hooks.
type fixture struct {
	*Backend
	clock *fakeClock
	ev    *events
}

func newFixture(t testing.TB, mod func(*config.Backend), urls ...string) *fixture {
	t.Helper()
	bc := backendConfig(mod, urls...)
	clock, ev := newClock(), &events{}
	b, err := NewBackend(bc.Name, SettingsFrom(bc), InstancesFrom(bc), nil, clock.Now, ev.hooks())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Backend: b, clock: clock, ev: ev}
}

// mustAcquire fails the test unless Acquire admits.
func (f *fixture) mustAcquire(t testing.TB) (*Instance, Ticket) {
	t.Helper()
	inst, tk, rej := f.Acquire()
	if rej.Rejected() {
		t.Fatalf("Acquire rejected: %v (retry after %v), breaker %v", rej.Reason, rej.RetryAfter, f.State())
	}
	return inst, tk
}

// do runs one admitted request with result r.
func (f *fixture) do(t testing.TB, r Result) {
	t.Helper()
	inst, tk := f.mustAcquire(t)
	f.Release(inst, tk, r)
}

// byURL returns the instance with the given URL.
func (f *fixture) byURL(t testing.TB, url string) *Instance {
	t.Helper()
	for _, in := range f.Instances() {
		if in.URL == url {
			return in
		}
	}
	t.Fatalf("no instance %s", url)
	return nil
}

const (
	urlA = "http://10.0.0.1:8080"
	urlB = "http://10.0.0.2:8080"
	urlC = "http://10.0.0.3:8080"
	urlD = "http://10.0.0.4:8080"
)

func noBreaker(b *config.Backend) { b.CircuitBreaker.Disabled = true }
