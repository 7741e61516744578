// Package observe is the gateway's observability layer: Prometheus metrics
// (metrics.go; conns.go for the connection gauges), the asynchronous JSON
// access log (accesslog.go), and request and trace identifiers (trace.go).
// Every server, router and limiter engine shares it through the
// engine-neutral pipeline.
//
// # Metrics for dashboards
//
// Requests are gatelab_requests_total{route, method, status_class, code}:
// code is the status sent, "100" to "599", and "other" for anything outside
// that range (counted in status_class 5xx). The upstream families
// (gatelab_upstream_duration_seconds, _connect_seconds, _dial_seconds,
// gatelab_upstream_stale_connections_total, gatelab_upstream_retries_total)
// are labelled {route, backend}: ForRoute takes the route's backend, a
// reload that changes it gets a handle with the new label, and RetainRoutes
// (called after the new snapshot is swapped in) stops exporting the old
// backend's series and those of removed routes. gatelab_build_info{version,
// revision, goversion} is 1 from NewMetrics on ("devel", "unknown" until the
// binary calls SetBuildInfo). gatelab_open_connections{listener="traffic"}
// is kept by the listener CountTrafficConns wraps: one more per accepted
// connection, one less on its first Close, whoever closes it.
// gatelab_upstream_open_connections{backend} is read at scrape time from the
// source the server engine sets with SetUpstreamConns. Series an alert takes
// rate() of exist at 0 before the first event where the label set is known
// and bounded: both config reload results, a backend's health changes (to
// in and out, from InstanceKnown) and its breaker transitions (BreakerKnown).
//
// # Contract
//
// Concurrency. Everything exported here is safe for concurrent use by any
// number of request goroutines. AccessLog.Close belongs after the traffic
// listener has stopped: it flushes what is queued, and a Log racing it or
// coming after it is dropped and counted, never written half-way. Nil
// receivers are valid and do nothing for *RouteMetrics, *TierMetrics and
// *AccessLog, so a disabled feature costs one nil check.
//
// Allocation counts. The per-request calls allocate nothing in steady state,
// and the tests prove it with testing.AllocsPerRun:
//
//   - RouteMetrics.Observe, RouteMetrics.ObserveConn, RouteMetrics.Reject,
//     TierMetrics.Record: 0 allocs, for any status code. A route's metric
//     children are resolved on their first use and cached in the
//     RouteMetrics (the only allocations, once per label combination and
//     route, plus one 808-byte code table per method and status class
//     seen); every later call is a few atomic loads and adds. Code label
//     values are precomputed strings.
//   - Connections: CountTrafficConns allocates one wrapper per accepted
//     connection, nothing per request; the upstream-connections source runs
//     only at scrape time.
//   - AccessLog.Log: 0 allocs in steady state. The entry is encoded into a
//     pooled buffer by a hand-written JSON encoder; the buffer returns to the
//     pool after the background writer has written it. Only while the writer
//     lags does a queued line take a new buffer (one allocation).
//   - AppendRequestID, AppendTraceparent (into a buffer with enough
//     capacity), ParseTraceparent, ValidRequestID, NewTraceID, NewSpanID,
//     StartSpan: 0 allocs. NewRequestID returns a string and so allocates
//     exactly once.
//
// The per-snapshot calls (Metrics.ForRoute, Metrics.ForTier,
// Metrics.RetainRoutes, NewAccessLog) allocate and take locks; call them
// when a config snapshot is built or swapped in, never per request.
//
// Never blocks a request. Nothing in this package waits for I/O on the request
// path. AccessLog.Log encodes synchronously (a few hundred nanoseconds) and
// hands the line to a background writer through a bounded queue with a
// non-blocking send; when the queue is full, because the output is slower
// than the traffic, the line is dropped and counted
// (gatelab_access_log_dropped_total) instead of slowing the gateway down.
// Metric updates are lock-free atomic operations; the Prometheus scrape reads
// them concurrently without stopping writers.
//
// Never logs secrets. The access-log Entry has no field for credentials:
// there is no Authorization header, bearer token, API key, cookie or request
// body in it, so a caller cannot put one there by mistake. The one free-form
// field that may carry a secret is the query string (clients do send
// ?api_key=... or ?access_token=...): its parameters whose names look like
// credentials (see SensitiveQueryParam) have their values replaced by
// "REDACTED" while the entry is encoded. Metric labels are route ids,
// backend names, method names, status classes and codes (500 codes and
// "other"), reason codes, tier names, the fixed listener name and the
// binary's build, all from the config, the build or fixed lists; request
// data never becomes a label value, which also bounds the series count. Client-supplied X-Request-ID values are accepted
// only when ValidRequestID says so, so they cannot inject log lines or
// headers; every string in the log is JSON-escaped regardless.
package observe
