package keytable

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// testState is a payload, to check that the table keeps an entry's State
// with its key when it moves entries.
type testState struct{ payload int64 }

type testShard = Shard[testState]

func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(Entry[[4]int64]{}); n != 64 {
		t.Errorf("an Entry with four int64 is %d bytes, want 64 (one cache line)", n)
	}
}

// TestIndexAgainstMap drives one shard with random inserts and releases under
// tags drawn from a tiny set (long probe runs, wrap-around, tag collisions)
// and checks every lookup, and every entry's payload, against a plain map;
// now and then it compacts the shard.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sh testShard
	type want struct {
		tag     uint32
		payload int64
	}
	held := map[string]want{}
	tags := []uint32{0, 1, 7, 8, 15, 1 << 20, 0xffffffff}
	check := func(step int) {
		t.Helper()
		if sh.Live != len(held) {
			t.Fatalf("step %d: Live %d, want %d", step, sh.Live, len(held))
		}
		used := 0
		for _, s := range sh.index {
			if s.ref != 0 {
				used++
			}
		}
		if used != len(held) || 2*len(held) > len(sh.index) {
			t.Fatalf("step %d: %d index slots used of %d for %d keys", step, used, len(sh.index), len(held))
		}
		for k, w := range held {
			pos, ok := sh.Find(w.tag, k)
			if !ok {
				t.Fatalf("step %d: %q not found", step, k)
			}
			if e := &sh.Slab[pos]; e.Key != k || e.Tag != w.tag || !e.Live || e.State.payload != w.payload {
				t.Fatalf("step %d: %q at %d holds %+v, want tag %d payload %d", step, k, pos, *e, w.tag, w.payload)
			}
		}
	}
	for step := range 20000 {
		k := fmt.Sprint("k", rng.IntN(400))
		w, present := held[k]
		if !present {
			w.tag = tags[rng.IntN(len(tags))]
		}
		pos, found := sh.Find(w.tag, k)
		if found != present {
			t.Fatalf("step %d: Find(%q) = %v, want %v", step, k, found, present)
		}
		if found {
			if rng.IntN(2) == 0 {
				sh.Release(pos)
				delete(held, k)
			}
		} else {
			pos = sh.Insert(w.tag, k)
			w.payload = int64(step)
			sh.Slab[pos].State.payload = w.payload
			held[k] = w
		}
		if step%500 == 0 {
			check(step)
			if rng.IntN(4) == 0 {
				sh.cursor = len(sh.Slab)
				sh.maybeCompact()
				check(step)
			}
		}
	}
	check(-1)
}

// TestInsertCopiesKey: the table keeps its own copy of a key, so a caller may
// reuse the buffer its key was in.
func TestInsertCopiesKey(t *testing.T) {
	var sh testShard
	buf := []byte("tier:user:alice")
	key := unsafe.String(&buf[0], len(buf)) // aliases buf, as a key built in a reused buffer does
	sh.Insert(9, key)
	copy(buf, "tier:user:bobby")
	if _, ok := sh.Find(9, "tier:user:alice"); !ok {
		t.Error("alice lost after her key's buffer was reused")
	}
	if _, ok := sh.Find(9, "tier:user:bobby"); ok {
		t.Error("bobby found, never inserted")
	}
}

// TestSweep: entries idle at now (live and now > IdleAt) are freed by
// SweepAll and by enough SweepSteps; others stay, with their payloads, and a
// mostly empty slab is compacted.
func TestSweep(t *testing.T) {
	for _, step := range []bool{false, true} {
		var sh testShard
		const n = 1000
		for i := range n {
			pos := sh.Insert(uint32(i*2654435761), fmt.Sprint("k", i))
			e := &sh.Slab[pos]
			e.IdleAt = 100 // idle after 100
			if i%10 == 0 {
				e.IdleAt = 200 // stays until 200
			}
			e.State.payload = int64(i)
		}
		if step {
			sh.SweepStep(100, 2*n) // at 100: nothing is idle yet
		} else {
			sh.SweepAll(100)
		}
		if sh.Live != n {
			t.Fatalf("step %v: at IdleAt, %d live, want %d (idle means after IdleAt)", step, sh.Live, n)
		}
		if step {
			sh.SweepStep(101, 2*n+1) // one full pass, then past its end (compaction)
		} else {
			sh.SweepAll(101)
		}
		if sh.Live != n/10 {
			t.Fatalf("step %v: %d live after the sweep, want %d", step, sh.Live, n/10)
		}
		if len(sh.Slab) != n/10 || len(sh.free) != 0 {
			t.Errorf("step %v: slab %d positions (%d free) after the sweep, want %d compacted", step, len(sh.Slab), len(sh.free), n/10)
		}
		for i := 0; i < n; i++ {
			pos, ok := sh.Find(uint32(i*2654435761), fmt.Sprint("k", i))
			if ok != (i%10 == 0) {
				t.Fatalf("step %v: key %d found %v", step, i, ok)
			}
			if ok && sh.Slab[pos].State.payload != int64(i) {
				t.Fatalf("step %v: key %d has payload %d after compaction", step, i, sh.Slab[pos].State.payload)
			}
		}
	}
}

// TestReleaseReusesPosition: a freed position is reused by the next Insert,
// with the header reset and the rest of the entry left for the caller.
func TestReleaseReusesPosition(t *testing.T) {
	var sh testShard
	a := sh.Insert(1, "a")
	sh.Slab[a].State.payload = 7
	sh.Slab[a].IdleAt = 5
	sh.Insert(2, "b")
	sh.Release(a)
	if e := &sh.Slab[a]; e.Header != (Header{}) || e.State.payload != 7 {
		t.Errorf("released entry %+v, want a zero header and the payload kept", *e)
	}
	if c := sh.Insert(3, "c"); c != a {
		t.Errorf("insert after release took position %d, want the freed %d", c, a)
	}
	if e := &sh.Slab[a]; e.Key != "c" || e.Tag != 3 || !e.Live || e.IdleAt != 0 {
		t.Errorf("reused entry header %+v", e.Header)
	}
	if _, ok := sh.Find(1, "a"); ok {
		t.Error("released key still found")
	}
}

func TestAllocs(t *testing.T) {
	var sh testShard
	for i := range 100 {
		sh.Insert(uint32(i), fmt.Sprint("k", i))
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := sh.Find(42, "k42"); !ok {
			t.Fatal("k42 not found")
		}
		sh.SweepStep(0, 4)
	}); n != 0 {
		t.Errorf("Find and SweepStep allocate %v times, want 0", n)
	}
}
