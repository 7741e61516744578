package intmath

import (
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Sliding decides one request with the sliding-window counter, from the
// previous and current fixed windows' counts. start is the current window's
// start, n the instant decided at (start <= n < start+w), now the caller's
// clock (for RetryAfter). Pure: when the decision is Allowed the caller counts
// the request in its current window.
func Sliding(prev, cur, limit, w, start, n, now int64) pipeline.LimitDecision {
	// effective*w = prev*(w-elapsed) + cur*w, compared with limit*w.
	weighted := Mul(uint64(prev), uint64(w-(n-start))).Add(Mul(uint64(cur), uint64(w)))
	capacity := Mul(uint64(limit), uint64(w))
	if weighted.Less(capacity) {
		// Further admissions k at this instant satisfy weighted + k*w < capacity.
		remaining := int64(capacity.Sub(weighted).DivCeil(uint64(w))) - 1
		return pipeline.LimitDecision{
			Allowed:   true,
			Limit:     limit,
			Remaining: remaining,
			Reset:     time.Unix(0, start+w),
		}
	}
	// Rejected: find the earliest instant with effective < limit.
	var at int64
	if cur < limit {
		// In this window: prev*(w-t) < (limit-cur)*w, i.e. w-t <= ceil(x/prev)-1.
		// prev > 0 here, otherwise weighted = cur*w < capacity.
		q := Mul(uint64(limit-cur), uint64(w)).DivCeil(uint64(prev))
		at = start + w - int64(q) + 1
	} else {
		// Only in the next window, where prev' = cur and cur' = 0:
		// cur*(w-t) < limit*w.
		q := Mul(uint64(limit), uint64(w)).DivCeil(uint64(cur))
		at = start + 2*w - int64(q) + 1
	}
	return pipeline.LimitDecision{
		Limit:      limit,
		Reset:      time.Unix(0, at),
		RetryAfter: time.Duration(at - now),
	}
}
