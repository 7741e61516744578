package bench

import (
	"math"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/harness/load"
	"github.com/gatelab/gatelab/reports"
)

// fakeTrial is a valid trial of a target whose 100 samples (one route,
// "users") have the corrected latencies lat(i), over a 1 s window.
func fakeTrial(name, kind string, rep int, lat func(i int) time.Duration) *trial {
	run := &load.Run{Measured: time.Second, Valid: true}
	for i := range 100 {
		d := lat(i)
		run.Samples = append(run.Samples, load.Sample{Intended: time.Second, Sent: time.Second, Latency: d, Corrected: d, Code: 200})
	}
	return &trial{
		t:    &target{Target: reports.Target{Name: name, Kind: kind}},
		rec:  &reports.Record{Target: name, Rep: rep, Valid: true},
		run:  run,
		reqs: []reqMeta{{route: "users"}},
	}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// latency_delta.<stat>{vs:T} is the target's stat minus T's, same stat,
// filter and repetition; signed; no data when T did not run validly.
func TestLatencyDelta(t *testing.T) {
	// gatelab: 1..100 ms; nginx: 1..100 ms + 2 ms below p99, +0.5 ms at p50.
	gl := fakeTrial("gatelab-fasthttp-trie-local", kindGatelab, 1, func(i int) time.Duration { return ms(i + 1) })
	ng := fakeTrial("nginx", kindPeer, 1, func(i int) time.Duration { return ms(i+1) + 500*time.Microsecond })
	slow := fakeTrial("haproxy", kindPeer, 1, func(i int) time.Duration { return ms(i+1) + ms(10) })
	bad := fakeTrial("direct", kindDirect, 1, func(i int) time.Duration { return ms(1) })
	bad.rec.Valid = false
	peers := []*trial{gl, ng, slow, bad}

	cases := []struct {
		expr string
		want float64
		ok   bool
	}{
		{"latency_delta.p99{vs:nginx} < 1ms", -0.5e-3, true},
		{"latency_delta.p50{vs:nginx} < 1ms", -0.5e-3, true},
		{"latency_delta.max{vs:haproxy} < 1ms", -10e-3, true},
		{"latency_delta.p99{route:users, vs:nginx} < 1ms", -0.5e-3, true},
		{"latency_delta.p99{route:nope, vs:nginx} < 1ms", 0, false},
		{"latency_delta.p99{vs:direct} < 1ms", 0, false}, // invalid run: no data
		{"latency_delta.p99{vs:envoy} < 1ms", 0, false},  // not a target
	}
	for _, c := range cases {
		e, err := budget.Parse(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := (&trialSource{tr: gl, peers: peers}).Value(e)
		if err != nil || ok != c.ok || math.Abs(got-c.want) > 1e-4 { // HDR keeps 3 significant digits: 64us steps near 100ms
			t.Errorf("%s = %v, %v, %v; want %v, %v", c.expr, got, ok, err, c.want, c.ok)
		}
	}
	// From the other side the sign flips.
	e, _ := budget.Parse("latency_delta.p99{vs:gatelab-fasthttp-trie-local} < 1ms")
	if got, ok, _ := (&trialSource{tr: slow, peers: peers}).Value(e); !ok || math.Abs(got-10e-3) > 1e-4 {
		t.Errorf("haproxy vs gatelab: %v, %v; want 10ms", got, ok)
	}
}

// A budget compared with a target skipped for a missing dependency is
// SKIP, not NODATA (which would make the run INVALID).
func TestBudgetVsSkippedTargetIsSkip(t *testing.T) {
	s := parse(t, "name: vs-skip\n"+directOnly+`
load: {stages: [{duration: 1s, rate: 10}]}
budgets:
  - latency_delta.p99{target:gatelab-*, vs:nginx} < 1ms
  - rps.ratio{target:gatelab-*, vs:nginx} >= 0.8
`)
	gl := fakeTrial("gatelab-nethttp-trie-local", kindGatelab, 1, func(i int) time.Duration { return ms(1) })
	sr := &scenarioRun{l: &lab{}, s: s, targets: []*target{gl.t, {Target: reports.Target{Name: "nginx", Kind: kindPeer}, skip: "nginx is not installed"}},
		trials: []*trial{gl}}
	sr.evaluate()
	if len(sr.Budgets) != 2 {
		t.Fatalf("budgets %+v", sr.Budgets)
	}
	for _, b := range sr.Budgets {
		if b.Verdict != reports.Skip || b.Target != gl.t.Name || b.Detail != "vs target nginx skipped: nginx is not installed" {
			t.Errorf("%+v: want SKIP for the skipped vs target", b)
		}
	}
}
