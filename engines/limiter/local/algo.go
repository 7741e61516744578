package local

import (
	"github.com/gatelab/gatelab/engines/limiter/internal/intmath"
	"github.com/gatelab/gatelab/engines/limiter/internal/keytable"
	"github.com/gatelab/gatelab/engines/limiter/internal/rate"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// entry is one key's slot in its shard: the header (the key, IdleAt, after
// which the state equals a fresh key's, and Algo, the algorithm the state
// counts in) and the state. Times are Unix nanoseconds.
type entry keytable.Entry[state]

type state struct {
	unit int64 // SlidingWindow: the window length; GCRA: the emission interval
	win  int64 // SlidingWindow: index of the current fixed window
	prev int64 // SlidingWindow: admissions in window win-1
	// acc is SlidingWindow's admissions in window win, or GCRA's theoretical
	// arrival time (0 on a fresh key). One field for both keeps an entry at 64
	// bytes, one cache line.
	acc int64
}

// init sets up the state of a key just inserted.
func (e *entry) init(algo pipeline.LimitAlgorithm, unit, now, window int64) {
	e.Algo, e.IdleAt = algo, now+2*window
	e.State = state{unit: unit}
	if algo == pipeline.SlidingWindow {
		e.State.win = intmath.FloorDiv(now, window)
	}
}

// slidingWindow decides one request with the sliding-window counter.
func (e *entry) slidingWindow(now, limit, w int64) rate.Decision {
	s := &e.State
	if e.Algo != pipeline.SlidingWindow || s.unit != w {
		e.carry(now, pipeline.SlidingWindow, w)
	}
	n := now // the instant decided at; differs from now only if the clock stepped back
	idx := intmath.FloorDiv(n, w)
	switch {
	case idx == s.win:
	case idx == s.win+1:
		s.prev, s.acc, s.win = s.acc, 0, idx
	case idx > s.win+1:
		s.prev, s.acc, s.win = 0, 0, idx
	default: // the clock stepped back behind the current window
		idx = s.win
		n = idx * w
	}
	start := idx * w
	e.IdleAt = max(e.IdleAt, n+2*w)
	d := rate.Sliding(s.prev, s.acc, limit, w, start, n, now)
	if d.Allowed {
		s.acc++
	}
	return d
}

// gcra decides one request with the generic cell rate algorithm; t is the
// emission interval Window/limit.
func (e *entry) gcra(now, limit, t, w int64) rate.Decision {
	s := &e.State
	if e.Algo != pipeline.GCRA || s.unit != t {
		e.carry(now, pipeline.GCRA, t)
	}
	d, tat := rate.GCRA(s.acc, now, limit, t)
	s.acc = tat
	e.IdleAt = max(e.IdleAt, now+2*w, tat)
	return d
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
	s := &e.State
	if e.Algo == pipeline.GCRA && algo == pipeline.GCRA {
		s.acc = rate.RescaleTAT(s.acc, now, s.unit, unit)
		s.unit = unit
		return
	}
	var count int64
	if e.Algo == pipeline.GCRA {
		count = rate.GCRACount(s.acc, now, s.unit)
	} else {
		count = s.slidingCount(now)
	}
	e.Algo = algo
	*s = state{unit: unit}
	if algo == pipeline.SlidingWindow {
		s.win = intmath.FloorDiv(now, unit)
		s.acc = count
	} else {
		s.acc = rate.CountTAT(count, now, unit)
	}
}

// slidingCount is ceil(effective) of a sliding-window state at now.
func (s *state) slidingCount(now int64) int64 {
	w := s.unit
	idx := intmath.FloorDiv(now, w)
	prev, cur := s.prev, s.acc
	switch {
	case idx == s.win:
	case idx == s.win+1:
		prev, cur = cur, 0
	case idx > s.win+1:
		return 0
	default:
		idx = s.win
		now = idx * w
	}
	return rate.SlidingCount(prev, cur, w, now-idx*w)
}
