package local

import (
	"github.com/gatelab/gatelab/engines/limiter/internal/intmath"

	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// entry is one key's state. Times are Unix nanoseconds.
type entry struct {
	key    string // owned copy of the key
	idleAt int64  // after this instant the state equals a fresh key's
	unit   int64  // SlidingWindow: the window length; GCRA: the emission interval
	win    int64  // SlidingWindow: index of the current fixed window
	prev   int64  // SlidingWindow: admissions in window win-1
	// acc is SlidingWindow's admissions in window win, or GCRA's theoretical
	// arrival time (0 on a fresh key). One field for both keeps an entry at 64
	// bytes, one cache line.
	acc  int64
	algo pipeline.LimitAlgorithm
	live bool
	tag  uint32 // the key's hash bits the shard index files it under
}

// maxDebt caps a carried-over GCRA debt (see carry) far below overflow.
const maxDebt = 1 << 61

// slidingWindow decides one request with the sliding-window counter.
func (e *entry) slidingWindow(now, limit, w int64) pipeline.LimitDecision {
	if e.algo != pipeline.SlidingWindow || e.unit != w {
		e.carry(now, pipeline.SlidingWindow, w)
	}
	n := now // the instant decided at; differs from now only if the clock stepped back
	idx := floorDiv(n, w)
	switch {
	case idx == e.win:
	case idx == e.win+1:
		e.prev, e.acc, e.win = e.acc, 0, idx
	case idx > e.win+1:
		e.prev, e.acc, e.win = 0, 0, idx
	default: // the clock stepped back behind the current window
		idx = e.win
		n = idx * w
	}
	start := idx * w
	e.idleAt = max(e.idleAt, n+2*w)
	prev, cur := e.prev, e.acc // cur: admissions in the current window

	d := intmath.Sliding(prev, cur, limit, w, start, n, now)
	if d.Allowed {
		e.acc = cur + 1
	}
	return d
}

// gcra decides one request with the generic cell rate algorithm; t is the
// emission interval Window/limit.
func (e *entry) gcra(now, limit, t, w int64) pipeline.LimitDecision {
	if e.algo != pipeline.GCRA || e.unit != t {
		e.carry(now, pipeline.GCRA, t)
	}
	tau := (limit - 1) * t
	tat := max(e.acc, now)
	if tat-now <= tau {
		tat += t
		e.acc = tat
		e.idleAt = max(e.idleAt, now+2*w, tat)
		return pipeline.LimitDecision{
			Allowed:   true,
			Limit:     limit,
			Remaining: (limit*t - (tat - now)) / t,
			Reset:     time.Unix(0, tat),
		}
	}
	e.idleAt = max(e.idleAt, now+2*w, tat)
	at := tat - tau
	return pipeline.LimitDecision{
		Limit:      limit,
		Reset:      time.Unix(0, at),
		RetryAfter: time.Duration(at - now),
	}
}

// carry re-expresses the count the entry holds at now in another algorithm or
// unit (a config reload changed the tier's Window, Limit for GCRA, or
// Algorithm), so that a reload never grants a fresh allowance:
//   - GCRA -> GCRA: the debt TAT-now is rescaled by newT/oldT (same number of
//     requests outstanding).
//   - SlidingWindow -> SlidingWindow (new window length): the effective count,
//     rounded up, becomes the current window's count.
//   - across algorithms: the count (rounded up) becomes the new state's count.
func (e *entry) carry(now int64, algo pipeline.LimitAlgorithm, unit int64) {
	if e.algo == pipeline.GCRA && algo == pipeline.GCRA {
		if debt := e.acc - now; debt > 0 {
			e.acc = now + mulDivSat(uint64(debt), uint64(unit), uint64(e.unit))
		}
		e.unit = unit
		return
	}
	var count int64
	if e.algo == pipeline.GCRA {
		if debt := e.acc - now; debt > 0 {
			count = int64(u128{Lo: uint64(debt)}.DivCeil(uint64(e.unit)))
		}
	} else {
		count = e.slidingCount(now)
	}
	e.algo, e.unit = algo, unit
	e.acc, e.win, e.prev = 0, 0, 0
	switch {
	case algo == pipeline.SlidingWindow:
		e.win = floorDiv(now, unit)
		e.acc = count
	case count > 0:
		e.acc = now + mulDivSat(uint64(count), uint64(unit), 1)
	}
}

// slidingCount is ceil(effective) of a sliding-window entry at now.
func (e *entry) slidingCount(now int64) int64 {
	w := e.unit
	idx := floorDiv(now, w)
	prev, cur := e.prev, e.acc
	switch {
	case idx == e.win:
	case idx == e.win+1:
		prev, cur = cur, 0
	case idx > e.win+1:
		return 0
	default:
		idx = e.win
		now = idx * w
	}
	weighted := mul(uint64(prev), uint64(w-(now-idx*w))).Add(mul(uint64(cur), uint64(w)))
	return int64(weighted.DivCeil(uint64(w)))
}

// Exact integer helpers shared with the crdt engine (internal/intmath).
type u128 = intmath.U128

func floorDiv(a, b int64) int64      { return intmath.FloorDiv(a, b) }
func mulDivSat(a, b, c uint64) int64 { return intmath.MulDivSat(a, b, c, maxDebt) }
func mul(a, b uint64) u128           { return intmath.Mul(a, b) }
