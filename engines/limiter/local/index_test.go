package local

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// TestIndexAgainstMap drives one shard's index with random inserts and
// releases under tags drawn from a tiny set (long probe runs, wrap-around,
// tag collisions) and checks every lookup against a plain map.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sh shard
	sh.init()
	want := map[string]uint32{} // key -> tag
	tags := []uint32{0, 1, 7, 8, 15, 1 << 20, 0xffffffff}
	check := func(step int) {
		t.Helper()
		if sh.live != len(want) {
			t.Fatalf("step %d: live %d, want %d", step, sh.live, len(want))
		}
		used := 0
		for _, s := range sh.index {
			if s.ref != 0 {
				used++
			}
		}
		if used != len(want) || 2*len(want) > len(sh.index) {
			t.Fatalf("step %d: %d index slots used of %d for %d keys", step, used, len(sh.index), len(want))
		}
		for k, tag := range want {
			pos, ok := sh.find(tag, k)
			if !ok || sh.slab[pos].key != k {
				t.Fatalf("step %d: %q not found", step, k)
			}
		}
	}
	for step := range 20000 {
		k := fmt.Sprint("k", rng.IntN(400))
		tag, present := want[k]
		if !present {
			tag = tags[rng.IntN(len(tags))]
		}
		pos, found := sh.find(tag, k)
		if found != present {
			t.Fatalf("step %d: find(%q) = %v, want %v", step, k, found, present)
		}
		if found {
			if rng.IntN(2) == 0 {
				sh.release(int(pos))
				delete(want, k)
			}
		} else {
			sh.insert(tag, k, pipeline.SlidingWindow, 1, 0, 1)
			want[k] = tag
		}
		if step%500 == 0 {
			check(step)
			if rng.IntN(4) == 0 {
				sh.cursor = len(sh.slab)
				sh.maybeCompact()
				check(step)
			}
		}
	}
	check(-1)
}
