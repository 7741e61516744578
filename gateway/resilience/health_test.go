package resilience

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func probes(f *fixture, inst *Instance, ok bool, n int) {
	for range n {
		f.ObserveProbe(inst, ok)
	}
}

func TestActiveHealth(t *testing.T) {
	f := newFixture(t, noBreaker, urlA, urlB)
	a := f.byURL(t, urlA)

	probes(f, a, false, 2)
	if !a.Healthy() {
		t.Fatal("out after 2 failed probes, want 3")
	}
	f.ObserveProbe(a, true) // breaks the run
	probes(f, a, false, 2)
	if !a.Healthy() {
		t.Fatal("failures not in a row took it out")
	}
	f.ObserveProbe(a, false)
	if a.Healthy() || f.Healthy() != 1 {
		t.Fatalf("still in rotation after 3 failed probes in a row (Healthy=%d)", f.Healthy())
	}
	for range 10 {
		if inst, tk := f.mustAcquire(t); inst == a {
			t.Fatal("picked an instance out of rotation")
		} else {
			f.Release(inst, tk, Success)
		}
	}
	f.ObserveProbe(a, true)
	if a.Healthy() {
		t.Fatal("back after 1 good probe, want 2")
	}
	f.ObserveProbe(a, true)
	if !a.Healthy() || f.Healthy() != 2 {
		t.Fatal("not back after 2 good probes in a row")
	}
	want := []string{
		urlA + " down: 3 failed health probes in a row",
		urlA + " up: 2 good health probes in a row",
	}
	if strings.Join(f.ev.health, "\n") != strings.Join(want, "\n") {
		t.Errorf("hooks:\n%s\nwant:\n%s", strings.Join(f.ev.health, "\n"), strings.Join(want, "\n"))
	}
	if st := f.Status().Instances[0]; !st.Healthy || st.Reason != "2 good health probes in a row" {
		t.Errorf("status %+v", st)
	}
}

func TestPassiveEjectionComesBackThroughProbes(t *testing.T) {
	f := newFixture(t, noBreaker, urlA)
	a := f.byURL(t, urlA)
	probes(f, a, true, 5) // good probes before the ejection must not count after it

	for range 4 {
		f.do(t, Failure)
	}
	f.do(t, Success) // breaks the run
	for range 4 {
		f.do(t, Failure)
	}
	f.do(t, Neutral) // not the backend's fault: neither breaks nor extends the run
	if !a.Healthy() {
		t.Fatal("ejected after failures that were not 5 in a row")
	}
	f.do(t, Failure)
	if a.Healthy() {
		t.Fatal("not ejected after 5 failed requests in a row")
	}
	if _, _, rej := f.Acquire(); rej.Reason != NoHealthy {
		t.Fatalf("Acquire = %v, want NoHealthy", rej.Reason)
	}
	f.clock.Advance(time.Hour) // time alone does not bring it back while probes run
	f.ObserveProbe(a, true)
	if f.Healthy() != 0 {
		t.Fatal("back after time and 1 probe; want 2 probes after the ejection")
	}
	f.ObserveProbe(a, true)
	if f.Healthy() != 1 {
		t.Fatal("not back after 2 good probes")
	}
	// The passive count starts again from zero.
	for range 4 {
		f.do(t, Failure)
	}
	if !a.Healthy() {
		t.Fatal("passive count not reset when it came back")
	}
}

func TestPassiveEjectionWithoutProbesEndsAfterEjectFor(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		b.HealthCheck.Disabled = true
		b.CircuitBreaker.Disabled = true
	}, urlA, urlB)
	a := f.byURL(t, urlA)
	for i := 0; a.Healthy(); i++ {
		if i == 100 {
			t.Fatal("A not ejected after 100 requests")
		}
		inst, tk := f.mustAcquire(t)
		f.Release(inst, tk, map[bool]Result{true: Failure, false: Success}[inst == a])
	}
	f.clock.Advance(10*time.Second - time.Nanosecond)
	if f.Healthy() != 1 {
		t.Fatal("back before eject_for (10s)")
	}
	f.clock.Advance(time.Nanosecond)
	if f.Healthy() != 2 || !a.Healthy() {
		t.Fatal("not back after eject_for")
	}
	if last := f.ev.health[len(f.ev.health)-1]; last != urlA+" up: ejected for 10s" {
		t.Errorf("last hook %q", last)
	}
}

func TestFlapDamping(t *testing.T) {
	f := newFixture(t, noBreaker, urlA)
	a := f.byURL(t, urlA)
	flap := func() {
		probes(f, a, false, 3)
		probes(f, a, true, 2)
		f.clock.Advance(10 * time.Second)
	}
	flap()
	flap()
	if !a.Healthy() {
		t.Fatal("two flaps: should be back after 2 good probes")
	}
	// Third time out within the minute: held down.
	probes(f, a, false, 3)
	for i := range 3 { // probes at 0s, 10s, 20s of health: not yet 30s
		f.ObserveProbe(a, true)
		if a.Healthy() {
			t.Fatalf("back after %d good probes (%ds healthy) while flapping", i+1, i*10)
		}
		f.clock.Advance(10 * time.Second)
	}
	if st := f.Status().Instances[0]; !strings.Contains(st.Reason, "flapping") {
		t.Errorf("reason %q does not say flapping", st.Reason)
	}
	// A failed probe restarts the hold-down.
	f.ObserveProbe(a, false)
	for range 3 {
		f.ObserveProbe(a, true)
		f.clock.Advance(10 * time.Second)
	}
	if a.Healthy() {
		t.Fatal("a failed probe did not restart the hold-down")
	}
	f.ObserveProbe(a, true) // 30s after the first good probe of the run
	if !a.Healthy() {
		t.Fatal("not back after 30s of passing probes")
	}

	// Outs spread over more than a minute are not flapping.
	g := newFixture(t, noBreaker, urlA)
	b := g.byURL(t, urlA)
	for range 3 {
		probes(g, b, false, 3)
		probes(g, b, true, 2)
		if !b.Healthy() {
			t.Fatal("damped although the outs were more than a minute apart")
		}
		g.clock.Advance(31 * time.Second)
	}
}

func TestFlapDampingWithoutProbes(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		b.HealthCheck.Disabled = true
		b.CircuitBreaker.Disabled = true
	}, urlA)
	a := f.byURL(t, urlA)
	eject := func() {
		t.Helper()
		f.requests(t, 0, 5)
		if a.Healthy() {
			t.Fatal("not ejected after 5 failed requests")
		}
	}
	for range 2 {
		eject()
		f.clock.Advance(10 * time.Second)
		if f.Healthy() != 1 {
			t.Fatal("not back after eject_for")
		}
	}
	eject() // third within a minute: out for flap_holddown (30s), not eject_for
	f.clock.Advance(29 * time.Second)
	if f.Healthy() != 0 {
		t.Fatal("flapping instance back before flap_holddown")
	}
	f.clock.Advance(time.Second)
	if f.Healthy() != 1 {
		t.Fatal("flapping instance not back after flap_holddown")
	}
}

// probeGoroutines counts the goroutines Start created that still exist
// (started or not).
func probeGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "created by github.com/gatelab/gatelab/gateway/resilience.(*Backend).Start")
}

// noProbeGoroutines fails unless the probe goroutines are gone. Stop has
// waited for them; one may still be between its deferred Done and its exit,
// so this yields until they are gone (bounded).
func noProbeGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for probeGoroutines() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d probe goroutines left after Stop", probeGoroutines())
		}
		runtime.Gosched()
	}
}

func TestProbingOverHTTP(t *testing.T) {
	var failing atomic.Bool
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer sick.Close()
	fine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer fine.Close()

	bc := backendConfig(func(b *config.Backend) {
		b.HealthCheck.Interval = 5 * time.Millisecond
		b.HealthCheck.Timeout = time.Second
	}, sick.URL, fine.URL)
	type change struct {
		url     string
		healthy bool
	}
	changes := make(chan change, 16)
	b, err := NewBackend(bc.Name, SettingsFrom(bc), InstancesFrom(bc), nil, nil, Hooks{
		InstanceHealth: func(_, url string, healthy bool, _ string) { changes <- change{url, healthy} },
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Start(sick.Client())
	defer b.Stop()
	wait := func(want change) {
		t.Helper()
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("health change %+v, want %+v", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no health change to %+v", want)
		}
	}
	failing.Store(true)
	wait(change{sick.URL, false})
	if b.Healthy() != 1 {
		t.Fatalf("Healthy = %d, want 1", b.Healthy())
	}
	failing.Store(false)
	wait(change{sick.URL, true})
	b.Stop()
	noProbeGoroutines(t)
	select {
	case c := <-changes:
		t.Fatalf("unexpected change %+v (the healthy instance must never leave)", c)
	default:
	}
}

func TestStartStop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	bc := backendConfig(nil, srv.URL, srv.URL+"/")
	b, err := NewBackend(bc.Name, SettingsFrom(bc), InstancesFrom(bc), nil, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	b.Stop() // before Start: nothing to do
	b = must(NewBackend(bc.Name, SettingsFrom(bc), InstancesFrom(bc), nil, nil, Hooks{}))
	b.Start(nil)
	b.Start(nil) // already started: no second set of goroutines
	if n := probeGoroutines(); n != 2 {
		t.Errorf("%d probe goroutines, want one per instance (2)", n)
	}
	b.Stop()
	b.Stop()
	noProbeGoroutines(t)
	b.Start(nil) // stopped for good
	if n := probeGoroutines(); n != 0 {
		t.Errorf("Start after Stop started %d goroutines", n)
	}

	off := backendConfig(func(b *config.Backend) { b.HealthCheck.Disabled = true }, srv.URL)
	d := must(NewBackend(off.Name, SettingsFrom(off), InstancesFrom(off), nil, nil, Hooks{}))
	d.Start(nil)
	if n := probeGoroutines(); n != 0 {
		t.Errorf("health checks disabled, yet %d probe goroutines", n)
	}
	d.Stop()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
