package crdt

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/limiter/internal/rate"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() {
	engines.RegisterLimiter("crdt", New)
}

var (
	_ pipeline.Limiter = (*Limiter)(nil)
	_ io.Closer        = (*Limiter)(nil)
)

// Partition modes (Settings.PartitionMode).
const (
	ModeScale  = "scale"
	ModeOpen   = "open"
	ModeClosed = "closed"
)

const (
	defaultSyncInterval = 25 * time.Millisecond
	// urgentGap is the least time between two sync rounds triggered early by
	// a key getting close to its limit (see Allow).
	urgentGap = 500 * time.Microsecond
	// maxFullState bounds a full-state message (memberlist refuses more than
	// 20 MiB of user state); records beyond it are left to deltas.
	maxFullState = 16 << 20
)

var (
	errPartitionOpen   = fmt.Errorf("%w: crdt limiter: partitioned (fewer members visible than expected), partition mode open", pipeline.ErrNoDecision)
	errPartitionClosed = fmt.Errorf("%w: crdt limiter: partitioned (fewer members visible than expected), partition mode closed", pipeline.ErrNoDecision)
)

// Limiter is the replicated limiter: one node of a cluster. Build it with New;
// Close leaves the cluster.
type Limiter struct {
	now      func() time.Time
	seed     maphash.Seed
	name     string
	mode     string
	expected int64
	interval time.Duration

	// members packs the visible member count m (high 32 bits, this node
	// included) and the cluster size N (low 32 bits).
	members atomic.Uint64

	shards [numShards]shard
	// dirtyShards has bit s set when shard s may hold unsent changes, so an
	// early sync round visits only those shards.
	dirtyShards [numShards / 64]atomic.Uint64

	peers peerTable

	// counters behind the metrics
	rejectedWindow atomic.Uint64
	rejectedShape  atomic.Uint64
	malformed      atomic.Uint64
	deltaBytes     atomic.Uint64
	partitioned    atomic.Uint64
	lastRound      atomic.Int64 // real Unix ns of the last sync round's drain
	noUrgent       atomic.Bool  // tests: disable early rounds near the limit

	urgent chan struct{}

	// cluster side (nil in core-only tests)
	cl *cluster

	deltaHeader []byte
	chunks      [][]byte // sync loop only
	scratch     []byte   // sync loop only
}

// peerTable maps node names to small ids (0 is this node). Ids are never
// reused, so a record's remote slots stay valid; the table is bounded by
// maxNodes distinct names.
type peerTable struct {
	mu    sync.RWMutex
	ids   map[string]int
	names []string // names[id]; names[0] is this node
}

func (p *peerTable) init(self string) {
	p.ids = map[string]int{self: 0}
	p.names = []string{self}
}

// id returns the id of name, adding it if new; -1 if the table is full.
func (p *peerTable) id(name []byte) int {
	p.mu.RLock()
	id, ok := p.ids[string(name)]
	p.mu.RUnlock()
	if ok {
		return id
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok := p.ids[string(name)]; ok {
		return id
	}
	if len(p.names) >= maxNodes {
		return -1
	}
	s := string(name)
	id = len(p.names)
	p.ids[s] = id
	p.names = append(p.names, s)
	return id
}

func (p *peerTable) snapshot() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.names[:len(p.names):len(p.names)]
}

// newCore builds the counter side of a limiter: no network, no goroutine.
func newCore(name string, opts engines.LimiterOptions, s Settings) *Limiter {
	l := &Limiter{
		now:      opts.Now,
		seed:     maphash.MakeSeed(),
		name:     name,
		mode:     s.PartitionMode,
		expected: int64(s.ExpectedNodes),
		interval: s.SyncInterval,
		urgent:   make(chan struct{}, 1),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.mode == "" {
		l.mode = ModeScale
	}
	if l.interval <= 0 {
		l.interval = defaultSyncInterval
	}
	l.peers.init(name)
	l.deltaHeader = appendHeader(nil, kindDelta, []string{name})
	l.setMembers(1, max(1, l.expected))
	l.lastRound.Store(time.Now().UnixNano())
	return l
}

func (l *Limiter) setMembers(m, n int64) {
	l.members.Store(uint64(m)<<32 | uint64(uint32(n)))
}

// Members returns how many members this node sees (itself included) and the
// cluster size N the partition policy compares that with.
func (l *Limiter) Members() (visible, expected int) {
	mn := l.members.Load()
	return int(mn >> 32), int(uint32(mn))
}

// Node returns this node's name.
func (l *Limiter) Node() string { return l.name }

// Allow decides one request under key and counts it when admitted.
func (l *Limiter) Allow(_ context.Context, key string, p pipeline.Policy) (pipeline.LimitDecision, error) {
	if p.Limit <= 0 || p.Window <= 0 || p.Window > maxWindow ||
		(p.Algorithm != pipeline.SlidingWindow && p.Algorithm != pipeline.GCRA) {
		return pipeline.LimitDecision{}, p.Invalid("crdt")
	}
	limit := p.Limit
	mn := l.members.Load()
	if m, n := int64(mn>>32), int64(uint32(mn)); m < n {
		l.partitioned.Add(1)
		switch l.mode {
		case ModeOpen:
			return pipeline.LimitDecision{}, errPartitionOpen
		case ModeClosed:
			return pipeline.LimitDecision{}, errPartitionClosed
		}
		limit = scaleLimit(limit, m, n)
	}
	w := int64(p.Window)
	unit := w
	if p.Algorithm == pipeline.GCRA {
		unit = max(1, w/p.Limit)
	}
	now := l.now().UnixNano()

	sh, s, tag := l.locate(maphash.String(l.seed, key))
	sh.mu.Lock()
	i, ok := sh.Find(tag, key)
	if !ok {
		i = sh.insert(tag, key, p.Algorithm, w, unit, now)
	}
	r := sh.record(i)
	var changed uint8
	if !r.sameShape(p.Algorithm, w, unit) {
		changed = r.carry(now, p.Algorithm, w, unit)
	}
	var d rate.Decision
	var c uint8
	if p.Algorithm == pipeline.GCRA {
		d, c = r.gcra(now, limit, max(1, w/limit), w)
	} else {
		d, c = r.slidingWindow(now, limit, w)
	}
	if changed |= c; changed != 0 && len(key) <= maxKeyLen && sh.markDirty(i, changed) {
		l.dirtyShards[s/64].Or(1 << (s % 64))
	}
	sh.mu.Unlock()

	// In the upper half of the limit every admission matters to the other
	// nodes: ask for a sync round now instead of at the next tick. (The zone
	// must start early: this node learns the others' admissions up to one
	// SyncInterval late, and must not enter it only after the limit is gone.)
	if c != 0 && d.Remaining <= limit/2+1 && mn>>32 > 1 && !l.noUrgent.Load() {
		select {
		case l.urgent <- struct{}{}:
		default:
		}
	}
	return pipeline.LimitDecision{
		Allowed:    d.Allowed,
		Limit:      limit,
		Remaining:  d.Remaining,
		Reset:      time.Unix(0, d.Reset),
		RetryAfter: d.RetryAfter,
	}, nil
}

// locate returns the shard of a key whose maphash is h, the shard's number,
// and the key's tag in its index.
func (l *Limiter) locate(h uint64) (*shard, uint64, uint32) {
	s := h & (numShards - 1)
	return &l.shards[s], s, uint32(h >> 32)
}

// handleMsg merges a message from another node (a delta, a full state or a
// bye). Malformed messages are counted and dropped; entries decoded before a
// malformed one have been merged, which is harmless (merges are monotone).
func (l *Limiter) handleMsg(buf []byte) {
	m, err := decodeHeader(buf)
	if err != nil {
		l.malformed.Add(1)
		return
	}
	if m.kind == kindBye {
		if l.cl != nil {
			l.cl.forget(string(m.nodes[0]))
		}
		return
	}
	// ids maps the message's node table to peer ids, resolved on first use
	// by a well-formed entry (so garbage never takes a place in the table).
	ids := make([]int, len(m.nodes))
	for i := range ids {
		ids[i] = unresolved
	}
	resolve := func(i int) int {
		if ids[i] == unresolved {
			if string(m.nodes[i]) == l.name {
				ids[i] = 0
			} else {
				ids[i] = l.peers.id(m.nodes[i])
			}
		}
		return ids[i]
	}
	now := l.now().UnixNano()
	if err := decodeEntries(m, make([]slotVal, 0, 8), func(e *entry) { l.merge(e, resolve, now) }); err != nil {
		l.malformed.Add(1)
	}
}

const unresolved = -2

// merge applies one entry; peer maps an index of the message's node table to
// a peer id (-1: the table is full, the slot is dropped).
func (l *Limiter) merge(e *entry, peer func(int) int, now int64) {
	cur := floorDiv(now, e.w)
	if e.idx > cur+1 || (e.algo == pipeline.SlidingWindow && e.idx < cur-2) {
		l.rejectedWindow.Add(1)
		return
	}
	sh, s, tag := l.locate(maphash.Bytes(l.seed, e.key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.Find(tag, string(e.key))
	if !ok {
		i = sh.insert(tag, string(e.key), e.algo, e.w, e.unit, now)
		if e.algo == pipeline.GCRA {
			sh.Slab[i].State.cells[0].idx = noWindow // adopt whatever epoch the sender counts in
		}
	}
	r := sh.record(i)
	if !r.sameShape(e.algo, e.w, e.unit) {
		l.rejectedShape.Add(1)
		return
	}
	pos := 0
	if e.algo == pipeline.SlidingWindow {
		pos = int(e.idx & (ring - 1))
		if c := &r.State.cells[pos]; c.idx != e.idx {
			if c.idx > e.idx { // the ring moved past that window (clock stepped back)
				return
			}
			r.State.resetCell(pos, e.idx)
		}
	} else {
		switch c := &r.State.cells[0]; {
		case e.idx < c.idx:
			// The sender counts in an older epoch: our next delta tells it.
			if len(r.Key) <= maxKeyLen && sh.markDirty(i, 1) {
				l.dirtyShards[s/64].Or(1 << (s % 64))
			}
			return
		case e.idx > c.idx:
			r.State.resetCell(0, e.idx)
		}
	}
	c := &r.State.cells[pos]
	c.base = max(c.base, e.base)
	for _, sv := range e.slots {
		if id := peer(sv.node); id >= 0 {
			r.State.setSlot(id, pos, sv.value)
		}
	}
	if e.algo == pipeline.SlidingWindow {
		r.IdleAt = max(r.IdleAt, (e.idx+2)*e.w)
	} else {
		r.IdleAt = max(r.IdleAt, now+2*e.w, c.base+satAdd(c.mine, c.others))
	}
}

// sendable reports whether cell pos of r is worth putting in a full state at
// now: it holds a window the receiver accepts (or is the GCRA cell).
func (r *record) sendable(pos int, now int64) bool {
	s := &r.State
	c := &s.cells[pos]
	if r.Algo == pipeline.GCRA {
		return pos == 0 && c.idx != noWindow
	}
	if c.idx == noWindow || c.total() == 0 {
		return false
	}
	cur := floorDiv(now, s.w)
	return c.idx >= cur-2 && c.idx <= cur+1
}

// fullState encodes every slot of every live cell this node holds.
func (l *Limiter) fullState() []byte {
	names := l.peers.snapshot()
	b := appendHeader(make([]byte, 0, 4096), kindFull, names)
	now := l.now().UnixNano()
	for s := range l.shards {
		sh := &l.shards[s]
		sh.mu.Lock()
		for i := range sh.Slab {
			r := (*record)(&sh.Slab[i])
			if !r.Live || len(r.Key) > maxKeyLen {
				continue
			}
			for pos := range ring {
				if !r.sendable(pos, now) {
					continue
				}
				b = appendEntryHead(b, r, &r.State.cells[pos])
				n := 0
				for id := range names {
					if r.State.slot(id, pos) > 0 {
						n++
					}
				}
				b = appendUvarint(b, uint64(n))
				for id := range names {
					if v := r.State.slot(id, pos); v > 0 {
						b = appendSlot(b, id, v)
					}
				}
			}
			if len(b) > maxFullState {
				break
			}
		}
		sh.mu.Unlock()
		if len(b) > maxFullState {
			break
		}
	}
	return b
}

// buildDeltas drains the shards' changes into chunks of at most maxChunk
// bytes (each a complete delta message; none when encode is false: nobody to
// send to). A full round visits every shard and advances the idle sweep; an
// early one visits only the shards marked dirty. It returns the chunks,
// valid until the next call.
func (l *Limiter) buildDeltas(now int64, full, encode bool) [][]byte {
	n := 0
	var cur []byte
	flush := func() {
		if len(cur) > len(l.deltaHeader) {
			l.chunks[n-1] = cur
		} else {
			n-- // empty chunk: drop it
		}
		cur = nil
	}
	start := func() {
		if n == len(l.chunks) {
			l.chunks = append(l.chunks, make([]byte, 0, maxChunk))
		}
		cur = append(l.chunks[n][:0], l.deltaHeader...)
		n++
	}
	emit := func(r *record, bits uint8) {
		if !encode {
			return
		}
		for pos := range ring {
			if bits&(1<<pos) == 0 {
				continue
			}
			c := &r.State.cells[pos]
			e := appendEntryHead(l.scratch[:0], r, c)
			e = appendUvarint(e, 1)
			e = appendSlot(e, 0, c.mine)
			l.scratch = e
			if cur == nil || len(cur)+len(e) > maxChunk {
				if cur != nil {
					flush()
				}
				start()
			}
			cur = append(cur, e...)
		}
	}
	for word := range l.dirtyShards {
		marked := l.dirtyShards[word].Swap(0)
		if full {
			marked = ^uint64(0)
		}
		for ; marked != 0; marked &= marked - 1 {
			sh := &l.shards[word*64+bits.TrailingZeros64(marked)]
			sh.mu.Lock()
			sh.drain(emit)
			if full {
				sh.sweepStep(now, syncSweep)
			}
			sh.mu.Unlock()
		}
	}
	if cur != nil {
		flush()
	}
	return l.chunks[:n]
}

// pending reports whether some local change has not been sent yet.
func (l *Limiter) pending() bool {
	for i := range l.dirtyShards {
		if l.dirtyShards[i].Load() != 0 {
			return true
		}
	}
	return false
}

// syncLag is the metric's value: see doc.go.
func (l *Limiter) syncLag() time.Duration {
	if !l.pending() {
		return 0
	}
	return max(0, time.Duration(time.Now().UnixNano()-l.lastRound.Load()))
}

// sweep frees every idle record at now (tests; the sync loop sweeps
// incrementally). Pending changes are drained and dropped first.
func (l *Limiter) sweep(now time.Time) {
	n := now.UnixNano()
	for s := range l.shards {
		sh := &l.shards[s]
		sh.mu.Lock()
		sh.drain(func(*record, uint8) {})
		sh.sweepAll(n)
		sh.mu.Unlock()
	}
}

// keys returns how many keys the limiter holds.
func (l *Limiter) keys() int {
	total := 0
	for s := range l.shards {
		sh := &l.shards[s]
		sh.mu.Lock()
		total += sh.Live
		sh.mu.Unlock()
	}
	return total
}

// Totals is a key's merged sliding-window view at now: the merged count of the
// current fixed window and of the previous one, as this node sees them (for a
// GCRA key: the consumed emission time and base of its epoch). ok is false if
// the node holds no state for key. Meant for tests and diagnostics.
func (l *Limiter) Totals(key string) (cur, prev int64, ok bool) {
	sh, _, tag := l.locate(maphash.String(l.seed, key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, found := sh.Find(tag, key)
	if !found {
		return 0, 0, false
	}
	r := sh.record(i)
	if r.Algo == pipeline.GCRA {
		c := &r.State.cells[0]
		return satAdd(c.mine, c.others), c.base, true
	}
	idx := max(floorDiv(l.now().UnixNano(), r.State.w), r.State.win)
	return r.State.windowTotal(idx), r.State.windowTotal(idx - 1), true
}

// slots returns, for tests, every node's slot value (by name) in the cell of
// key holding window (or epoch) idx.
func (l *Limiter) slots(key string, idx int64) map[string]int64 {
	names := l.peers.snapshot()
	sh, _, tag := l.locate(maphash.String(l.seed, key))
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := map[string]int64{}
	i, found := sh.Find(tag, key)
	if !found {
		return out
	}
	r := sh.record(i)
	pos := int(idx & (ring - 1))
	if r.Algo == pipeline.GCRA {
		pos = 0
	}
	if r.State.cells[pos].idx != idx {
		return out
	}
	for id, n := range names {
		if v := r.State.slot(id, pos); v > 0 {
			out[n] = v
		}
	}
	return out
}
