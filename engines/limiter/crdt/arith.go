package crdt

import "github.com/gatelab/gatelab/engines/limiter/internal/intmath"

const (
	// maxCount caps every count, slot value and sum so that adding three of
	// them (base + mine + others) or a time and a debt never overflows int64.
	maxCount = 1 << 61
	// maxBase bounds a base register on the wire: a GCRA base is an absolute
	// time (Unix ns) that a carry may push up to now + maxCount.
	maxBase = 1 << 62
	// maxWindow bounds Policy.Window as the local engine does.
	maxWindow = 1 << 60
)

// satAdd is a+b for non-negative a and b, capped at maxCount.
func satAdd(a, b int64) int64 {
	s := a + b
	if s > maxCount || s < 0 {
		return maxCount
	}
	return s
}

func floorDiv(a, b int64) int64 { return intmath.FloorDiv(a, b) }

// scaleLimit is max(1, floor(limit*m/n)) for 0 < m < n.
func scaleLimit(limit, m, n int64) int64 {
	return max(1, intmath.MulDivSat(uint64(limit), uint64(m), uint64(n), maxCount))
}
