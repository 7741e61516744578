package rate

import (
	"time"

	"github.com/gatelab/gatelab/engines/limiter/internal/intmath"
)

// MaxDebt caps a carried-over GCRA debt (RescaleTAT, CountTAT) far below
// int64 overflow, so that a time plus a debt always fits.
const MaxDebt = 1 << 61

// GCRA decides one request at now with the generic cell rate algorithm, for
// a key whose theoretical arrival time is tat (any instant up to now on a
// fresh key: 0 will do), with emission interval t and burst tolerance
// (limit-1)*t. It returns the decision and the key's TAT after it:
// max(tat, now) + t when admitted, tat unchanged when rejected (a rejected
// request is not counted; tat is then after now).
func GCRA(tat, now, limit, t int64) (Decision, int64) {
	tau := (limit - 1) * t
	tat = max(tat, now)
	if tat-now > tau {
		at := tat - tau
		return Decision{Reset: at, RetryAfter: time.Duration(at - now)}, tat
	}
	tat += t
	return Decision{Allowed: true, Remaining: (limit*t - (tat - now)) / t, Reset: tat}, tat
}

// RescaleTAT re-expresses a GCRA state with emission interval from as one
// with interval to: the same number of requests outstanding at now, so the
// debt tat-now is scaled by to/from (saturated at MaxDebt). A tat at or
// before now (no debt) is returned unchanged.
func RescaleTAT(tat, now, from, to int64) int64 {
	if debt := tat - now; debt > 0 {
		return now + intmath.MulDivSat(uint64(debt), uint64(to), uint64(from), MaxDebt)
	}
	return tat
}

// GCRACount is the number of requests a GCRA state with emission interval t
// holds at now: its debt tat-now in intervals, rounded up (0 without debt).
func GCRACount(tat, now, t int64) int64 {
	if debt := tat - now; debt > 0 {
		return int64(intmath.U128{Lo: uint64(debt)}.DivCeil(uint64(t)))
	}
	return 0
}

// CountTAT is the theoretical arrival time of a GCRA state with emission
// interval t holding count requests at now: now + count*t (saturated at
// MaxDebt), or 0 (a fresh key) when count is 0.
func CountTAT(count, now, t int64) int64 {
	if count > 0 {
		return now + intmath.MulDivSat(uint64(count), uint64(t), 1, MaxDebt)
	}
	return 0
}
