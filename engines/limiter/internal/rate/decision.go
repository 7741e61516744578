package rate

import "time"

// Decision is what Sliding and GCRA return: the fields of a
// pipeline.LimitDecision but Limit (the caller's), with Reset in Unix
// nanoseconds.
//
// An engine builds its pipeline.LimitDecision from it in one struct literal,
// in the return statement of its Allow. That is for speed: with four fields a
// Decision stays in registers, where a LimitDecision (five) returned through
// one more call, or by a helper inlined into Allow, is built in memory and
// copied, which costs a decision on a known key about a fifth of its time.
type Decision struct {
	Allowed    bool
	Remaining  int64
	Reset      int64 // Unix ns
	RetryAfter time.Duration
}
