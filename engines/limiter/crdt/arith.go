package crdt

import "math/bits"

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

// floorDiv is floor(a/b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// mulDivSat is a*b/c (c > 0), saturated at maxCount.
func mulDivSat(a, b, c uint64) int64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return maxCount
	}
	q, _ := bits.Div64(hi, lo, c)
	return int64(min(q, maxCount))
}

// u128 is an unsigned 128-bit integer, enough for count*nanoseconds products.
type u128 struct{ hi, lo uint64 }

func mul(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.lo, y.lo, 0)
	hi, _ := bits.Add64(x.hi, y.hi, c)
	return u128{hi, lo}
}

func (x u128) sub(y u128) u128 {
	lo, b := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, b)
	return u128{hi, lo}
}

func (x u128) less(y u128) bool {
	return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo)
}

// divCeil is ceil(x/d); the quotient must fit in 64 bits (x.hi < d).
func (x u128) divCeil(d uint64) uint64 {
	q, r := bits.Div64(x.hi, x.lo, d)
	if r != 0 {
		q++
	}
	return q
}

// scaleLimit is max(1, floor(limit*m/n)) for 0 < m < n.
func scaleLimit(limit, m, n int64) int64 {
	return max(1, mulDivSat(uint64(limit), uint64(m), uint64(n)))
}
