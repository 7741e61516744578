// Package local is the in-process rate limiter engine, registered as "local".
//
// # Contract
//
// Exact per node. Every decision for a key is taken under its shard's mutex,
// so a node never admits more (or fewer) requests than the policy allows, no
// matter how many goroutines ask at once. There is no cross-node sharing: N
// gateway nodes each enforce the full limit unless LimiterOptions.Nodes > 1
// ("divided" mode), where each node enforces max(1, floor(Limit/Nodes)) and
// LimitDecision.Limit reports that per-node figure. Floor keeps the cluster
// total at or under the configured limit (except when Limit < Nodes, where the
// floor of one request per node wins).
//
// Sharded. Keys are spread over 256 shards by maphash of the key string; each
// shard has its own mutex and a key table (engines/limiter/internal/keytable,
// shared with the crdt engine): a slab of 64-byte per-key states and a small
// open-addressing index into it (8-byte slots of hash tag and position, no
// pointers, reusing the maphash value, exact by comparing the stored key).
// Decisions on different shards never contend. The decision arithmetic below
// is engines/limiter/internal/rate, also shared with crdt.
//
// Allocation-free steady state. A decision for a key the limiter already holds
// allocates nothing. A new key costs one copy of the key (strings.Clone: the
// caller's key is only valid during the call) plus the amortised growth of its
// shard's index and slab.
//
// State is keyed by key alone, never by policy value: a config reload that
// changes a tier's Limit keeps the key's count. If the Window or the Algorithm
// changes, the count held at that instant is carried over into the new shape
// (a sliding-window count becomes the current window's count; a GCRA debt is
// rescaled to the new emission interval), so a reload never hands out a fresh
// allowance.
//
// Memory is bounded by collecting idle keys. A key untouched for more than two
// of its windows (and, for GCRA, past its theoretical arrival time) holds no
// information, so dropping it changes no decision. There is no background
// goroutine: each shard keeps a sweep cursor over its slab, and every insert
// (and every 32nd decision) inspects the next few slab entries, freeing idle
// ones for reuse and removing them from the index by backward shifting (no
// tombstones). When a shard's live keys fall under a quarter of its slab, the
// slab and index are rebuilt compactly. A shard therefore holds about the keys
// active in the last two windows plus what one cursor pass has not yet
// reached; it never grows because of keys that went idle. The limiter holds no
// goroutine or descriptor and so does not implement io.Closer.
//
// Concurrency. Allow is safe for concurrent use. The ctx argument is not
// consulted: a decision never blocks on anything but a shard mutex.
//
// # Algorithms
//
// SlidingWindow is the design chapter's sliding-window counter. Fixed windows
// are aligned to multiples of Window since the Unix epoch; with elapsed the time
// since the current window began, effective = prev*(1 - elapsed/Window) + cur.
// The arithmetic is exact (integer nanoseconds, 128-bit products).
//   - effective < Limit: admitted and counted. Remaining is the number of
//     further requests that would be admitted at this same instant, which is
//     ceil(Limit - effective - 1); it is Limit-1 on a fresh key, goes down by
//     one per admission and is 0 exactly when the next request would be
//     rejected. Reset is the end of the current fixed window.
//   - effective >= Limit: rejected, not counted, Remaining 0. Reset is the
//     earliest nanosecond at which a request would be admitted (computed
//     exactly, across the window end if needed: when cur == Limit that is one
//     nanosecond after the window ends, because at the boundary the previous
//     window still weighs 1), and RetryAfter = Reset - now.
//
// GCRA is the generic cell rate algorithm. The emission interval is
// T = Window/Limit (whole nanoseconds, at least 1) and the burst tolerance
// tau = (Limit-1)*T, which equals Window-T when Limit divides Window and admits
// a burst of exactly Limit otherwise too. Each key keeps its theoretical
// arrival time TAT (starting at now). A request is admitted when
// TAT - tau <= now, and then TAT = max(TAT, now) + T.
//   - admitted: Remaining = floor((Limit*T - (TAT-now))/T), the further
//     requests admitted at this instant; Reset = TAT, when the bucket is full
//     again.
//   - rejected: Remaining 0, RetryAfter = TAT - tau - now (exact), Reset =
//     now + RetryAfter.
//
// Policies with Limit <= 0, Window <= 0, Window > 2^60ns (about 36 years) or an
// unknown algorithm get an error wrapping pipeline.ErrNoDecision. If the clock
// steps back behind a key's current window, the key is decided as at the start
// of that window (never more permissive than before the step).
package local
