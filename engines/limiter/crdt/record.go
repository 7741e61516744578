package crdt

import (
	"math"

	"github.com/gatelab/gatelab/engines/limiter/internal/keytable"
	"github.com/gatelab/gatelab/engines/limiter/internal/rate"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// ring is how many window cells a sliding-window record keeps: windows
// cur-2 .. cur+1 of the node's clock, each at position idx&(ring-1), which is
// exactly the span of windows a merge is accepted for.
const ring = 4

// noWindow marks a cell that holds no window yet; every real index is newer.
const noWindow = math.MinInt64

// cell is the replicated state of one (key, window): a G-counter with one
// slot per node, kept as this node's slot (mine), the sum of the other nodes'
// slots (others, whose per-node values live in record.remote), and a
// max-register (base).
//
// Sliding window: idx is the fixed window's index (start/Window), slots count
// admissions, and base is a count carried over by a config reload (zero
// otherwise). The window's merged total is base + mine + others.
//
// GCRA (cell 0 only): idx is the epoch, slots accumulate consumed emission
// time in nanoseconds, and base is the register B with TAT = B + mine + others.
type cell struct {
	idx    int64
	base   int64
	mine   int64
	others int64
}

func (c *cell) total() int64 { return satAdd(satAdd(c.base, c.mine), c.others) }

// record is one key's slot in its shard: the header (the key, IdleAt, after
// which the record holds nothing a decision needs, and Algo, the algorithm
// the cells count in) and the replicated state. Times are Unix nanoseconds.
type record keytable.Entry[replica]

// replica is one key's replicated state.
type replica struct {
	w     int64 // Policy.Window
	unit  int64 // SlidingWindow: w; GCRA: the emission interval w/Limit of the configured limit
	win   int64 // SlidingWindow: the window decisions are taken in (never moves back)
	cells [ring]cell
	// remote holds the other nodes' slot values: remote[(peer-1)*ring+pos]
	// for peer ids 1.. (0 is this node, whose value is cells[pos].mine).
	remote []int64
	dirty  uint8 // cells (bit pos) whose mine or base changed since the last sync
	queued bool  // the record is in its shard's dirty list
}

// sameShape reports whether the record counts in the given algorithm and units.
func (r *record) sameShape(algo pipeline.LimitAlgorithm, w, unit int64) bool {
	s := &r.State
	return r.Algo == algo && s.w == w && s.unit == unit
}

// resetCell empties cell pos and sets it to window (or epoch) idx.
func (r *replica) resetCell(pos int, idx int64) {
	r.cells[pos] = cell{idx: idx}
	for j := pos; j < len(r.remote); j += ring {
		r.remote[j] = 0
	}
}

// resetAll empties every cell.
func (r *replica) resetAll() {
	for i := range r.cells {
		r.cells[i] = cell{idx: noWindow}
	}
	clear(r.remote)
}

// windowTotal is the merged count of sliding window idx (0 if not held).
func (r *replica) windowTotal(idx int64) int64 {
	if c := &r.cells[idx&(ring-1)]; c.idx == idx {
		return c.total()
	}
	return 0
}

// slidingWindow decides one request with the sliding-window counter over the
// merged totals, with exactly the local engine's formulas. It returns the
// decision and the cell bits it changed.
func (r *record) slidingWindow(now, limit, w int64) (rate.Decision, uint8) {
	s := &r.State
	n := now
	idx := floorDiv(n, w)
	if idx < s.win { // the clock stepped back behind the current window
		idx = s.win
		n = idx * w
	} else {
		s.win = idx
	}
	pos := int(idx & (ring - 1))
	c := &s.cells[pos]
	if c.idx != idx {
		s.resetCell(pos, idx)
	}
	start := idx * w
	r.IdleAt = max(r.IdleAt, n+2*w)
	d := rate.Sliding(s.windowTotal(idx-1), c.total(), limit, w, start, n, now)
	if !d.Allowed {
		return d, 0
	}
	c.mine = satAdd(c.mine, 1)
	return d, 1 << pos
}

// gcra decides one request with the generic cell rate algorithm over the
// merged state: TAT = B + consumed, where consumed is the G-counter of
// emission time. t is the emission interval of the limit enforced now.
func (r *record) gcra(now, limit, t, w int64) (rate.Decision, uint8) {
	c := &r.State.cells[0]
	consumed := satAdd(c.mine, c.others)
	d, tat := rate.GCRA(c.base+consumed, now, limit, t)
	r.IdleAt = max(r.IdleAt, now+2*w, tat)
	if !d.Allowed {
		return d, 0
	}
	// B only grows: B + consumed < now makes now - consumed > B.
	c.base = tat - t - consumed
	c.mine = satAdd(c.mine, t)
	return d, 1
}

// slidingCount is ceil(effective) of a sliding-window replica at now.
func (r *replica) slidingCount(now int64) int64 {
	w := r.w
	idx := floorDiv(now, w)
	if idx < r.win {
		idx = r.win
		now = idx * w
	}
	return rate.SlidingCount(r.windowTotal(idx-1), r.windowTotal(idx), w, now-idx*w)
}

// carry re-expresses the count the record holds at now in another algorithm or
// unit, as the local engine does on a config reload, so a reload never grants
// a fresh allowance. The carried amount goes into a base register (a
// max-register, so every node carrying the same merged view agrees) of a fresh
// cell; the old slots are dropped. It returns the cell bits it changed.
func (r *record) carry(now int64, algo pipeline.LimitAlgorithm, w, unit int64) uint8 {
	s := &r.State
	if r.Algo == pipeline.GCRA && algo == pipeline.GCRA {
		c := &s.cells[0]
		tat := rate.RescaleTAT(c.base+satAdd(c.mine, c.others), now, s.unit, unit)
		epoch := max(c.idx+1, floorDiv(now, w))
		s.resetAll()
		r.Algo, s.w, s.unit = algo, w, unit
		s.cells[0] = cell{idx: epoch, base: tat}
		return 1
	}
	var count int64
	if r.Algo == pipeline.GCRA {
		c := &s.cells[0]
		count = rate.GCRACount(c.base+satAdd(c.mine, c.others), now, s.unit)
	} else {
		count = s.slidingCount(now)
	}
	s.resetAll()
	r.Algo, s.w, s.unit = algo, w, unit
	if algo == pipeline.SlidingWindow {
		s.win = floorDiv(now, w)
		pos := int(s.win & (ring - 1))
		s.cells[pos] = cell{idx: s.win, base: count}
		return 1 << pos
	}
	s.cells[0] = cell{idx: floorDiv(now, w), base: rate.CountTAT(count, now, unit)}
	return 1
}

// init sets up the state of a key just inserted (the header is set; a
// released record's remote slice is reused).
func (r *record) init(algo pipeline.LimitAlgorithm, w, unit, now int64) {
	s := &r.State
	*s = replica{w: w, unit: unit, remote: s.remote[:0]}
	r.Algo = algo
	r.IdleAt = now + 2*w
	s.resetAll()
	if algo == pipeline.SlidingWindow {
		s.win = floorDiv(now, w)
	} else {
		s.cells[0].idx = floorDiv(now, w)
	}
}

// setSlot merges value v into peer's slot of cell pos (peer 0 is this node:
// a value for our own slot that is higher than ours is adopted, which is how a
// restarted node recovers what it had counted).
func (r *replica) setSlot(peer, pos int, v int64) {
	c := &r.cells[pos]
	if peer == 0 {
		c.mine = max(c.mine, v)
		return
	}
	j := (peer-1)*ring + pos
	if j >= len(r.remote) {
		n := peer * ring
		if n <= cap(r.remote) {
			had := len(r.remote)
			r.remote = r.remote[:n]
			clear(r.remote[had:])
		} else {
			grown := make([]int64, n, max(n, 2*cap(r.remote)))
			copy(grown, r.remote)
			r.remote = grown
		}
	}
	if old := r.remote[j]; v > old {
		r.remote[j] = v
		c.others = satAdd(c.others, v-old)
	}
}

// slot returns peer's value in cell pos.
func (r *replica) slot(peer, pos int) int64 {
	if peer == 0 {
		return r.cells[pos].mine
	}
	if j := (peer-1)*ring + pos; j < len(r.remote) {
		return r.remote[j]
	}
	return 0
}
