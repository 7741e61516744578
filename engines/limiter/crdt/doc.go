// Package crdt is the replicated rate limiter engine, registered as "crdt":
// every gateway node decides locally, in memory, on counters that the nodes
// exchange as CRDTs over hashicorp/memberlist. There is no central store.
//
// # Data model
//
// Per (key, fixed window) the engine keeps a grow-only counter (G-counter)
// with one slot per node: a node only ever increments its own slot, and
// merging another node's view takes the element-wise maximum, which is
// idempotent, commutative and associative, so deltas may be lost, duplicated
// or reordered and full states may be exchanged at any time: replicas that
// have seen the same updates hold the same counters. A decision reads the
// merged total: this node's slot plus the merged slots of the others (plus a
// max-register "base", zero unless a config reload carried a count over; see
// Reloads).
//
// SlidingWindow applies exactly the local engine's formulas (package
// engines/limiter/local; both call engines/limiter/internal/rate) to the
// merged totals of the current and previous fixed windows:
// effective = prev*(1 - elapsed/Window) + cur, admitted iff effective <
// Limit, Remaining = ceil(Limit - effective - 1), Reset = window end, and for
// a rejection RetryAfter = the earliest instant effective drops below Limit
// (exact, in integer nanoseconds with 128-bit products). Windows are aligned
// to multiples of Window since the Unix epoch on each node's clock
// (LimiterOptions.Now, so a fake clock drives the window arithmetic). A key
// keeps a ring of four windows, cur-2 .. cur+1: a merge for a window more
// than 2 windows behind or 1 ahead of the receiver's clock is rejected and
// counted (gatelab_crdt_merges_rejected_total{reason="out_of_window"}).
//
// On one node the engine gives exactly the local engine's answers for the same
// sequence of requests, clock moves (including a clock stepping back) and
// reloads: it passes limitertest.Run with UsesClock and Exact, and a
// randomised differential test against local.
//
// GCRA is replicated as G-counter + max-register: each node's slot
// accumulates the emission time it consumed (T = Window/Limit per admission,
// in nanoseconds), a max-register B holds the bucket's base, and the
// theoretical arrival time is TAT = B + the merged consumption. A request is
// admitted iff TAT - now <= tau = (Limit-1)*T; when TAT < now (the bucket is
// full) the admitting node first raises B to now - consumption. On one node
// this is exactly local's TAT = max(TAT, now) + T. Across nodes B is merged by
// max and consumption is summed, so once a node has seen every admission its
// TAT is the single-node TAT of all of them; with lag, a node under-counts the
// others' unseen consumption (over-admission, the same bound as below), and a
// B raised on a stale view over-counts consumption unseen at that moment
// (conservative). A key's GCRA state lives in an epoch, numbered by the
// window index at which it started: a new key starts in floor(now/Window), the
// same on every node creating it within a window, so concurrent creations
// merge; a reload that changes T, or re-creating a key after it was collected
// (at least two windows idle), starts a later epoch that replaces the older
// state on every node it reaches (the discarded consumption is bounded by the
// other nodes' admissions that node had not yet seen), and a node receiving an
// older epoch re-sends its own. A GCRA epoch ahead of the receiver's clock by
// more than one window is rejected and counted.
//
// # Consistency and error bound
//
// Counters are eventually consistent: a node's merged view of a key never
// exceeds the true count (slots only hold admissions that happened), and it
// lags the truth by the admissions made elsewhere during the propagation
// delay d (the sender's next sync round, then transport and merge). So:
//   - No under-admission from counting: a node admits while the true count
//     may still be below Limit. (The exceptions are by design: the scale
//     partition mode, the GCRA cases above, and counts carried by reloads,
//     which round up.)
//   - Over-admission in a window is at most the admissions the cluster makes
//     within one propagation delay around the moment the limit is reached,
//     about (aggregate admitted rate) x d, and never more than one Limit per
//     node that cannot see the others (a burst shorter than d can be
//     admitted in full by every node).
//
// d is kept small where it matters: deltas go out every SyncInterval (default
// 25 ms), and as soon as a key is in the upper half of its limit (Remaining <=
// Limit/2 + 1 after an admission) the admitting node asks for an early sync
// round, run at most every 500 us, so near the limit d is the transport and
// the merge (sub-millisecond on a quiet LAN). The zone starts at half the
// limit because a node learns the others' admissions up to one SyncInterval
// late and must enter it before the limit is gone. The accuracy test (one
// key, limit 200 per 10 s, 2000 requests offered within 1.5 s by 2 clients per
// node, 3 trials, 3 and 5 nodes in one process) measured medians of +0-2%
// for both algorithms; with deltas only every SyncInterval, +3.5-6.5% (+8-12%
// at 2000/s). The figures move with the host's load: scheduling stalls of
// the gossip path lengthen d (on a saturated 2-core host single trials
// reached +10%).
//
// A stricter scheme was tried and dropped: near the limit, letting each
// node spend only a 1/m share of the headroom it sees until it hears from
// every peer. Without causal acknowledgements the news that renews a share
// can itself be stale, and measured over-admission did not improve, while
// it added spurious short rejections.
//
// # Partitions
//
// Membership is memberlist's SWIM: a node that stops answering is declared
// dead about a second later (probe interval 200 ms, suspicion 3 intervals,
// shortened by confirmations). A node sees m members (itself and the members
// alive or suspected) out of N: Settings.ExpectedNodes if set, else the
// most members ever seen (this node included) minus those that left with a
// bye (Close); a crashed node keeps counting until it returns, so fixed
// clusters should set ExpectedNodes. When m < N, Settings.PartitionMode
// decides:
//   - "scale" (default): the node enforces max(1, floor(Limit*m/N)) on the
//     merged count of what it can see and reports that figure as
//     LimitDecision.Limit. Disjoint sides together stay within Limit; a side
//     with more than its share of the traffic is under-admitted. GCRA scales
//     both burst and rate: each admission costs Window/limit' of emission
//     time, so after the heal the merged debt counts the partition's
//     admissions N/m-fold (conservative, worn off within about one Window).
//   - "open" and "closed": Allow returns an error wrapping
//     pipeline.ErrNoDecision (the message names the mode) and the route's
//     fail mode answers; for the engine both mean "no decision", the metric
//     gatelab_crdt_partitioned_decisions_total{mode} keeps them apart.
//
// A starting node that has not joined yet sees m = 1: with ExpectedNodes set,
// it scales (or refuses) until it has joined.
//
// After a heal the counters converge without coordination: every 2 x
// SyncInterval each node re-joins the known members it considers dead (a
// memberlist join is a push/pull that exchanges the full counter state both
// ways), a member coming back is also pushed this node's full state, and
// memberlist's periodic push/pull (every 5 s) repairs deltas lost on the way.
// The partition test (4 nodes split 2|2) measured all nodes holding identical
// counters 11-45 ms after the links came back (membership whole again within
// a few ms more).
//
// # Transport
//
// memberlist's DefaultLANConfig with Name = Settings.Node, bound to
// Settings.Bind, joining Settings.Peers, with loopback/LAN timings
// (probe 200 ms / timeout 100 ms, gossip 20 ms, push/pull 5 s, TCP timeout 1
// s), no compression and no encryption. Deltas are the (key, window, this
// node's slot, base) entries changed since the previous round, sent straight
// to every member (one hop, no retransmission queue) with SendBestEffort in
// UDP packets of at most 1380 bytes; a round larger than four packets goes as
// one TCP message per member instead (SendReliable, in the background, one in
// flight per member). Full state travels in memberlist's push/pull
// (Delegate.LocalState/MergeRemoteState: join, periodic, re-join) and in
// pushes after a re-join. Messages are versioned and compact (encoding/binary
// varints, wire.go); the decoder bounds every length and value and drops
// whatever does not parse (gatelab_crdt_messages_malformed_total). The
// gossip port must be on a trusted network: messages are neither encrypted
// nor authenticated.
// memberlist's own log lines go to slog.Default() at the level each is
// tagged with (debug lines are silent at the default info level).
//
// Settings (the config's limiter.crdt section; the -node, -bind and -peers
// flags of gatelab serve override it): Bind defaults to 127.0.0.1:0
// (loopback, ephemeral port: a one-node cluster unless others are told the
// port); its host must be an IP literal. Node defaults to
// LimiterOptions.Instance (gateway.instance), else to crdt-<IP or, on a
// wildcard bind, hostname>:<port>.
// Peers are joined once before New returns; if none answers, New still
// succeeds and the seeds are retried every 2 x SyncInterval while this node
// sees no other member. SyncInterval defaults to 25 ms.
//
// Several nodes run in one process (tests, benchmarks) with Bind
// 127.0.0.1:0: Addr reports the bound address for the others' Peers. Close
// sends a bye, leaves the memberlist cluster, stops the engine's goroutines
// and releases the port. SetLinkFilter drops this node's outgoing packets and
// connections to chosen addresses, to simulate partitions.
//
// # Reloads
//
// State is keyed by key, not by policy: a new Limit keeps the count (GCRA: a
// new T rescales the outstanding debt, as local does). A new Window or
// Algorithm carries the count held at that instant into the new shape through
// the base register (a max-register: every node carrying the same merged view
// carries the same amount), so a reload never hands out a fresh allowance.
// Entries from a node whose key has another algorithm or window are not
// merged (gatelab_crdt_merges_rejected_total{reason="config_mismatch"}):
// during a rolling reload the nodes on each config count separately.
//
// # Performance, allocations, concurrency
//
// Keys are spread over 256 shards (maphash), each with its own mutex and a
// key table (engines/limiter/internal/keytable, as in the local engine: a
// slab of records and an open-addressing index into it). Allow holds one
// shard mutex for the decision and never waits for the network; ctx and
// Policy.Deadline are not consulted. A decision on a key the node holds
// allocates nothing; a new key costs a copy of the key and amortised index
// and slab growth. The gossip side allocates
// (messages, the slot arrays of peers, memberlist's buffers). A sync round
// holds each dirty shard's mutex while it encodes that shard's changed
// records; a merge holds the key's shard mutex for one entry; early rounds
// visit only the shards marked dirty.
//
// A key costs about 250 bytes plus its length, and 32 bytes per peer id up to
// the highest that counted it (peer ids are small integers given in order of
// first contact). Records
// idle for more than two windows (GCRA: and past TAT) hold nothing a decision
// needs and are dropped by the sync loop's incremental sweep; shards that
// became mostly empty are compacted.
//
// # Limits
//
// Keys longer than 1024 bytes are decided but never gossiped (node-local).
// Node names are at most 255 bytes and unique; a node tracks at most 1024
// distinct peers; a full state is capped at 16 MiB (records beyond it are left
// to the deltas). LimiterOptions.Nodes (divided mode) does not apply.
//
// # Metrics (LimiterOptions.Registerer)
//
//   - gatelab_crdt_peers: other members this node sees (alive or suspected).
//   - gatelab_crdt_cluster_size: N above.
//   - gatelab_crdt_sync_lag_seconds: if any local change has not been sent
//     yet, the time since the last sync round (an upper bound on the age of
//     the oldest unsent delta), else 0. Healthy: below SyncInterval; growing:
//     the sync loop is stalled.
//   - gatelab_crdt_merges_rejected_total{reason}: entries not merged.
//   - gatelab_crdt_delta_bytes_total: delta bytes handed to the transport,
//     counted once per member sent to.
//   - gatelab_crdt_messages_malformed_total: messages (partly) dropped.
//   - gatelab_crdt_partitioned_decisions_total{mode}: Allow calls while m < N.
//
// Close unregisters them.
//
// # Compared with a central store
//
// The engine removes the round trip of a central counter (a decision is an
// in-memory operation, fractions of a microsecond) and keeps deciding when
// nodes or links fail. What it gives up is exactness: admissions elsewhere
// are seen one propagation delay late, so concurrent bursts over-admit, and
// partitions force a choice between scaled limits and no decision. The lab's
// accuracy and partition tests measure that trade instead of assuming it.
package crdt
