package local

import (
	"context"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/internal/rate"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() {
	engines.RegisterLimiter("local", func(opts engines.LimiterOptions, _ engines.NoSettings) (engines.Limiter, error) {
		return New(opts)
	})
}

var _ pipeline.Limiter = (*Limiter)(nil)

// maxWindow bounds Policy.Window so that now + 2*Window and every other sum of
// times stays far from int64 overflow.
const maxWindow = 1 << 60

// Limiter is the in-process limiter. Build it with New.
type Limiter struct {
	now    func() time.Time
	nodes  int64
	seed   maphash.Seed
	shards [numShards]shard
}

// New builds a local limiter. opts.Now is the clock (nil: time.Now);
// opts.Nodes > 1 selects divided mode.
func New(opts engines.LimiterOptions) (engines.Limiter, error) {
	if opts.Nodes < 0 {
		return nil, fmt.Errorf("local limiter: Nodes must not be negative, got %d", opts.Nodes)
	}
	return newLimiter(opts), nil
}

func newLimiter(opts engines.LimiterOptions) *Limiter {
	l := &Limiter{now: opts.Now, nodes: int64(opts.Nodes), seed: maphash.MakeSeed()}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// Allow decides one request under key and counts it when admitted.
func (l *Limiter) Allow(_ context.Context, key string, p pipeline.Policy) (pipeline.LimitDecision, error) {
	if p.Limit <= 0 || p.Window <= 0 || p.Window > maxWindow ||
		(p.Algorithm != pipeline.SlidingWindow && p.Algorithm != pipeline.GCRA) {
		return pipeline.LimitDecision{}, p.Invalid("local")
	}
	limit := p.Limit
	if l.nodes > 1 {
		limit = max(1, limit/l.nodes)
	}
	w := int64(p.Window)
	unit := w
	if p.Algorithm == pipeline.GCRA {
		unit = max(1, w/limit)
	}
	now := l.now().UnixNano()

	h := maphash.String(l.seed, key)
	sh := &l.shards[h&(numShards-1)]
	tag := uint32(h >> 32)
	sh.mu.Lock()
	i, ok := sh.Find(tag, key)
	if !ok {
		i = sh.Insert(tag, key)
		(*entry)(&sh.Slab[i]).init(p.Algorithm, unit, now, w)
	}
	e := (*entry)(&sh.Slab[i])
	var d rate.Decision
	if p.Algorithm == pipeline.GCRA {
		d = e.gcra(now, limit, unit, w)
	} else {
		d = e.slidingWindow(now, limit, w)
	}
	sh.ops++
	if !ok {
		sh.SweepStep(now, insertSweep)
	} else if sh.ops%hitSweepEvery == 0 {
		sh.SweepStep(now, hitSweep)
	}
	sh.mu.Unlock()
	return pipeline.LimitDecision{
		Allowed:    d.Allowed,
		Limit:      limit,
		Remaining:  d.Remaining,
		Reset:      time.Unix(0, d.Reset),
		RetryAfter: d.RetryAfter,
	}, nil
}

// sweep inspects every slot of every shard and frees the keys idle at now,
// compacting shards that became mostly empty. The amortised sweep in Allow
// makes calling it unnecessary; tests use it to check collection directly.
func (l *Limiter) sweep(now time.Time) {
	n := now.UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		sh.SweepAll(n)
		sh.mu.Unlock()
	}
}

// keys returns how many keys the limiter holds.
func (l *Limiter) keys() int {
	total := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		total += sh.Live
		sh.mu.Unlock()
	}
	return total
}

// slots returns the total slab length (live plus free slots).
func (l *Limiter) slots() int {
	total := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		total += len(sh.Slab)
		sh.mu.Unlock()
	}
	return total
}
