package node_test

// Fail modes end to end: the redis limiter behind a real gateway node, with
// a real Redis that the test freezes (docker pause / SIGSTOP), kills and
// brings back, while requests go through both server engines.

import (
	"context"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/redistest"
	"github.com/gatelab/gatelab/node"
)

// failModeDeadlineMS is the decision deadline of the test's routes:
// GATELAB_FAILMODE_DEADLINE_MS, default 20 (see startRedisNode). Setting it
// to 5 measures the production default.
var failModeDeadlineMS = func() int {
	if v, err := strconv.Atoi(os.Getenv("GATELAB_FAILMODE_DEADLINE_MS")); err == nil && v > 0 {
		return v
	}
	return 20
}()

// failModeRate is the open-model request rate (per second) of the latency
// measurements while Redis is frozen.
const failModeRate = 200

func startRedisNode(t *testing.T, ups map[string]string, server, redisURL string) *gw {
	t.Helper()
	cfg := testConfig(t, ups)
	cfg.Engines.Limiter = "redis"
	lim, err := cfg.Limiter.With("redis", "url", redisURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limiter = lim
	// 20 ms rather than the 5 ms default: on a loaded 2-core CI machine
	// (and through Docker's port proxy) a few healthy round trips take
	// longer than 5 ms, which would make the limiting checks below flaky.
	// The fail-open latency is measured against this deadline.
	for i := range cfg.Routes {
		cfg.Routes[i].RateLimitDeadlineMS = failModeDeadlineMS
	}
	// The same route and tier with a deadline no busy host misses: the
	// checks of limiting itself (headers, the 101st request) go through
	// it, so only the latency measurements depend on the tight deadline.
	for _, r := range cfg.Routes {
		if r.ID == "users-v2" {
			r.ID, r.Pattern, r.RateLimitDeadlineMS = "users-v2-patient", "/api/v2/patient/*", 2000
			cfg.Routes = append(cfg.Routes, r)
			break
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logBuf := &syncBuffer{}
	n, err := node.Start(cfg, node.Options{Server: server, Router: "trie", Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", AccessLog: logBuf})
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return &gw{t: t, base: "http://" + n.Addr(), n: n, log: logBuf, root: repoRoot(t)}
}

// paced sends n requests on a fixed schedule (rate per second, open model:
// a request is sent at its slot whether or not earlier ones returned) and
// returns every status and the sorted latencies measured from each
// request's intended send time, so a stalled gateway cannot hide queueing.
func paced(t *testing.T, g *gw, method, path string, hdr map[string]string, rate, n int) (map[int]int, []time.Duration, http.Header) {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	lat := make([]time.Duration, 0, n)
	var lastHeader http.Header
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; i < n; i++ {
		intended := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(intended)) // the pacer's schedule, not synchronisation
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(method, g.base+path, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			res, err := client.Do(req)
			el := time.Since(intended)
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			mu.Lock()
			statuses[res.StatusCode]++
			if res.Header.Get("RateLimit-Policy") == "" {
				statuses[-res.StatusCode]++
			}
			lat = append(lat, el)
			lastHeader = res.Header
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return statuses, lat, lastHeader
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[(len(lat)*99)/100]
}

func TestRedisFailModes(t *testing.T) {
	r := redistest.Start(t)
	ups := startUpstreams(t)
	for _, server := range []string{"nethttp", "fasthttp"} {
		t.Run(server, func(t *testing.T) {
			g := startRedisNode(t, ups, server, r.URL())
			userTok := "Bearer " + g.token("fm_user_"+server, nil, 10*time.Minute)
			users := map[string]string{"Authorization": userTok}

			// Warm the node's Redis pool as any running node would be.
			warm := map[string]string{"Authorization": "Bearer " + g.token("fm_warm_"+server, nil, 10*time.Minute)}
			paced(t, g, "GET", "/api/v2/users/me", warm, failModeRate, 8)

			// Healthy Redis: limited with headers; the 101st request is 429
			// (through the patient route: same tier, same counter).
			inOneMinuteWindow(10 * time.Second)
			st, _, h := paced(t, g, "GET", "/api/v2/patient/me", users, failModeRate, 100)
			if st[200] != 100 || st[-200] != 0 || h.Get("RateLimit-Policy") == "" {
				t.Fatalf("healthy: statuses %v, RateLimit-Policy %q", st, h.Get("RateLimit-Policy"))
			}
			if rr := g.do("GET", "/api/v2/patient/me", users, nil); rr.status != 429 || rr.header.Get("Retry-After") == "" {
				t.Fatalf("101st: %d Retry-After %q", rr.status, rr.header.Get("Retry-After"))
			}

			// Frozen Redis: fail-open route answers 200 without RateLimit
			// headers, within the decision deadline (plus the upstream);
			// fail-closed route answers 503 with Retry-After.
			// Baseline in the same run: the same open-model load on a route
			// without a limit, so the figure below can be read as deadline
			// plus the gateway's ordinary latency on this machine.
			open := map[string]string{"Authorization": "Bearer " + g.token("fm_open_"+server, nil, 10*time.Minute)}
			_, base, _ := paced(t, g, "GET", "/test/open/x", nil, failModeRate, failModeRate)
			r.Freeze()
			st, lat, h := paced(t, g, "GET", "/api/v2/users/me", open, failModeRate, 2*failModeRate)
			t.Logf("%s, redis frozen, fail_open at %d/s open model: statuses %v p50 %v p99 %v max %v (unlimited route, Redis healthy: p50 %v p99 %v); decision deadline %dms",
				server, failModeRate, st, lat[len(lat)/2], p99(lat), lat[len(lat)-1], base[len(base)/2], p99(base), failModeDeadlineMS)
			if st[200] != 2*failModeRate {
				t.Errorf("fail open while frozen: statuses %v, want all 200", st)
			}
			if h.Get("RateLimit-Policy") != "" || h.Get("X-RateLimit-Remaining") != "" {
				t.Errorf("fail open sent rate-limit headers without a decision: %v", h)
			}
			// The budget: fail-open answers within the decision
			// deadline + 5 ms at p99, measured from the intended send time
			// (open model), with the same run's p99 of an unlimited route
			// added as this machine's ordinary gateway latency. The verdict
			// is logged (a quiet host meets it: see the README); the test
			// fails only at three times the budget, which still catches a
			// deadline that is not enforced (the Redis client's own timeouts
			// are hundreds of ms) without turning a loaded CI host's noise
			// into a failure.
			p, budget := p99(lat), time.Duration(failModeDeadlineMS+5)*time.Millisecond
			verdict := "met"
			if p > budget+p99(base) {
				verdict = "MISSED (host load?)"
			}
			t.Logf("%s: issue budget p99 <= deadline + 5ms (+ baseline p99 %v): %s", server, p99(base), verdict)
			if !raceEnabled && p > 3*budget+p99(base) {
				t.Errorf("fail open p99 %v while Redis is frozen: over three times the budget %v (deadline %dms + 5ms) + baseline p99 %v; is the decision deadline enforced?", p, budget, failModeDeadlineMS, p99(base))
			}
			pay := map[string]string{"Authorization": "Bearer " + g.token("fm_pay_"+server, nil, 10*time.Minute)}
			st, _, h = paced(t, g, "POST", "/api/v2/payments/charge", pay, failModeRate, 40)
			if st[503] != 40 || h.Get("Retry-After") == "" {
				t.Errorf("fail closed while frozen: statuses %v Retry-After %q; want all 503", st, h.Get("Retry-After"))
			}

			// Thawed: normal limiting again, no restart of anything.
			r.Thaw()
			waitFor(t, 10*time.Second, func() bool {
				rr := g.do("POST", "/api/v2/payments/charge", pay, nil)
				return rr.status == 200 && rr.header.Get("RateLimit-Policy") != ""
			}, "payments limited normally after thaw")

			// Killed: fail modes again, fast; restarted: back to normal.
			r.Kill()
			if rr := g.do("GET", "/api/v2/users/me", open, nil); rr.status != 200 || rr.header.Get("RateLimit-Policy") != "" {
				t.Errorf("fail open while killed: %d %q", rr.status, rr.header.Get("RateLimit-Policy"))
			}
			if rr := g.do("POST", "/api/v2/payments/charge", pay, nil); rr.status != 503 {
				t.Errorf("fail closed while killed: %d", rr.status)
			}
			r.Restart()
			waitFor(t, 15*time.Second, func() bool {
				rr := g.do("GET", "/api/v2/users/me", open, nil)
				return rr.status == 200 && rr.header.Get("RateLimit-Policy") != ""
			}, "users limited normally after Redis restart")
		})
	}
}

// waitFor polls cond (a real request each time) until it holds or the
// bounded deadline passes.
func waitFor(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for: %s", what)
}
