// Package pipeline is the engine-neutral request path of the reference
// gateway: decide, then (through the server engine) answer or forward, then
// record.
//
// The seam with server engines is the Exchange interface (engine.go): an
// engine's handler calls Gateway.Serve with its Exchange, and Serve calls
// back ReadRequest, then Answer or Forward. The engine does I/O only; every
// policy is here: the framing and Connection rules, which request headers
// go upstream (Forward.KeepHeader, Forward.UpstreamHeaders) and which
// response headers come back (Forward.KeepResponseHeader,
// Gateway.ResponseHeaders), the error answers and whether they close the
// connection, and, as a typed ErrorKind, whose fault a failed exchange was.
// Two calls serve engines that act before their handler runs: ExpectContinue
// (may a body announced with Expect: 100-continue be sent?) and BodyTimedOut
// (the engine's own read of a body's start timed out: the same 408 Serve
// gives).
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
//   - Identity: engines forward only the inbound headers Forward.KeepHeader
//     allows (it drops identity, credentials, forwarding and hop-by-hop
//     headers, those listed in Connection, and gateway.strip_inbound_headers;
//     case-insensitive, '_' treated as '-') and then set the
//     Forward.UpstreamHeaders, where X-User-ID, X-User-Scopes, X-Partner-ID
//     come only from the verified identity. A key-store failure answers 503;
//     a request is never forwarded unauthenticated on a route that requires
//     auth.
//   - Framing: a request whose Connection header names Content-Length,
//     Transfer-Encoding or Host, or whose head the engine saw framed two ways
//     (Request.AmbiguousFraming), is answered 400 and its connection closed.
//   - Blame: only the backend's faults (ErrorKind.Blame) and its 5xx answers
//     count for its breaker and passive health. A failure while the client's
//     body was unread, slow (408) or broken (400) is never the backend's.
//   - The access log records the request as the client sent it (Serve copies
//     the logged strings before the engine rewrites its buffers).
//   - A limiter error is "no decision": fail_open routes proceed without
//     RateLimit headers, fail_closed routes answer 503 with Retry-After.
//   - No retries: a request that may have reached a backend is never resent.
//   - Snapshots are immutable; Apply swaps an atomic pointer and in-flight
//     requests finish on the snapshot they started with. After the swap,
//     the metric series of removed routes, and the upstream series of a
//     route's previous backend, stop being exported (Metrics.RetainRoutes).
//   - Allocations: with the local limiter and a cached (or no) token, Serve
//     (Decide, the header policy, ResponseHeaders) allocates nothing (see the
//     AllocsPerRun tests).
//
// This package imports no engine; engines import it.
package pipeline
