// Package pipeline is the engine-neutral request path of the reference
// gateway: decide, then (in the server engine) forward, then record.
//
// Decide is pure policy over a Request view, the Snapshot captured at request
// start and the clock: request id, trace context, path check, route lookup
// (router engine), CORS preflight, body limit, authentication, scopes, rate
// limit (limiter engine), upstream selection. Its output is a Decision: either
// an answer (status, JSON error body {error, request_id}, headers) or an
// upstream target with the path to send. Record updates metrics and queues the
// access-log entry without blocking.
//
// Contracts:
//   - Path policy (CanonicalPath): non-canonical paths are rejected with 400,
//     never rewritten, so the bytes the router matched are the bytes the
//     backend receives.
//   - Identity: engines drop every inbound header for which DropInbound is true
//     (identity, credentials, forwarding, hop-by-hop; case-insensitive, '_'
//     treated as '-') and then set X-User-ID, X-User-Scopes, X-Partner-ID only
//     from Decision.Identity. A key-store failure answers 503; a request is
//     never forwarded unauthenticated on a route that requires auth.
//   - A limiter error is "no decision": fail_open routes proceed without
//     RateLimit headers, fail_closed routes answer 503 with Retry-After.
//   - No retries: a request that may have reached a backend is never resent.
//   - Snapshots are immutable; Apply swaps an atomic pointer and in-flight
//     requests finish on the snapshot they started with.
//   - Allocations: with the local limiter and a cached (or no) token, Decide
//     and ResponseHeaders allocate nothing (see the AllocsPerRun tests).
//
// This package imports no engine; engines import it.
package pipeline
