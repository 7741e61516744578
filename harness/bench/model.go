package bench

import (
	"math"
	"sort"
)

// sent is one decided request to a key: when the generator sent it (Unix
// nanoseconds) and whether it is counted (inside the phase judged).
type sent struct {
	at    int64
	count bool
}

// modelAdmits replays the sends to one key through the textbook algorithm
// and returns how many of the counted ones it admits: the reference the
// admitted.ratio metric divides by. The two algorithms are the ones the
// limiter engines implement: the sliding-window counter (the previous
// fixed window's count weighted by the part of it still inside the
// sliding window, plus the current window's count, must stay under the
// limit; windows start at multiples of w since the Unix epoch) and GCRA
// (emission interval w/limit, burst of limit).
func modelAdmits(ss []sent, algorithm string, limit, w int64) int64 {
	sort.Slice(ss, func(i, j int) bool { return ss[i].at < ss[j].at })
	var n int64
	if algorithm == "gcra" {
		t := float64(w) / float64(limit)
		tau := float64(limit-1) * t
		tat := math.Inf(-1)
		for _, s := range ss {
			now := float64(s.at)
			tat = math.Max(tat, now)
			if tat-now <= tau {
				tat += t
				if s.count {
					n++
				}
			}
		}
		return n
	}
	win, prev, cur := int64(math.MinInt64), 0.0, 0.0
	for _, s := range ss {
		idx := s.at / w
		switch {
		case idx == win:
		case idx == win+1:
			prev, cur, win = cur, 0, idx
		default:
			prev, cur, win = 0, 0, idx
		}
		elapsed := float64(s.at - idx*w)
		if prev*(float64(w)-elapsed)+cur*float64(w) < float64(limit)*float64(w) {
			cur++
			if s.count {
				n++
			}
		}
	}
	return n
}
