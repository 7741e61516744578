// Package intmath is the exact integer arithmetic under the in-process
// limiter engines' decisions (engines/limiter/internal/rate): floor division
// and 128-bit products of counts and nanoseconds, so window arithmetic never
// rounds or overflows. Pure, allocation-free.
package intmath

import "math/bits"

// FloorDiv is floor(a/b) for b > 0.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// MulDivSat is a*b/c (c > 0), saturated at limit.
func MulDivSat(a, b, c uint64, limit int64) int64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return limit
	}
	q, _ := bits.Div64(hi, lo, c)
	return int64(min(q, uint64(limit)))
}

// U128 is an unsigned 128-bit integer, enough for count*nanoseconds products.
type U128 struct{ Hi, Lo uint64 }

// Mul is the full product a*b.
func Mul(a, b uint64) U128 {
	hi, lo := bits.Mul64(a, b)
	return U128{hi, lo}
}

// Add is x+y (wrapping).
func (x U128) Add(y U128) U128 {
	lo, c := bits.Add64(x.Lo, y.Lo, 0)
	hi, _ := bits.Add64(x.Hi, y.Hi, c)
	return U128{hi, lo}
}

// Sub is x-y (wrapping).
func (x U128) Sub(y U128) U128 {
	lo, b := bits.Sub64(x.Lo, y.Lo, 0)
	hi, _ := bits.Sub64(x.Hi, y.Hi, b)
	return U128{hi, lo}
}

// Less reports x < y.
func (x U128) Less(y U128) bool {
	return x.Hi < y.Hi || (x.Hi == y.Hi && x.Lo < y.Lo)
}

// DivCeil is ceil(x/d); the quotient must fit in 64 bits (x.Hi < d).
func (x U128) DivCeil(d uint64) uint64 {
	q, r := bits.Div64(x.Hi, x.Lo, d)
	if r != 0 {
		q++
	}
	return q
}
