package redis

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/faultproxy"
	"github.com/gatelab/gatelab/internal/redistest"
)

// Network faults between the limiter and a real Redis: the limiter is built
// as the gateway builds it (engines.NewLimiter("redis", ...), default pool
// and timeouts) with its URL pointing at a faultproxy in front of the
// server, and the proxy cuts, slows or blackholes real TCP connections.

const (
	stormWorkers = 8
	stormCalls   = 200
	// stormPace spreads the calls over 500ms, so a storm spans several of
	// the breaker's open periods and its probes meet the fault too.
	stormPace = 2500 * time.Microsecond
	// The slack over the deadline a failed decision may take: scheduling on a
	// loaded machine, the context timer firing, the socket noticing it.
	networkMargin = 60 * time.Millisecond
	// recoverWithin bounds the wait for decisions after a fault heals: the
	// breaker's open period (100ms) and go-redis's redial, with room.
	recoverWithin = 5 * time.Second
)

// networkFault is one fault and how it heals.
type networkFault struct {
	deadline time.Duration // Policy.Deadline during the fault
	maxCall  time.Duration // no failed decision may take longer
	inject   func(*faultproxy.Proxy)
	heal     func(*faultproxy.Proxy)
}

// TestNetworkBlip: the connection to Redis is cut (every connection reset,
// new ones reset too), then restored.
func TestNetworkBlip(t *testing.T) {
	testNetworkFault(t, networkFault{
		deadline: 10 * time.Millisecond,
		maxCall:  10*time.Millisecond + networkMargin,
		inject:   (*faultproxy.Proxy).Cut,
		heal:     (*faultproxy.Proxy).Restore,
	})
}

// TestNetworkSlowRedis: every chunk takes 250ms each way, so a reply comes
// 500ms after its request, far past a 5ms deadline; then the latency goes.
// A decision that waited for its reply would take 500ms or more: the bound
// on a failed decision sits halfway, which tells waiting from giving up at
// the deadline however busy the machine is.
func TestNetworkSlowRedis(t *testing.T) {
	const latency = 250 * time.Millisecond
	testNetworkFault(t, networkFault{
		deadline: 5 * time.Millisecond,
		maxCall:  latency,
		inject:   func(p *faultproxy.Proxy) { p.SetLatency(latency) },
		heal:     func(p *faultproxy.Proxy) { p.SetLatency(0) },
	})
}

// TestNetworkBlackhole: connections stay open but nothing gets through and
// nothing fails, then the partition heals.
func TestNetworkBlackhole(t *testing.T) {
	testNetworkFault(t, networkFault{
		deadline: 10 * time.Millisecond,
		maxCall:  10*time.Millisecond + networkMargin,
		inject:   (*faultproxy.Proxy).Blackhole,
		heal:     (*faultproxy.Proxy).Restore,
	})
}

// networkLimiter starts a Redis, a proxy in front of it and a limiter built
// by name, as the gateway builds it, on the proxy's address.
func networkLimiter(t *testing.T) (*faultproxy.Proxy, *Limiter) {
	t.Helper()
	r := redistest.Start(t)
	p := faultproxy.Start(t, r.Addr())
	el, err := engines.NewLimiter("redis", engines.LimiterOptions{
		Registerer: prometheus.NewRegistry(),
		Settings:   section(t, Settings{URL: "redis://" + p.Addr() + "/0"}),
	})
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	l := el.(*Limiter)
	t.Cleanup(func() { l.Close() })
	t.Logf("Redis %s behind proxy %s; pool size %d", r.Kind(), p.Addr(), DefaultPoolSize())
	return p, l
}

func testNetworkFault(t *testing.T, f networkFault) {
	p, l := networkLimiter(t)
	key := fmt.Sprintf("net/%s/%d", t.Name(), time.Now().UnixNano())
	p0 := pipeline.Policy{Name: "net", Limit: 1 << 40, Window: time.Hour, Deadline: f.deadline}

	// Healthy: every decision made, through the proxy, within the deadline
	// (a generous one, so a loaded machine cannot fail this part).
	healthy := p0
	healthy.Deadline = time.Second
	lat := make([]time.Duration, 100)
	for i := range lat {
		t0 := time.Now()
		if d := mustAllow(t, l, key, healthy); !d.Allowed {
			t.Fatalf("healthy decision %d rejected: %+v", i, d)
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	t.Logf("healthy: %d decisions, p50 %v, p99 %v", len(lat), pct(lat, 50), pct(lat, 99))
	baseConns := p.Conns()
	baseline := runtime.NumGoroutine() - 2*baseConns
	before := errorKinds(t, l)

	f.inject(p)
	s := storm(t, l, p, key, p0)
	after := errorKinds(t, l)
	for k := range after {
		after[k] -= before[k]
	}
	t.Logf("fault: %d decisions from %d goroutines, deadline %v: all ErrNoDecision in %v; p50 %v, p99 %v, max %v; errors %v",
		stormCalls, stormWorkers, f.deadline, s.took.Round(time.Millisecond),
		pct(s.lat, 50), pct(s.lat, 99), pct(s.lat, 100), after)
	if len(s.tried) > 0 {
		t.Logf("fault: %d calls went to Redis (the rest failed fast, breaker open): p50 %v, max %v",
			len(s.tried), pct(s.tried, 50), pct(s.tried, 100))
	}
	t.Logf("fault: goroutines less the proxy's: baseline %d, peak %d (whole process peak %d); proxy connections before %d, peak %d",
		baseline, s.peakLimiterG, s.peakG, baseConns, s.peakConns)
	if slowest := pct(s.lat, 100); slowest > f.maxCall {
		t.Errorf("slowest failed decision took %v, want <= %v (deadline %v)", slowest, f.maxCall, f.deadline)
	}
	var counted float64
	for _, n := range after {
		counted += n
	}
	if counted != stormCalls {
		t.Errorf("errors counted %v (%v), want %d: one per failed decision", counted, after, stormCalls)
	}
	// Bounded: the callers, at most one dialling goroutine per pool slot
	// (go-redis refilling its idle connections), the monitor and a little
	// slack; never one per failed decision. The proxy's own goroutines (two
	// per connection) are not the limiter's: they are subtracted, and the
	// connections the proxy still holds for abandoned ones (a blackhole
	// keeps them, a slow link until their late reply) are bounded apart.
	bound := baseline + stormWorkers + DefaultPoolSize() + 1 + 4
	if s.peakLimiterG > bound {
		t.Errorf("%d goroutines (less the proxy's) at peak, want <= %d (baseline %d + %d callers + pool %d + 5)",
			s.peakLimiterG, bound, baseline, stormWorkers, DefaultPoolSize())
	}
	if maxConns := baseConns + 4*DefaultPoolSize(); s.peakConns > maxConns {
		t.Errorf("%d connections through the proxy at peak (%d before), want <= %d: the pool does not bound them",
			s.peakConns, baseConns, maxConns)
	}

	// After the fault: decisions come back and stay back. The deadline here
	// is the healthy phase's generous one: what is checked is the breaker
	// and the pool, not how fast this machine answers at this moment.
	f.heal(p)
	var (
		err       error
		recovered time.Duration
		began     = time.Now()
	)
	for {
		if _, err = l.Allow(context.Background(), key, healthy); err == nil {
			recovered = time.Since(began)
			break
		}
		if time.Since(began) > recoverWithin {
			t.Fatalf("no decision %v after the fault healed: %v", recoverWithin, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("healed: decisions again after %v", recovered.Round(time.Millisecond))

	// Counting is still exact on the same limiter: a fresh key admits
	// exactly its limit.
	const limit = 10
	exact := pipeline.Policy{Name: "exact", Limit: limit, Window: time.Hour, Deadline: time.Second}
	fresh := key + "/fresh"
	admitted := 0
	for range limit + 5 {
		if mustAllow(t, l, fresh, exact).Allowed {
			admitted++
		}
	}
	if admitted != limit {
		t.Errorf("after the fault: fresh key with limit %d admitted %d of %d", limit, admitted, limit+5)
	}
	// And every decision is made again: a breaker stuck open, or one that
	// opens again on the first slow reply, would fail some of them fast.
	errsBefore := errorKinds(t, l)
	failed := 0
	for range 50 {
		if _, err := l.Allow(context.Background(), key, healthy); err != nil {
			failed++
		}
	}
	errsAfter := errorKinds(t, l)
	for k := range errsAfter {
		errsAfter[k] -= errsBefore[k]
	}
	if failed > 0 {
		t.Errorf("healed: %d of 50 decisions failed (errors %v), want none", failed, errsAfter)
	}
}

type stormResult struct {
	lat          []time.Duration // sorted
	tried        []time.Duration // sorted: the calls that went to Redis (not failed fast by the breaker)
	took         time.Duration
	peakG        int // goroutines, whole process
	peakLimiterG int // goroutines less the proxy's (two per connection)
	peakConns    int // proxy connections
}

// storm makes stormCalls decisions from stormWorkers goroutines, call i
// starting no earlier than i x stormPace; each must be "no decision"
// (ErrNoDecision, zero decision). Meanwhile a monitor samples the goroutine
// count and the proxy's connections.
func storm(t *testing.T, l *Limiter, p *faultproxy.Proxy, key string, pol pipeline.Policy) stormResult {
	t.Helper()
	var (
		res  stormResult
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make([]error, stormCalls)
	)
	res.lat = make([]time.Duration, stormCalls)
	fast := make([]bool, stormCalls)
	stop := make(chan struct{})
	monitored := make(chan struct{})
	go func() {
		defer close(monitored)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			g, c := runtime.NumGoroutine(), p.Conns()
			res.peakG = max(res.peakG, g)
			res.peakLimiterG = max(res.peakLimiterG, g-2*c)
			res.peakConns = max(res.peakConns, c)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	began := time.Now()
	for range stormWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= stormCalls {
					return
				}
				time.Sleep(time.Until(began.Add(time.Duration(i) * stormPace))) // pacing only
				t0 := time.Now()
				d, err := l.Allow(context.Background(), key, pol)
				res.lat[i] = time.Since(t0)
				fast[i] = errors.Is(err, errBreakerOpen)
				switch {
				case err == nil:
					errs[i] = fmt.Errorf("call %d: got a decision %+v during the fault", i, d)
				case !errors.Is(err, pipeline.ErrNoDecision):
					errs[i] = fmt.Errorf("call %d: %w, want ErrNoDecision", i, err)
				case d != (pipeline.LimitDecision{}):
					errs[i] = fmt.Errorf("call %d: decision %+v with error %w", i, d, err)
				}
			}
		})
	}
	wg.Wait()
	res.took = time.Since(began)
	close(stop)
	<-monitored
	var bad []error
	for _, err := range errs {
		if err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("during the fault, %d of %d calls wrong, e.g.:\n%v", len(bad), stormCalls, errors.Join(bad[:min(5, len(bad))]...))
	}
	for i, f := range fast {
		if !f {
			res.tried = append(res.tried, res.lat[i])
		}
	}
	slices.Sort(res.tried)
	slices.Sort(res.lat)
	return res
}

// errorKinds reads gatelab_ratelimit_redis_errors_total by kind.
func errorKinds(t *testing.T, l *Limiter) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, k := range []string{errTimeout, errConnection, errScript, errOther, errBreaker} {
		m[k] = errorCount(t, l, k)
	}
	return m
}

// pct is the q-th percentile of sorted (q = 100: the maximum).
func pct(sorted []time.Duration, q int) time.Duration {
	i := min(len(sorted)-1, len(sorted)*q/100)
	return sorted[i].Round(time.Microsecond)
}
