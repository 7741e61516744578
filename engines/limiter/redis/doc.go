// Package redis is the Redis-backed rate limiter engine, registered as
// "redis". Every gateway node asks the same Redis, so the nodes share one
// count per key.
//
// # Contract
//
// Exact across nodes. A decision is one Lua script run atomically by Redis:
// it reads the key's state, decides and writes the new state with no other
// command in between. However many nodes and goroutines ask at once, the
// nodes together never admit more (or fewer) requests than the policy
// allows. LimiterOptions.Nodes ("divided" mode) is ignored: nothing needs
// dividing. LimiterOptions.Now is ignored too: the clock is the Redis
// server's TIME, read inside the script, so the gateways' clocks do not
// matter.
//
// One round trip per decision: EVALSHA of the script (go-redis's Script.Run).
// The first decision after Redis (re)starts finds the script cache empty
// (NOSCRIPT) and sends it with EVAL: two round trips, once.
//
// # Algorithms
//
// Both algorithms are the local engine's, decision for decision (see
// engines/limiter/local): the sliding-window counter with Remaining =
// ceil(Limit - effective - 1), Reset the end of the fixed window when
// admitted and RetryAfter/Reset the earliest admission instant when
// rejected; GCRA with T = Window/Limit (whole nanoseconds, at least 1), burst
// tolerance (Limit-1)*T, Reset = TAT when admitted. A reload that changes a
// key's Limit, Window or Algorithm carries the count over exactly as the
// local engine does. Rejections are not counted (and write nothing, unless a
// reload converted the key's state).
//
// Resolution. Times are nanoseconds, as in the local engine, but "now" is
// Redis TIME, which has microseconds. Given the same instant both engines
// give identical answers, except that a rejection's Reset is rounded up to
// the next whole microsecond (so RetryAfter can exceed the local engine's by
// less than 1µs): that is the earliest instant Redis's clock can show at or
// after the exact one. For example a full sliding window admits again 1µs
// (not 1ns) after it ends.
//
// Exact arithmetic. Redis Lua numbers are doubles, exact for integers below
// 2^53. The script keeps every value below that and computes each product
// that could exceed it (count x nanoseconds, TIME x 1000) with an exact
// long multiplication-division. This bounds the policies the engine takes:
// 1 <= Limit <= 2^50 and 1µs <= Window <= 2^52ns (about 52 days; the local
// engine takes up to 2^60ns). Other policies, like invalid ones, get an error
// wrapping pipeline.ErrNoDecision without a round trip. Exactness is tested
// by running the production script under a fake clock (its TIME call
// replaced by arguments) against the local engine through thousands of
// decisions with reloads, and the arithmetic against math/big.
//
// # State and keys
//
// A pipeline key ("<tier>:<kind>:<identity>"; API keys arrive as their
// SHA-256, never raw) is stored as one Redis hash, gl:{<pipeline key>}. The
// engine adds nothing to the key but that prefix and the braces, and the
// hash holds only numbers: algorithm, unit, window index and counts, or the
// GCRA theoretical arrival time. The braces are a Redis Cluster hash tag:
// the slot is the pipeline key's, so a decision's keys always share a slot. A
// key longer than MaxKeyLen (128) bytes is stored as
// gl:h:{<tier>:<kind>:<hex SHA-256 of the identity>} (of the whole key if it
// has no short "<tier>:<kind>:" prefix); the different prefix keeps hashed
// and verbatim keys apart.
//
// Expiry: a sliding-window key expires when its count can no longer matter,
// at the end of the window after the current one (at most two windows after
// its last admission); a GCRA key at TAT + Window. After that a key is a
// fresh key, exactly as if it had been kept.
//
// # Connecting
//
// Settings.URL (the config's limiter.redis.url, or -redis) selects the
// client:
//   - redis://[user:pass@]host:port/db, rediss://... (TLS) or
//     unix:///path: one server (go-redis ParseURL, NewClient).
//   - ...?addr=host2:port&addr=host3:port (one or more addr parameters): a
//     Redis Cluster seeded with the URL's host and every addr (ParseClusterURL,
//     NewClusterClient).
//   - ...?master_name=NAME[&addr=...]: Sentinel; the host and addrs are the
//     sentinels (ParseFailoverURL, NewFailoverClient).
//
// Other go-redis query parameters (dial_timeout, read_timeout, pool_size,
// ...) are accepted and override the engine's defaults. The defaults keep
// resources bounded while Redis is slow or gone:
//   - PoolSize: Settings.PoolSize, else the URL's pool_size, else
//     DefaultPoolSize(), 4 per GOMAXPROCS and at least 8 (per Redis node).
//     It bounds the decisions in flight per gateway node: a decision waits
//     for a connection until its deadline.
//   - DialTimeout, ReadTimeout, WriteTimeout: DefaultTimeout (100ms);
//     PoolTimeout: DefaultPoolTimeout (100ms). They bound a decision without
//     a deadline; with one, the deadline ends every wait first (go-redis's
//     ContextTimeoutEnabled is on, so socket deadlines follow the context).
//   - No retries (go-redis MaxRetries -1; its 0 means 3) and one dial attempt
//     per connection (DialerRetries 1; its default is 5, 100ms apart): a
//     retry would double the latency past any useful deadline.
//   - RESP2, no CLIENT SETINFO and no maintenance notifications: a new
//     connection costs one HELLO round trip and nothing else.
//
// New loads the script once (SCRIPT LOAD, waiting at most WarmUpTimeout,
// 200ms), so that a node's first decisions are single EVALSHA round trips on
// an open connection; if Redis is down it starts anyway.
//
// # Failures
//
// Every error (timeout, refused or reset connection, pool timeout, a script
// error) is returned wrapped in pipeline.ErrNoDecision, with a zero decision:
// the route's fail mode decides. A decision that has not arrived within
// Policy.Deadline (when > 0; context.WithTimeout around the call) is no
// decision. A Redis that accepts connections but does not answer (frozen)
// holds at most PoolSize connections per node; every other call waits for
// one until its deadline; nothing survives the deadline. A dead Redis
// (connection refused) fails decisions at once; after PoolSize consecutive
// failed dials go-redis stops dialling for each call and probes once a
// second, so decisions resume within about a second of Redis coming back,
// on the same Limiter (go-redis reconnects). go-redis reports failed dials
// through its own logger (standard error).
//
// A decision that timed out may still run later (its command was sent): Redis
// can count a request the gateway treated as "no decision". That only makes
// later decisions stricter.
//
// # Over-limit cache
//
// With Settings.OverLimitCache, a key Redis rejected is remembered until
// the instant Redis said it would admit again (measured from when the request
// was sent, on this node's monotonic clock): until then the key's requests
// are rejected locally (Remaining 0, RetryAfter = that instant - now) without
// a round trip. Another node's admissions can only push that instant later,
// so a cached rejection is one Redis would also give, except when the policy
// changed (a reload raising the limit: entries remember the Limit, Window
// and Algorithm they were learned under and are ignored for any other) or
// Redis lost its state (a restart without persistence, a flush) within that
// time: then the node may reject a request Redis would admit, until the
// cached instant. The cache holds at most OverLimitCacheSize (65,536) keys
// (64 shards; a full shard drops expired entries, else an arbitrary one).
//
// # Metrics
//
// With LimiterOptions.Registerer set (limiters sharing a registry share the
// series):
//   - gatelab_ratelimit_redis_errors_total{kind}: decisions not made, by
//     kind: timeout (a deadline or timeout expired: dial, pool wait, read,
//     write), connection (refused, reset, closed), script (Redis answered
//     with an error), other.
//   - gatelab_ratelimit_redis_roundtrip_seconds: duration of the round trips
//     Redis answered (exponential buckets from 50µs to 1s).
//   - gatelab_ratelimit_overlimit_cache_hits_total: decisions answered by the
//     over-limit cache.
//
// The Limiter is safe for concurrent use. It implements io.Closer: Close
// closes its connections, and decisions after Close are no decision.
package redis
