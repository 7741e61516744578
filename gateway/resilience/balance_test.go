package resilience

import (
	"slices"
	"testing"

	"github.com/gatelab/gatelab/gateway/config"
)

func TestWRRSequence(t *testing.T) {
	for _, tc := range []struct {
		weights []int
		want    []int32
	}{
		{[]int{1}, []int32{0}},
		{[]int{1, 1, 1}, []int32{0, 1, 2}},
		{[]int{2, 1, 1}, []int32{0, 1, 2, 0}},
		{[]int{4, 2, 2}, []int32{0, 1, 2, 0}}, // reduced by the gcd
		{[]int{5, 1, 1}, []int32{0, 0, 1, 0, 2, 0, 0}},
	} {
		if got := wrrSequence(tc.weights); !slices.Equal(got, tc.want) {
			t.Errorf("wrrSequence(%v) = %v, want %v", tc.weights, got, tc.want)
		}
	}
	// Huge weights are scaled into a bounded cycle that keeps every instance.
	seq := wrrSequence([]int{1_000_000, 1})
	if len(seq) > maxSeq+1 || !slices.Contains(seq, 1) {
		t.Errorf("scaled sequence: len %d, contains instance 1: %v", len(seq), slices.Contains(seq, 1))
	}
}

func countPicks(t *testing.T, f *fixture, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		inst, tk := f.mustAcquire(t)
		got[inst.URL]++
		f.Release(inst, tk, Success)
	}
	return got
}

func weighted(b *config.Backend) {
	b.Instances[0].Weight = 2
	b.CircuitBreaker.Disabled = true
}

func TestRoundRobinIsWeighted(t *testing.T) {
	f := newFixture(t, weighted, urlA, urlB, urlC)
	got := countPicks(t, f, 4000)
	want := map[string]int{urlA: 2000, urlB: 1000, urlC: 1000}
	for u, n := range want {
		if got[u] != n {
			t.Errorf("%s picked %d times, want %d (all: %v)", u, got[u], n, got)
		}
	}
}

func TestRoundRobinSkipsUnhealthyWithoutSkew(t *testing.T) {
	// A weight 2, B and C weight 1. Without B, A and C must keep 2:1 (a
	// naive "take the next slot" would give B's turn to its neighbour C and
	// make it 1:1).
	f := newFixture(t, weighted, urlA, urlB, urlC)
	for range 3 {
		f.ObserveProbe(f.byURL(t, urlB), false)
	}
	if f.Healthy() != 2 {
		t.Fatalf("Healthy = %d, want 2", f.Healthy())
	}
	got := countPicks(t, f, 3000)
	if got[urlA] != 2000 || got[urlC] != 1000 || got[urlB] != 0 {
		t.Errorf("picks %v, want A 2000, C 1000, B 0", got)
	}
}

func TestNoHealthy(t *testing.T) {
	for _, bal := range []Balance{RoundRobin, LeastOutstanding} {
		f := newFixture(t, func(b *config.Backend) { b.Balance = bal }, urlA, urlB)
		for _, in := range f.Instances() {
			for range 3 {
				f.ObserveProbe(in, false)
			}
		}
		inst, _, rej := f.Acquire()
		if inst != nil || rej.Reason != NoHealthy || rej.RetryAfter < 1e9 {
			t.Errorf("%s: Acquire with no healthy instance = %v, %+v", bal, inst, rej)
		}
		if f.Status().InFlight != 0 {
			t.Errorf("%s: a rejected request is counted in flight", bal)
		}
	}
}

func leastOutstanding(b *config.Backend) {
	b.Balance = LeastOutstanding
	b.CircuitBreaker.Disabled = true
}

func TestLeastOutstandingPrefersIdle(t *testing.T) {
	f := newFixture(t, leastOutstanding, urlA, urlB, urlC)
	// One slow request on each instance (ties rotate), then C finishes.
	type held struct {
		inst *Instance
		tk   Ticket
	}
	var hold []held
	for range 3 {
		inst, tk := f.mustAcquire(t)
		if inst.URL == urlC {
			f.Release(inst, tk, Success)
			continue
		}
		hold = append(hold, held{inst, tk})
	}
	if len(hold) != 2 || hold[0].inst == hold[1].inst {
		t.Fatalf("three idle picks did not spread over the three instances")
	}
	// Whatever A and B hold, C (idle) is preferred.
	for range 10 {
		inst, tk := f.mustAcquire(t)
		if inst.URL != urlC {
			t.Fatalf("picked %s with %d in flight, want idle %s", inst.URL, inst.InFlight(), urlC)
		}
		f.Release(inst, tk, Success)
	}
	for _, h := range hold {
		f.Release(h.inst, h.tk, Success)
	}
}

func TestLeastOutstandingWeightsAndTies(t *testing.T) {
	f := newFixture(t, func(b *config.Backend) {
		leastOutstanding(b)
		b.Instances[0].Weight = 2
	}, urlA, urlB)
	a, b := f.byURL(t, urlA), f.byURL(t, urlB)
	// Without releasing: A (weight 2) should carry twice B's load.
	var n [2]int
	for range 30 {
		inst, _ := f.mustAcquire(t)
		if inst == a {
			n[0]++
		} else {
			n[1]++
		}
	}
	if n[0] != 20 || n[1] != 10 || a.InFlight() != 20 || b.InFlight() != 10 {
		t.Errorf("held picks A %d, B %d; want 20, 10", n[0], n[1])
	}

	// Ties rotate: with nothing in flight, equal instances take turns.
	g := newFixture(t, leastOutstanding, urlA, urlB, urlC, urlD)
	got := countPicks(t, g, 400)
	for _, u := range []string{urlA, urlB, urlC, urlD} {
		if got[u] != 100 {
			t.Errorf("idle ties: %s picked %d of 400, want 100 (%v)", u, got[u], got)
		}
	}
}
