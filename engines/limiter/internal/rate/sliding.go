package rate

import (
	"time"

	"github.com/gatelab/gatelab/engines/limiter/internal/intmath"
)

// Sliding decides one request with the sliding-window counter, from the
// previous and current fixed windows' counts. start is the current window's
// start, n the instant decided at (start <= n < start+w), now the caller's
// clock (for RetryAfter). When the decision is Allowed the caller counts the
// request in its current window.
func Sliding(prev, cur, limit, w, start, n, now int64) Decision {
	// effective*w = prev*(w-elapsed) + cur*w, compared with limit*w.
	weighted := weightedCount(prev, cur, w, n-start)
	capacity := intmath.Mul(uint64(limit), uint64(w))
	if weighted.Less(capacity) {
		// Further admissions k at this instant satisfy weighted + k*w < capacity.
		remaining := int64(capacity.Sub(weighted).DivCeil(uint64(w))) - 1
		return Decision{Allowed: true, Remaining: remaining, Reset: start + w}
	}
	// Rejected: find the earliest instant with effective < limit.
	var at int64
	if cur < limit {
		// In this window: prev*(w-t) < (limit-cur)*w, i.e. w-t <= ceil(x/prev)-1.
		// prev > 0 here, otherwise weighted = cur*w < capacity.
		q := intmath.Mul(uint64(limit-cur), uint64(w)).DivCeil(uint64(prev))
		at = start + w - int64(q) + 1
	} else {
		// Only in the next window, where prev' = cur and cur' = 0:
		// cur*(w-t) < limit*w.
		q := intmath.Mul(uint64(limit), uint64(w)).DivCeil(uint64(cur))
		at = start + 2*w - int64(q) + 1
	}
	return Decision{Reset: at, RetryAfter: time.Duration(at - now)}
}

// SlidingCount is the sliding-window count at elapsed (0 <= elapsed < w) into
// the current window, rounded up: ceil(prev*(w-elapsed)/w + cur).
func SlidingCount(prev, cur, w, elapsed int64) int64 {
	return int64(weightedCount(prev, cur, w, elapsed).DivCeil(uint64(w)))
}

// weightedCount is the effective count times w: prev*(w-elapsed) + cur*w.
func weightedCount(prev, cur, w, elapsed int64) intmath.U128 {
	return intmath.Mul(uint64(prev), uint64(w-elapsed)).Add(intmath.Mul(uint64(cur), uint64(w)))
}
