package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

// waitGoroutines waits (bounded) until the goroutine count is at most want
// and returns the last count seen.
func waitGoroutines(want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recoverDecisions retries Allow until Redis answers again (bounded) and
// returns how long that took.
func recoverDecisions(t *testing.T, l *Limiter, key string, p pipeline.Policy) time.Duration {
	t.Helper()
	began := time.Now()
	var err error
	for time.Since(began) < 15*time.Second {
		if _, err = l.Allow(context.Background(), key, p); err == nil {
			return time.Since(began)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no decision %v after Redis came back: %v", time.Since(began), err)
	return 0
}

func errorCount(t *testing.T, l *Limiter, kind string) float64 {
	t.Helper()
	return counterValue(t, l.m.errs[kind])
}

// TestFrozenRedis: against a Redis that accepts connections but never
// answers, 1000 concurrent decisions are all "no decision" within the
// deadline, nothing piles up, and decisions resume after a thaw.
func TestFrozenRedis(t *testing.T) {
	r := redistest.Start(t)
	t.Logf("Redis: %s", r.Kind())
	l := newTestLimiter(t, r.URL(), func(o *engines.LimiterOptions) { o.Registerer = prometheus.NewRegistry() })
	const deadline = 25 * time.Millisecond
	p := pipeline.Policy{Name: "frozen", Limit: 1 << 40, Window: time.Hour, Deadline: deadline}
	key := fmt.Sprintf("frozen/%d", time.Now().UnixNano())
	// Warm the pool with a generous deadline: a loaded host (and Docker's
	// port proxy) can make a healthy round trip miss 25 ms, which is not
	// what this test is about.
	warm := p
	warm.Deadline = time.Second
	for range 20 {
		mustAllow(t, l, key, warm)
	}
	baseline := runtime.NumGoroutine()

	r.Freeze()
	const n = 1000
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			d, err := l.Allow(context.Background(), key, p)
			lat[i] = time.Since(t0)
			if err == nil {
				err = fmt.Errorf("got a decision %+v from a frozen Redis", d)
			} else if d != (pipeline.LimitDecision{}) {
				err = fmt.Errorf("decision %+v returned with error %w", d, err)
			} else if errors.Is(err, pipeline.ErrNoDecision) {
				err = nil
			}
			errs[i] = err
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	all := time.Since(began)
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("frozen Redis: %v", errors.Join(errs[:min(len(errs), 5)]...))
	}
	slices.Sort(lat)
	t.Logf("%d concurrent calls on a frozen Redis, deadline %v: all ErrNoDecision; latency p50 %v, p99 %v, max %v; all done in %v",
		n, deadline, lat[n/2].Round(time.Microsecond), lat[n*99/100].Round(time.Microsecond), lat[n-1].Round(time.Microsecond), all.Round(time.Millisecond))
	const margin = 200 * time.Millisecond
	if lat[n-1] > deadline+margin {
		t.Errorf("slowest no-decision took %v, want <= deadline %v + %v", lat[n-1], deadline, margin)
	}
	// Each call is counted once: as a timeout, or as breaker_open when it
	// started after the breaker had tripped (see breaker.go).
	if got := errorCount(t, l, errTimeout) + errorCount(t, l, errBreaker); got < n {
		t.Errorf("gatelab_ratelimit_redis_errors_total{kind=timeout|breaker_open} = %v, want >= %d", got, n)
	}
	// Still frozen: whatever the calls started has ended.
	if g := waitGoroutines(baseline, 5*time.Second); g > baseline {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines while Redis stays frozen, baseline %d:\n%s", g, baseline, buf[:runtime.Stack(buf, true)])
	} else {
		t.Logf("goroutines back to %d (baseline %d)", g, baseline)
	}

	// Without a deadline the engine's socket timeouts bound the call.
	p0 := p
	p0.Deadline = 0
	t0 := time.Now()
	if _, err := l.Allow(context.Background(), key, p0); !errors.Is(err, pipeline.ErrNoDecision) {
		t.Errorf("no deadline, frozen Redis: err = %v, want ErrNoDecision", err)
	}
	if el := time.Since(t0); el > 2*DefaultTimeout+margin {
		t.Errorf("no deadline, frozen Redis: took %v, want <= 2 x %v + %v", el, DefaultTimeout, margin)
	} else {
		t.Logf("no deadline, frozen Redis: no decision after %v", el.Round(time.Millisecond))
	}

	r.Thaw()
	t.Logf("after thaw: decisions again within %v", recoverDecisions(t, l, key, p).Round(time.Millisecond))
}

// TestKilledRedis: with Redis gone decisions fail fast (connection refused,
// not the deadline); after a restart on the same URL the same limiter decides
// again, without being rebuilt.
func TestKilledRedis(t *testing.T) {
	r := redistest.Start(t)
	t.Logf("Redis: %s", r.Kind())
	l := newTestLimiter(t, r.URL(), func(o *engines.LimiterOptions) { o.Registerer = prometheus.NewRegistry() })
	p := pipeline.Policy{Name: "killed", Limit: 3, Window: time.Hour, Deadline: 2 * time.Second}
	key := fmt.Sprintf("killed/%d", time.Now().UnixNano())
	mustAllow(t, l, key, p)

	r.Kill()
	var slowest time.Duration
	for range 50 {
		t0 := time.Now()
		d, err := l.Allow(context.Background(), key, p)
		el := time.Since(t0)
		slowest = max(slowest, el)
		if !errors.Is(err, pipeline.ErrNoDecision) || d != (pipeline.LimitDecision{}) {
			t.Fatalf("killed Redis: %+v, %v; want ErrNoDecision", d, err)
		}
	}
	t.Logf("killed Redis: 50 calls, all ErrNoDecision, slowest %v (deadline %v)", slowest.Round(time.Microsecond), p.Deadline)
	if slowest > 250*time.Millisecond {
		t.Errorf("a call on a killed Redis took %v, want fast failures (<= 250ms, far below the deadline)", slowest)
	}
	if got := errorCount(t, l, errConnection); got < 1 {
		t.Errorf("gatelab_ratelimit_redis_errors_total{kind=\"connection\"} = %v, want >= 1", got)
	}

	r.Restart()
	t.Logf("after restart: decisions again within %v", recoverDecisions(t, l, key, p).Round(time.Millisecond))
	// The new server is empty: the key counts afresh (the recovery call
	// above was its first request).
	mustAllow(t, l, key, p)
	mustAllow(t, l, key, p)
	if d := mustAllow(t, l, key, p); d.Allowed {
		t.Errorf("4th request after restart admitted with limit 3")
	}
}

// TestClosed: a closed limiter answers "no decision".
func TestClosed(t *testing.T) {
	l := newTestLimiter(t, "redis://127.0.0.1:1/0", nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, err := l.Allow(context.Background(), "k", pipeline.Policy{Limit: 1, Window: time.Second})
	if !errors.Is(err, pipeline.ErrNoDecision) {
		t.Errorf("Allow after Close: %v, want ErrNoDecision", err)
	}
}

// TestBreakerFailsFast: once BreakerTrips decisions in a row have timed out
// on a frozen Redis, further decisions fail at once without a round trip
// (counted as breaker_open, not timeout), and a probe after BreakerOpen
// brings decisions back once Redis answers. Only the frozen phase uses the
// tight deadline, where every call times out whatever the machine's load;
// the warm-up and the recovery use a generous one, so a Redis that has just
// started or a busy machine cannot fail them.
func TestBreakerFailsFast(t *testing.T) {
	r := redistest.Start(t)
	l := newTestLimiter(t, r.URL(), func(o *engines.LimiterOptions) { o.Registerer = prometheus.NewRegistry() })
	p := pipeline.Policy{Name: "breaker", Limit: 1 << 40, Window: time.Hour, Deadline: 10 * time.Millisecond}
	warm := p
	warm.Deadline = 5 * time.Second
	key := fmt.Sprintf("breaker/%d", time.Now().UnixNano())
	mustAllow(t, l, key, warm) // dials and loads the script

	r.Freeze()
	const n = 60
	began := time.Now()
	for i := range n {
		_, err := l.Allow(context.Background(), key, p)
		switch {
		case !errors.Is(err, pipeline.ErrNoDecision):
			t.Fatalf("frozen Redis: call %d: err = %v, want ErrNoDecision", i, err)
		case i < BreakerTrips && errors.Is(err, errBreakerOpen):
			t.Fatalf("frozen Redis: call %d failed fast before %d timeouts in a row", i, BreakerTrips)
		}
	}
	elapsed := time.Since(began)
	timeouts, fast := errorCount(t, l, errTimeout), errorCount(t, l, errBreaker)
	t.Logf("%d sequential decisions on a frozen Redis in %v: %v timed out, %v failed fast", n, elapsed.Round(time.Millisecond), timeouts, fast)
	// Every call is one or the other. Past the tripping calls only probes go
	// to Redis, at most one per open period elapsed in this run: a quiet
	// machine fits the whole loop in one, a busy one may stretch it.
	probes := 1 + int(elapsed/BreakerOpen)
	if fast == 0 || timeouts+fast != n || timeouts > float64(BreakerTrips+probes) {
		t.Errorf("timeouts %v, fail-fast %v of %d: want every call one or the other and at most %d timeouts (%d trips + %d probes)",
			timeouts, fast, n, BreakerTrips+probes, BreakerTrips, probes)
	}
	r.Thaw()
	t.Logf("after thaw: decisions again within %v", recoverDecisions(t, l, key, warm).Round(time.Millisecond))
}
