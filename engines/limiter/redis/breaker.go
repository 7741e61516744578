package redis

import (
	"sync/atomic"
	"time"
)

// Fail-fast while Redis is unreachable. Without it every decision during an
// outage waits its full deadline (5 ms by default) before the route's fail
// mode answers; with it, once BreakerTrips decisions in a row have failed on
// a timeout or a broken connection, decisions fail at once ("no decision",
// no round trip) for BreakerOpen, then a single decision probes Redis: success
// closes the breaker, failure opens it again.
//
// The trade-off: a healthy but briefly slow Redis that misses BreakerTrips
// deadlines in a row makes the next BreakerOpen of decisions "no decision"
// too; the threshold counts only consecutive failures with no success in
// between, so that takes a real stall rather than a stray slow reply.
const (
	BreakerTrips = 8
	BreakerOpen  = 100 * time.Millisecond
)

type breaker struct {
	fails     atomic.Int32
	openUntil atomic.Int64 // unix ns; 0 when closed
	probing   atomic.Bool
}

// allow reports whether a decision may go to Redis now.
func (b *breaker) allow(now int64) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true) // half-open: one probe
}

func (b *breaker) success() {
	if b.fails.Load() != 0 || b.openUntil.Load() != 0 {
		b.fails.Store(0)
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

// failure records an availability failure (timeout or connection).
func (b *breaker) failure(now int64) {
	if b.fails.Add(1) >= BreakerTrips {
		b.openUntil.Store(now + int64(BreakerOpen))
	}
	b.probing.Store(false)
}
