package crdt

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines/limiter/internal/keytable"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// testEntry is one entry of a hand-built message.
type testEntry struct {
	key   string
	p     pipeline.Policy
	idx   int64
	base  int64
	slots []slotVal
}

func unitOf(p pipeline.Policy) int64 {
	if p.Algorithm == pipeline.GCRA {
		return max(1, int64(p.Window)/p.Limit)
	}
	return int64(p.Window)
}

// buildMsg encodes a message of kind from nodes with the given entries.
func buildMsg(kind byte, nodes []string, entries ...testEntry) []byte {
	b := appendHeader(nil, kind, nodes)
	for _, e := range entries {
		r := record{Header: keytable.Header{Key: e.key, Algo: e.p.Algorithm}, State: replica{w: int64(e.p.Window), unit: unitOf(e.p)}}
		b = appendEntryHead(b, &r, &cell{idx: e.idx, base: e.base})
		b = appendUvarint(b, uint64(len(e.slots)))
		for _, s := range e.slots {
			b = appendSlot(b, s.node, s.value)
		}
	}
	return b
}

// deltaMsg is node's delta for one cell of key: its own slot is v.
func deltaMsg(node, key string, p pipeline.Policy, idx, v int64) []byte {
	return buildMsg(kindDelta, []string{node}, testEntry{key: key, p: p, idx: idx, slots: []slotVal{{0, v}}})
}

func windowIdx(l *Limiter, p pipeline.Policy) int64 {
	return floorDiv(l.now().UnixNano(), int64(p.Window))
}

// TestRejectFarWindows: merges for windows more than 2 behind or more than 1
// ahead of the receiver's clock are rejected and counted; the others merge.
func TestRejectFarWindows(t *testing.T) {
	l, _ := newTestCore("me")
	cur := windowIdx(l, sliding)
	for d := int64(-4); d <= 3; d++ {
		l.handleMsg(deltaMsg("peer", "k", sliding, cur+d, 10+d))
	}
	if got := l.rejectedWindow.Load(); got != 4 { // -4, -3, +2, +3
		t.Errorf("rejected %d merges, want 4", got)
	}
	for d := int64(-2); d <= 1; d++ {
		if got := l.slots("k", cur+d)["peer"]; got != 10+d {
			t.Errorf("window cur%+d: peer slot %d, want %d", d, got, 10+d)
		}
	}
	if c, p, _ := l.Totals("k"); c != 10 || p != 9 {
		t.Errorf("Totals = %d, %d; want 10, 9", c, p)
	}
	// GCRA: an epoch is a window index of the key's creation, so any past
	// epoch is fine, but not one from the future.
	g := gcra
	gcur := windowIdx(l, g)
	l.handleMsg(buildMsg(kindDelta, []string{"peer"}, testEntry{key: "g", p: g, idx: gcur + 2, slots: []slotVal{{0, 1}}}))
	l.handleMsg(buildMsg(kindDelta, []string{"peer"}, testEntry{key: "g2", p: g, idx: gcur - 1000, slots: []slotVal{{0, 1}}}))
	if got := l.rejectedWindow.Load(); got != 5 {
		t.Errorf("rejected %d merges after the GCRA ones, want 5", got)
	}
	if _, _, ok := l.Totals("g"); ok {
		t.Error("a rejected merge created a record")
	}
	if v, _, ok := l.Totals("g2"); !ok || v != 1 {
		t.Errorf("old GCRA epoch not merged: %d, %v", v, ok)
	}
}

// TestMergeIsASemilattice: applying the same deltas in any order, any number
// of times, gives the same state (max per slot), and a node's slot never goes
// down.
func TestMergeIsASemilattice(t *testing.T) {
	base, _ := newTestCore("x")
	cur := windowIdx(base, sliding)
	rng := rand.New(rand.NewPCG(5, 6))
	var msgs [][]byte
	want := map[string]map[int64]map[string]int64{} // key -> idx -> node -> max
	for range 300 {
		node := fmt.Sprint("n", rng.IntN(4))
		key := fmt.Sprint("k", rng.IntN(5))
		idx := cur - 1 + rng.Int64N(2)
		v := rng.Int64N(50)
		msgs = append(msgs, deltaMsg(node, key, sliding, idx, v))
		if want[key] == nil {
			want[key] = map[int64]map[string]int64{}
		}
		if want[key][idx] == nil {
			want[key][idx] = map[string]int64{}
		}
		if v > want[key][idx][node] {
			want[key][idx][node] = v
		}
	}
	for trial := range 4 {
		l, _ := newTestCore("x")
		order := rng.Perm(len(msgs))
		for _, i := range order {
			l.handleMsg(msgs[i])
			if trial%2 == 1 { // duplicates
				l.handleMsg(msgs[order[rng.IntN(len(order))]])
			}
		}
		for key, byIdx := range want {
			for idx, slots := range byIdx {
				exp := map[string]int64{}
				for n, v := range slots {
					if v > 0 {
						exp[n] = v
					}
				}
				if got := l.slots(key, idx); !maps.Equal(got, exp) {
					t.Fatalf("trial %d key %s window %d: slots %v, want %v", trial, key, idx, got, exp)
				}
			}
		}
	}
}

// TestOwnSlotRecovered: a full state that holds a higher value for this
// node's own slot (it restarted and lost its counts) is adopted.
func TestOwnSlotRecovered(t *testing.T) {
	l, _ := newTestCore("me")
	p := sliding
	cur := windowIdx(l, p)
	l.handleMsg(buildMsg(kindFull, []string{"other", "me"},
		testEntry{key: "k", p: p, idx: cur, slots: []slotVal{{0, 2}, {1, 5}}}))
	if got := l.slots("k", cur); got["me"] != 5 || got["other"] != 2 {
		t.Fatalf("slots %v, want me 5 other 2", got)
	}
	if d := allow(t, l, "k", p); !d.Allowed || d.Remaining != 2 {
		t.Errorf("after recovering 7 of 10: %+v, want admitted (8 of 10) with Remaining 2", d)
	}
}

// TestGCRAEpochs: a newer epoch replaces the cell (the old slots go), an older
// one is ignored and makes this node re-send its newer epoch.
func TestGCRAEpochs(t *testing.T) {
	l, c := newTestCore("me")
	p := gcra // T = 1s
	for range 3 {
		allow(t, l, "g", p)
	}
	epoch := windowIdx(l, p)
	l.buildDeltas(c.Now().UnixNano(), false, true) // nothing pending afterwards
	if consumed, _, _ := l.Totals("g"); consumed != 3*int64(time.Second) {
		t.Fatalf("consumed %v, want 3s", time.Duration(consumed))
	}

	// Older epoch: ignored, and our state is queued for sending.
	l.handleMsg(buildMsg(kindDelta, []string{"peer"}, testEntry{key: "g", p: p, idx: epoch - 3, base: 1, slots: []slotVal{{0, int64(time.Hour)}}}))
	if consumed, _, _ := l.Totals("g"); consumed != 3*int64(time.Second) {
		t.Errorf("an older epoch changed the state: consumed %v", time.Duration(consumed))
	}
	chunks := l.buildDeltas(c.Now().UnixNano(), false, true)
	if len(chunks) != 1 || !bytes.Contains(chunks[0], []byte("g")) {
		t.Errorf("older epoch did not queue our state: %d chunks", len(chunks))
	}

	// Newer epoch (a reload elsewhere carried the key): adopted.
	now := c.Now().UnixNano()
	l.handleMsg(buildMsg(kindDelta, []string{"peer"}, testEntry{key: "g", p: p, idx: epoch + 1, base: now + int64(5*time.Second), slots: []slotVal{{0, int64(time.Second)}}}))
	consumed, base, _ := l.Totals("g")
	if consumed != int64(time.Second) || base != now+int64(5*time.Second) {
		t.Fatalf("newer epoch: consumed %v base %v, want 1s and now+5s", time.Duration(consumed), time.Duration(base-now))
	}
	// TAT = now + 6s: 4 of 10 left (tau = 9s).
	for i := range 4 {
		if d := allow(t, l, "g", p); !d.Allowed || d.Remaining != int64(3-i) {
			t.Fatalf("admission %d in the adopted epoch: %+v", i, d)
		}
	}
	if d := allow(t, l, "g", p); d.Allowed {
		t.Errorf("adopted epoch not enforced: %+v", d)
	}
}

// TestConfigMismatch: entries for another algorithm or window than the
// record's are not merged.
func TestConfigMismatch(t *testing.T) {
	l, _ := newTestCore("me")
	allow(t, l, "k", sliding)
	cur := windowIdx(l, sliding)
	other := sliding
	other.Window = 20 * time.Second
	l.handleMsg(deltaMsg("peer", "k", other, windowIdx(l, other), 4))
	l.handleMsg(buildMsg(kindDelta, []string{"peer"}, testEntry{key: "k", p: gcra, idx: windowIdx(l, gcra), slots: []slotVal{{0, 4}}}))
	if got := l.rejectedShape.Load(); got != 2 {
		t.Errorf("rejected %d mismatched entries, want 2", got)
	}
	if got := l.slots("k", cur); len(got) != 1 || got["me"] != 1 {
		t.Errorf("slots %v after mismatched merges", got)
	}
}

// TestFullStateRoundTrip: a node's full state, merged into an empty node,
// reproduces every slot of every live cell.
func TestFullStateRoundTrip(t *testing.T) {
	a, _ := newTestCore("a")
	b, _ := newTestCore("b")
	cur := windowIdx(a, sliding)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 300 {
		key := fmt.Sprint("k", i)
		p := sliding
		if i%3 == 0 {
			p = gcra
		}
		for range 1 + rng.IntN(5) {
			allow(t, a, key, p)
		}
		if p.Algorithm == pipeline.SlidingWindow {
			a.handleMsg(deltaMsg("c", key, p, cur-1, rng.Int64N(9)+1))
			a.handleMsg(deltaMsg("d", key, p, cur, rng.Int64N(9)+1))
		}
	}
	b.handleMsg(a.fullState())
	if n := b.malformed.Load() + b.rejectedWindow.Load() + b.rejectedShape.Load(); n != 0 {
		t.Fatalf("full state: %d malformed or rejected", n)
	}
	for i := range 300 {
		key := fmt.Sprint("k", i)
		idxs := []int64{cur - 1, cur}
		if i%3 == 0 {
			idxs = []int64{windowIdx(a, gcra)}
		}
		for _, idx := range idxs {
			if x, y := a.slots(key, idx), b.slots(key, idx); !maps.Equal(x, y) || len(x) == 0 && idx == cur {
				t.Fatalf("%s window %d: a %v, b %v", key, idx, x, y)
			}
		}
		ac, ap, _ := a.Totals(key)
		bc, bp, _ := b.Totals(key)
		if ac != bc || ap != bp {
			t.Fatalf("%s: totals a %d/%d b %d/%d", key, ac, ap, bc, bp)
		}
	}
}

// TestDeltaChunks: many changes are split into complete messages under the
// UDP size limit; every changed cell is in exactly one; keys longer than
// maxKeyLen are not gossiped.
func TestDeltaChunks(t *testing.T) {
	a, c := newTestCore("node-with-a-rather-long-name-" + strings.Repeat("x", 200))
	want := map[string]bool{}
	for i := range 2000 {
		key := fmt.Sprintf("tier:user:%06d", i)
		allow(t, a, key, sliding)
		want[key] = true
	}
	long := strings.Repeat("L", maxKeyLen)
	allow(t, a, long, sliding)
	want[long] = true
	allow(t, a, long+"!", sliding) // too long: decided, never gossiped

	b, _ := newTestCore("b")
	chunks := a.buildDeltas(c.Now().UnixNano(), false, true)
	if len(chunks) < 2 {
		t.Fatalf("%d chunks for 2001 entries", len(chunks))
	}
	seen := map[string]int{}
	for _, ch := range chunks {
		if len(ch) > maxChunk {
			t.Errorf("chunk of %d bytes, limit %d", len(ch), maxChunk)
		}
		m, err := decodeHeader(ch)
		if err != nil || m.kind != kindDelta {
			t.Fatalf("chunk header: %v", err)
		}
		if err := decodeEntries(m, nil, func(e *entry) { seen[string(e.key)]++ }); err != nil {
			t.Fatal(err)
		}
		b.handleMsg(ch)
	}
	if len(seen) != len(want) {
		t.Errorf("%d keys in the chunks, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if !want[k] || n != 1 {
			t.Errorf("key %.20q appears %d times", k, n)
		}
	}
	if got := a.buildDeltas(c.Now().UnixNano(), false, true); len(got) != 0 {
		t.Errorf("second round sent %d chunks with nothing changed", len(got))
	}
	if cur, _, _ := b.Totals("tier:user:000007"); cur != 1 {
		t.Errorf("receiver total %d, want 1", cur)
	}
}

// validMessages returns well-formed messages of every kind.
func validMessages() [][]byte {
	a, _ := newTestCore("a")
	for i := range 20 {
		a.Allow(context.Background(), fmt.Sprint("k", i), sliding)
		a.Allow(context.Background(), fmt.Sprint("g", i), gcra)
	}
	cur := windowIdx(a, sliding)
	a.handleMsg(deltaMsg("peer", "k1", sliding, cur, 3))
	out := [][]byte{a.fullState(), buildMsg(kindBye, []string{"a"})}
	out = append(out, a.buildDeltas(a.now().UnixNano(), false, true)...)
	return out
}

// TestDecodeGarbage: random bytes, truncated and corrupted messages never
// panic, never make a count negative, and are counted as malformed when the
// decoder refuses them.
func TestDecodeGarbage(t *testing.T) {
	l, _ := newTestCore("me")
	rng := rand.New(rand.NewPCG(7, 8))
	valid := validMessages()
	for i := range 20000 {
		var b []byte
		switch i % 3 {
		case 0:
			b = make([]byte, rng.IntN(64))
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
		case 1:
			v := valid[rng.IntN(len(valid))]
			b = v[:rng.IntN(len(v)+1)]
		default:
			v := valid[rng.IntN(len(valid))]
			b = bytes.Clone(v)
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.UintN(255))
			}
		}
		l.handleMsg(b)
	}
	if l.malformed.Load() == 0 {
		t.Error("no garbage counted as malformed")
	}
	checkInvariants(t, l)
}

// checkInvariants: every slot and sum is in range and others is the sum of
// the remote slots.
func checkInvariants(t testing.TB, l *Limiter) {
	t.Helper()
	for s := range l.shards {
		sh := &l.shards[s]
		sh.mu.Lock()
		for i := range sh.Slab {
			if !sh.Slab[i].Live {
				continue
			}
			r := &sh.Slab[i].State
			for pos := range ring {
				c := &r.cells[pos]
				var sum int64
				for j := pos; j < len(r.remote); j += ring {
					if r.remote[j] < 0 || r.remote[j] > maxCount {
						t.Fatalf("remote slot %d out of range", r.remote[j])
					}
					sum = satAdd(sum, r.remote[j])
				}
				if c.mine < 0 || c.others < 0 || c.mine > maxCount || c.others != sum {
					t.Fatalf("cell %+v: others %d, sum of remote slots %d", *c, c.others, sum)
				}
			}
		}
		sh.mu.Unlock()
	}
}

// FuzzDecode: the decoder and the merge survive any input.
func FuzzDecode(f *testing.F) {
	for _, m := range validMessages() {
		f.Add(m)
	}
	f.Add([]byte{})
	f.Add([]byte{wireVersion, kindDelta, 1, 1, 'x', 1, 'k', 0})
	l, _ := newTestCore("me")
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeHeader(b); err == nil {
			_ = decodeEntries(m, nil, func(e *entry) {
				if e.w <= 0 || e.unit <= 0 || e.unit > e.w || len(e.key) == 0 || len(e.key) > maxKeyLen {
					t.Fatalf("decoded an invalid entry %+v", e)
				}
				for _, s := range e.slots {
					if s.node < 0 || s.node >= len(m.nodes) || s.value < 0 || s.value > maxCount {
						t.Fatalf("decoded an invalid slot %+v", s)
					}
				}
			})
		}
		l.handleMsg(b)
		checkInvariants(t, l)
	})
}
