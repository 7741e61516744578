// Package limitertest is the behaviour test that every limiter engine runs:
// one body of cases, so the local, Redis and CRDT engines are held to the same
// contract (gateway/pipeline.Limiter and the algorithms' definitions in
// gateway/pipeline.LimitAlgorithm).
//
// An engine's test calls Run with a factory and Options:
//
//	func TestBehaviour(t *testing.T) {
//		limitertest.Run(t, func(t *testing.T, now func() time.Time) pipeline.Limiter {
//			l, err := mylimiter.New(engines.LimiterOptions{Now: now})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return l
//		}, limitertest.Options{UsesClock: true, Exact: true})
//	}
//
// The factory is called once per case. It must build a limiter that is not in
// divided mode (LimitDecision.Limit must equal Policy.Limit), and register any
// cleanup (Close) on the t it is given. Every case uses keys no other case or
// run uses, so a shared backend (one Redis) needs no flushing between cases.
//
// # What the cases assume
//
// Sliding windows are aligned to multiples of Window since the Unix epoch.
// Every decision satisfies: Limit == Policy.Limit; admitted ⇒ RetryAfter == 0,
// 0 <= Remaining < Limit, now < Reset <= now+Window; rejected ⇒ Remaining == 0,
// RetryAfter > 0, Reset == now+RetryAfter and, unless a reload lowered the
// limit, RetryAfter <= Window. Remaining is the number of further requests
// admitted at the same instant (so it counts down by one and is 0 on the last
// admission before a rejection). Invalid policies (Limit or Window <= 0) get an
// error wrapping pipeline.ErrNoDecision and a zero decision.
//
// Comparisons of instants allow a slack of 1ms (clock resolution; the
// sliding window admits again one tick after its window ends when the window
// is full). Real-clock cases allow 1s between the engine's clock and the test
// process's clock, and use windows of an hour or more so no refill or window
// boundary interferes (sliding-window cases wait, at most a few seconds, when
// the current hour is about to end).
package limitertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Factory builds the limiter for one case. now is the case's clock: the fake
// Clock's Now in the fake-clock cases, time.Now otherwise. An engine that
// cannot use it (Redis TIME) ignores it and sets Options.UsesClock false.
type Factory = func(t *testing.T, now func() time.Time) pipeline.Limiter

// Options say which cases an engine can run.
type Options struct {
	// UsesClock: the engine decides with the now func the factory receives.
	// Enables the fake-clock cases (exact window weighting, refill, RetryAfter
	// and Reset to the nanosecond-ish, idle keys). Without it only the cases
	// that hold with a real clock run.
	UsesClock bool
	// Exact: the engine admits exactly the policy's allowance even under
	// concurrent callers, and RetryAfter is the earliest instant a request is
	// admitted (not merely an upper bound). Single-node engines and engines
	// with one atomic store are exact; eventually consistent ones are not.
	Exact bool
}

const (
	slack = time.Millisecond // clock resolution allowance
	skew  = time.Second      // engine clock vs. this process's clock (real-clock cases)
)

// Run runs the behaviour cases against the limiters newLimiter builds.
func Run(t *testing.T, newLimiter Factory, opts Options) {
	t.Helper()
	prefix := fmt.Sprintf("limitertest/%d/", time.Now().UnixNano())
	t.Run("real_clock", func(t *testing.T) {
		for _, c := range realClockCases {
			t.Run(c.name, func(t *testing.T) {
				if c.needsExact && !opts.Exact {
					t.Skip("engine is not exact (Options.Exact is false)")
				}
				e := &env{t: t, opts: opts, prefix: prefix}
				e.l = newLimiter(t, time.Now)
				c.run(e)
			})
		}
	})
	t.Run("fake_clock", func(t *testing.T) {
		if !opts.UsesClock {
			t.Skip("engine does not decide with the injected clock (Options.UsesClock is false)")
		}
		for _, c := range fakeClockCases {
			t.Run(c.name, func(t *testing.T) {
				if c.needsExact && !opts.Exact {
					t.Skip("engine is not exact (Options.Exact is false)")
				}
				e := &env{t: t, opts: opts, prefix: prefix, clock: NewClock(Epoch)}
				e.l = newLimiter(t, e.clock.Now)
				c.run(e)
			})
		}
	})
}

type testCase struct {
	name       string
	needsExact bool
	run        func(e *env)
}

var realClockCases = []testCase{
	{name: "burst_then_reject/sliding_window", run: func(e *env) { e.burstThenReject(pipeline.SlidingWindow) }},
	{name: "burst_then_reject/gcra", run: func(e *env) { e.burstThenReject(pipeline.GCRA) }},
	{name: "distinct_keys/sliding_window", run: func(e *env) { e.distinctKeys(pipeline.SlidingWindow) }},
	{name: "distinct_keys/gcra", run: func(e *env) { e.distinctKeys(pipeline.GCRA) }},
	{name: "reload_keeps_count/sliding_window", run: (*env).reloadSliding},
	{name: "reload_keeps_count/gcra", run: (*env).reloadGCRA},
	{name: "concurrent/sliding_window", needsExact: true, run: func(e *env) { e.concurrent(pipeline.SlidingWindow) }},
	{name: "concurrent/gcra", needsExact: true, run: func(e *env) { e.concurrent(pipeline.GCRA) }},
	{name: "invalid_policy", run: (*env).invalidPolicy},
}

var fakeClockCases = []testCase{
	{name: "sliding_window/fresh_window", run: (*env).slidingFreshWindow},
	{name: "sliding_window/weighting", run: (*env).slidingWeighting},
	{name: "sliding_window/boundary_burst", run: (*env).slidingBoundaryBurst},
	{name: "gcra/burst_then_refill", run: (*env).gcraBurstThenRefill},
	{name: "idle_key_forgets/sliding_window", run: func(e *env) { e.idleKeyForgets(pipeline.SlidingWindow) }},
	{name: "idle_key_forgets/gcra", run: func(e *env) { e.idleKeyForgets(pipeline.GCRA) }},
	{name: "invariants/sliding_window", run: func(e *env) { e.invariants(pipeline.SlidingWindow) }},
	{name: "invariants/gcra", run: func(e *env) { e.invariants(pipeline.GCRA) }},
}

// env is one case's limiter, clock and helpers.
type env struct {
	t      *testing.T
	l      pipeline.Limiter
	clock  *Clock // nil in real-clock cases
	opts   Options
	prefix string
	// lowered: a reload lowered the limit, so RetryAfter may exceed Window.
	lowered bool
}

func (e *env) key(name string) string { return e.prefix + e.t.Name() + "#" + name }

func (e *env) now() time.Time {
	if e.clock != nil {
		return e.clock.Now()
	}
	return time.Now()
}

func (e *env) advance(d time.Duration) {
	e.t.Helper()
	if e.clock == nil {
		e.t.Fatal("advance in a real-clock case")
	}
	e.clock.Advance(d)
}

func policy(algo pipeline.LimitAlgorithm, limit int64, window time.Duration) pipeline.Policy {
	name := "sliding"
	if algo == pipeline.GCRA {
		name = "gcra"
	}
	return pipeline.Policy{Name: fmt.Sprintf("%s-%d-%v", name, limit, window), Limit: limit, Window: window, Algorithm: algo}
}

// decide calls Allow and checks the invariants every decision satisfies.
func (e *env) decide(key string, p pipeline.Policy) pipeline.LimitDecision {
	e.t.Helper()
	before := e.now()
	d, err := e.l.Allow(context.Background(), key, p)
	after := e.now()
	if err != nil {
		e.t.Fatalf("Allow(%q, %+v): unexpected error %v", key, p, err)
	}
	lo, hi := before, after
	if e.clock == nil {
		lo, hi = lo.Add(-skew), hi.Add(skew)
	}
	if d.Limit != p.Limit {
		e.t.Errorf("Limit = %d, want %d", d.Limit, p.Limit)
	}
	if d.Allowed {
		if d.RetryAfter != 0 {
			e.t.Errorf("admitted with RetryAfter %v, want 0", d.RetryAfter)
		}
		if d.Remaining < 0 || d.Remaining >= p.Limit {
			e.t.Errorf("admitted with Remaining %d, want in [0, %d)", d.Remaining, p.Limit)
		}
		if !d.Reset.After(lo) || d.Reset.After(hi.Add(p.Window+slack)) {
			e.t.Errorf("admitted with Reset %v, want in (%v, %v]", d.Reset, lo, hi.Add(p.Window))
		}
		return d
	}
	if d.Remaining != 0 {
		e.t.Errorf("rejected with Remaining %d, want 0", d.Remaining)
	}
	if d.RetryAfter <= 0 {
		e.t.Errorf("rejected with RetryAfter %v, want > 0", d.RetryAfter)
	}
	if !e.lowered && d.RetryAfter > p.Window+slack {
		e.t.Errorf("rejected with RetryAfter %v, want <= window %v", d.RetryAfter, p.Window)
	}
	if d.Reset.Before(lo.Add(d.RetryAfter-slack)) || d.Reset.After(hi.Add(d.RetryAfter+slack)) {
		e.t.Errorf("rejected with Reset %v, want now (%v..%v) + RetryAfter %v", d.Reset, before, after, d.RetryAfter)
	}
	return d
}

// admit expects an admission with the given Remaining (-1: any).
func (e *env) admit(key string, p pipeline.Policy, remaining int64) pipeline.LimitDecision {
	e.t.Helper()
	d := e.decide(key, p)
	if !d.Allowed {
		e.t.Fatalf("%s: rejected (RetryAfter %v), want admitted with Remaining %d", key, d.RetryAfter, remaining)
	}
	if remaining >= 0 && d.Remaining != remaining {
		e.t.Errorf("%s: Remaining = %d, want %d", key, d.Remaining, remaining)
	}
	return d
}

// reject expects a rejection.
func (e *env) reject(key string, p pipeline.Policy) pipeline.LimitDecision {
	e.t.Helper()
	d := e.decide(key, p)
	if d.Allowed {
		e.t.Fatalf("%s: admitted (Remaining %d), want rejected", key, d.Remaining)
	}
	return d
}

// countdown expects n admissions with Remaining first, first-1, ...
func (e *env) countdown(key string, p pipeline.Policy, n int, first int64) []pipeline.LimitDecision {
	e.t.Helper()
	out := make([]pipeline.LimitDecision, n)
	for i := range n {
		out[i] = e.admit(key, p, first-int64(i))
	}
	return out
}

// awayFromBoundary waits, when the real clock is within a few seconds of a
// multiple of w, until it is safely past it, so a real-clock sliding-window
// case runs inside one fixed window.
func awayFromBoundary(w time.Duration) {
	const margin = 5 * time.Second
	el := time.Duration(time.Now().UnixNano() % int64(w))
	switch {
	case el < margin:
		time.Sleep(margin - el)
	case w-el < margin:
		time.Sleep(w - el + margin)
	}
}

// ---- real-clock cases ----

// burstThenReject: a fresh key admits exactly Limit, counting Remaining down
// to 0, then rejects with RetryAfter in (0, Window] and Reset = now+RetryAfter.
func (e *env) burstThenReject(algo pipeline.LimitAlgorithm) {
	p := policy(algo, 5, time.Hour)
	if algo == pipeline.SlidingWindow {
		awayFromBoundary(p.Window)
	}
	k := e.key("k")
	ds := e.countdown(k, p, 5, 4)
	switch algo {
	case pipeline.SlidingWindow:
		// Reset of an admission is the end of the current fixed window.
		for _, d := range ds {
			if !d.Reset.Equal(ds[0].Reset) || d.Reset.UnixNano()%int64(p.Window) != 0 {
				e.t.Errorf("sliding-window Reset %v, want the window end %v (a multiple of the window)", d.Reset, ds[0].Reset)
			}
		}
	case pipeline.GCRA:
		// Reset of an admission is TAT, which moves by T = Window/Limit per request.
		for i := 1; i < len(ds); i++ {
			if got := ds[i].Reset.Sub(ds[i-1].Reset); got < p.Window/5-slack || got > p.Window/5+slack {
				e.t.Errorf("GCRA Reset moved by %v between admissions, want T = %v", got, p.Window/5)
			}
		}
	}
	r1 := e.reject(k, p)
	r2 := e.reject(k, p)
	// Rejections are not counted: the second one points at (about) the same instant.
	if d := r2.Reset.Sub(r1.Reset); d < -skew || d > skew {
		e.t.Errorf("second rejection Reset %v moved from %v: rejections must not count", r2.Reset, r1.Reset)
	}
}

// distinctKeys: exhausting one key leaves another untouched.
func (e *env) distinctKeys(algo pipeline.LimitAlgorithm) {
	p := policy(algo, 3, time.Hour)
	if algo == pipeline.SlidingWindow {
		awayFromBoundary(p.Window)
	}
	a, b := e.key("a"), e.key("b")
	e.countdown(a, p, 3, 2)
	e.reject(a, p)
	e.countdown(b, p, 3, 2)
	e.reject(b, p)
	e.reject(a, p)
}

// reloadSliding: changing the Limit of a key's policy keeps its count.
func (e *env) reloadSliding() {
	awayFromBoundary(time.Hour)
	k := e.key("k")
	p10 := policy(pipeline.SlidingWindow, 10, time.Hour)
	p8, p20, p5 := p10, p10, p10
	p8.Limit, p20.Limit, p5.Limit = 8, 20, 5
	e.countdown(k, p10, 6, 9) // count 6
	e.admit(k, p8, 1)         // count 7 of 8
	e.admit(k, p8, 0)         // count 8 of 8
	e.reject(k, p8)
	e.admit(k, p20, 11) // count 9 of 20
	e.lowered = true
	e.reject(k, p5)    // 9 > 5
	e.admit(k, p10, 0) // count 10 of 10
	e.reject(k, p10)
}

// reloadGCRA: the same for GCRA (the outstanding requests are kept when the
// emission interval changes with the Limit).
func (e *env) reloadGCRA() {
	k := e.key("k")
	p10 := policy(pipeline.GCRA, 10, time.Hour)
	p20, p5 := p10, p10
	p20.Limit, p5.Limit = 20, 5
	e.countdown(k, p10, 6, 9) // count 6
	e.admit(k, p20, 13)       // count 7 of 20
	e.lowered = true
	e.reject(k, p5)           // 7 > 5
	e.countdown(k, p10, 3, 2) // counts 8, 9, 10 of 10
	e.reject(k, p10)
}

// concurrent: 8 goroutines x 1000 calls on one key with limit 500 admit
// exactly 500.
func (e *env) concurrent(algo pipeline.LimitAlgorithm) {
	const (
		workers = 8
		calls   = 1000
		limit   = 500
	)
	p := policy(algo, limit, 24*time.Hour)
	if algo == pipeline.SlidingWindow {
		awayFromBoundary(p.Window)
	}
	k := e.key("k")
	var (
		admitted atomic.Int64
		bad      atomic.Int64
		firstErr atomic.Value
		start    = make(chan struct{})
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			<-start
			for range calls {
				d, err := e.l.Allow(context.Background(), k, p)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else if d.RetryAfter <= 0 || d.Remaining != 0 {
					bad.Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		e.t.Fatalf("Allow: %v", err)
	}
	if got := admitted.Load(); got != limit {
		e.t.Errorf("%d concurrent calls admitted %d, want exactly %d", workers*calls, got, limit)
	}
	if n := bad.Load(); n > 0 {
		e.t.Errorf("%d rejections without RetryAfter > 0 and Remaining 0", n)
	}
	e.reject(k, p)
}

// invalidPolicy: Limit or Window <= 0 is an error wrapping ErrNoDecision,
// with a zero decision.
func (e *env) invalidPolicy() {
	for _, p := range []pipeline.Policy{
		{Name: "zero-limit", Limit: 0, Window: time.Minute},
		{Name: "negative-limit", Limit: -1, Window: time.Minute},
		{Name: "zero-window", Limit: 10, Window: 0},
		{Name: "negative-window", Limit: 10, Window: -time.Second, Algorithm: pipeline.GCRA},
	} {
		d, err := e.l.Allow(context.Background(), e.key(p.Name), p)
		if !errors.Is(err, pipeline.ErrNoDecision) {
			e.t.Errorf("%s: err = %v, want one wrapping ErrNoDecision", p.Name, err)
		}
		if d != (pipeline.LimitDecision{}) {
			e.t.Errorf("%s: decision %+v returned with an error, want the zero value", p.Name, d)
		}
	}
}

// ---- fake-clock cases ----

// slidingFreshWindow: exact Reset and RetryAfter in a fresh window, and a
// retry after RetryAfter is admitted.
func (e *env) slidingFreshWindow() {
	p := policy(pipeline.SlidingWindow, 5, time.Minute)
	k := e.key("k")
	e.advance(10 * time.Second) // 10s into window [Epoch, Epoch+1m)
	for _, d := range e.countdown(k, p, 5, 4) {
		if want := Epoch.Add(time.Minute); !d.Reset.Equal(want) {
			e.t.Errorf("Reset = %v, want window end %v", d.Reset, want)
		}
	}
	r := e.reject(k, p)
	// The window is full (5 of 5) and its weight stays 1 until it ends: the next
	// admission is just after Epoch+1m.
	e.wantRetryAfter(r, 50*time.Second)
	e.retryAt(k, p, r)
}

// wantRetryAfter checks a rejection's RetryAfter against the exact wait: never
// shorter, and (Exact) no longer than the exact wait plus slack.
func (e *env) wantRetryAfter(r pipeline.LimitDecision, want time.Duration) {
	e.t.Helper()
	if r.RetryAfter < want || (e.opts.Exact && r.RetryAfter > want+slack) {
		e.t.Errorf("RetryAfter = %v, want %v (+ clock resolution)", r.RetryAfter, want)
	}
}

// retryAt checks that r.RetryAfter is needed (Exact: still rejected one slack
// before) and enough (admitted once it has passed).
func (e *env) retryAt(k string, p pipeline.Policy, r pipeline.LimitDecision) pipeline.LimitDecision {
	e.t.Helper()
	waited := time.Duration(0)
	if e.opts.Exact && r.RetryAfter > slack {
		e.advance(r.RetryAfter - slack)
		waited = r.RetryAfter - slack
		e.reject(k, p)
	}
	e.advance(r.RetryAfter - waited)
	return e.admit(k, p, -1)
}

// slidingWeighting: limit 10 per 10s. 10 admitted in window 0; at 25% into
// window 1 the effective count is 10*0.75 = 7.5, so 3 more are admitted
// (7.5, 8.5, 9.5 < 10) and the 4th is rejected until 30% (10*0.7+3 = 10,
// still not < 10; just after it is). At 50%: 10*0.5+3 = 8, 2 more. At the
// start of window 2: 5 (window 1's count) weighs fully, 5 more.
func (e *env) slidingWeighting() {
	p := policy(pipeline.SlidingWindow, 10, 10*time.Second)
	k := e.key("k")
	e.advance(time.Second)
	e.countdown(k, p, 10, 9)
	e.reject(k, p)

	e.clock.Set(Epoch.Add(12500 * time.Millisecond))
	e.countdown(k, p, 3, 2)
	r := e.reject(k, p)
	e.wantRetryAfter(r, 500*time.Millisecond) // effective drops below 10 just after 30% of the window

	e.clock.Set(Epoch.Add(15 * time.Second))
	e.countdown(k, p, 2, 1)
	e.reject(k, p)

	e.clock.Set(Epoch.Add(20 * time.Second))
	e.countdown(k, p, 5, 4)
	e.reject(k, p)
}

// slidingBoundaryBurst is the chapter's "99 at 12:00:59, 99 at 12:01:01"
// scaled to limit 10 per 10s: 9 at 9.9s are admitted; of 9 at 10.1s only 2
// are (9*0.99 = 8.91, then 9.91, then 10.91 >= 10), where fixed windows would
// admit all 18 in 200ms.
func (e *env) slidingBoundaryBurst() {
	p := policy(pipeline.SlidingWindow, 10, 10*time.Second)
	k := e.key("k")
	e.clock.Set(Epoch.Add(9900 * time.Millisecond))
	e.countdown(k, p, 9, 9)
	e.clock.Set(Epoch.Add(10100 * time.Millisecond))
	admitted := 0
	for range 9 {
		if d := e.decide(k, p); d.Allowed {
			admitted++
		}
	}
	if admitted != 2 {
		e.t.Errorf("just after the boundary %d of 9 admitted, want 2", admitted)
	}
}

// gcraBurstThenRefill: limit 10 per 10s is T = 1s: a burst of 10, then one
// request per second, a partial interval refilling nothing, and never more
// than a burst of 10 however long the key rests.
func (e *env) gcraBurstThenRefill() {
	p := policy(pipeline.GCRA, 10, 10*time.Second)
	k := e.key("k")
	e.advance(500 * time.Millisecond)
	t0 := e.now()
	for i, d := range e.countdown(k, p, 10, 9) {
		// Reset (TAT, when the bucket is full again) moves by T per admission.
		if want := t0.Add(time.Duration(i+1) * time.Second); !d.Reset.Equal(want) {
			e.t.Errorf("admission %d: Reset = %v, want %v", i+1, d.Reset, want)
		}
	}
	r := e.reject(k, p)
	e.wantRetryAfter(r, time.Second) // T

	e.advance(time.Second)
	e.admit(k, p, 0)
	e.reject(k, p)
	e.advance(500 * time.Millisecond)
	r = e.reject(k, p)
	e.wantRetryAfter(r, 500*time.Millisecond)
	e.advance(500 * time.Millisecond)
	e.admit(k, p, 0)

	e.advance(3 * time.Second)
	e.countdown(k, p, 3, 2)
	e.reject(k, p)

	e.advance(20 * time.Second) // rests twice as long as a full refill needs
	e.countdown(k, p, 10, 9)
	e.reject(k, p)
}

// idleKeyForgets: two windows after its last request a key is fresh again,
// whether or not the engine has dropped its state.
func (e *env) idleKeyForgets(algo pipeline.LimitAlgorithm) {
	p := policy(algo, 4, 10*time.Second)
	k := e.key("k")
	e.advance(3 * time.Second)
	e.countdown(k, p, 4, 3)
	e.reject(k, p)
	e.advance(2*p.Window + slack)
	e.countdown(k, p, 4, 3)
	e.reject(k, p)
}

// invariants drives a key with a deterministic pseudo-random trace of bursts
// and pauses and checks, besides decide's per-decision invariants:
//   - within a burst at one instant Remaining counts down by one, and (Exact)
//     a rejection comes only right after Remaining 0 or another rejection;
//   - (Exact) after a rejection, waiting RetryAfter is needed and enough;
//   - sliding window: no fixed window admits more than Limit;
//   - GCRA: no span of time d admits more than Limit + d/T.
func (e *env) invariants(algo pipeline.LimitAlgorithm) {
	const limit = 7
	p := policy(algo, limit, 10*time.Second)
	k := e.key("k")
	rng := rand.New(rand.NewPCG(1, 2))
	perWindow := map[int64]int{}
	var admits []time.Time

	record := func(d pipeline.LimitDecision) {
		if !d.Allowed {
			return
		}
		now := e.now()
		perWindow[now.UnixNano()/int64(p.Window)]++
		admits = append(admits, now)
	}
	for step := 0; step < 300; step++ {
		e.advance(time.Duration(rng.Int64N(int64(p.Window / 3))))
		burst := 1 + rng.IntN(limit+2)
		var last *pipeline.LimitDecision
		for range burst {
			d := e.decide(k, p)
			record(d)
			if last != nil {
				switch {
				case last.Allowed && d.Allowed && d.Remaining != last.Remaining-1:
					e.t.Fatalf("step %d: Remaining went %d -> %d within one instant", step, last.Remaining, d.Remaining)
				case e.opts.Exact && last.Allowed && !d.Allowed && last.Remaining != 0:
					e.t.Fatalf("step %d: rejected right after an admission with Remaining %d", step, last.Remaining)
				case !last.Allowed && d.Allowed:
					e.t.Fatalf("step %d: admitted right after a rejection at the same instant", step)
				}
			}
			last = &d
		}
		if e.opts.Exact && !last.Allowed && rng.IntN(3) == 0 {
			record(e.retryAt(k, p, *last))
		}
	}

	switch algo {
	case pipeline.SlidingWindow:
		for w, n := range perWindow {
			if n > limit {
				e.t.Errorf("fixed window %d admitted %d, want <= %d", w, n, limit)
			}
		}
	case pipeline.GCRA:
		for i := range admits {
			for j := i + 1; j < len(admits); j++ {
				span := admits[j].Sub(admits[i])
				allowance := float64(limit) + float64(span)*limit/float64(p.Window) + 1e-6
				if float64(j-i+1) > allowance {
					e.t.Fatalf("%d admissions in %v, want <= Limit + span/T = %.3f", j-i+1, span, allowance)
				}
			}
		}
	}
	if len(admits) < 100 {
		e.t.Errorf("trace admitted only %d requests; the case exercises too little", len(admits))
	}
}
