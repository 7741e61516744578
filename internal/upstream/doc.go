// Package upstream is the lab's fake backend: an HTTP server that tells the
// caller exactly what it received (echo mode) or answers a fixed body as
// cheaply as net/http allows (static mode), and that can be told how to
// misbehave, per request or for every request. Gateway tests put it behind
// the gateway; benchmarks also hit it directly as the "no gateway" baseline,
// so it must never be the bottleneck.
//
// # Endpoints
//
// GET (or HEAD) /healthz answers {"status":"ok","name":NAME} with 200. After the
// health status has been changed (see below) it answers that status instead,
// with "status":"unhealthy" when the code is not 2xx.
//
// /_control/health changes or reads the /healthz status:
//
//	POST /_control/health?status=503   /healthz now answers 503
//	POST /_control/health?status=200   back to healthy
//	GET  /_control/health              {"health_status":503}
//
// The status must be 200..599. The in-process equivalent is
// Server.SetHealthStatus. /_control/behavior and /_control/stats are below;
// other paths under /_control/ are 404.
//
// In echo mode (the default) every other request is echoed. The whole request body is read and counted
// (never buffered), then the server answers 200 with Content-Type
// application/json and an Echo:
//
//	name         the server's name
//	method       r.Method
//	path         r.URL.Path (decoded)
//	raw_path     the request-target exactly as received, up to '?'
//	             (so %20 and %2F stay encoded; an absolute-form target keeps
//	             its scheme and host)
//	query        r.URL.RawQuery
//	host         r.Host
//	headers      every request header with all its values, in arrival order,
//	             keyed as net/http stores them: canonical form when the name
//	             is a valid token ("x_foo" arrives as "X_foo", which is kept
//	             apart from "X-Foo"), as received otherwise
//	body_bytes   number of body bytes read
//	remote_addr  r.RemoteAddr
//	proto        r.Proto
//
// # Per-request controls
//
// Request headers, all optional, that shape the answer to an echoed request
// (they are also echoed back like any other header):
//
//	X-Upstream-Delay: 50ms        wait this long (time.ParseDuration, >= 0)
//	                              before answering; if the client goes away
//	                              first, give up without answering
//	X-Upstream-Status: 503        answer with this status (200..599); 204 and
//	                              304 carry no body
//	X-Upstream-Body-Bytes: 1024   answer with exactly this many body bytes
//	                              (0..1 GiB) instead of the echo; the bytes are
//	                              Payload(n), Content-Type is
//	                              application/octet-stream, Content-Length is set
//	X-Upstream-Header: Name: v    add "Name: v" to the response; repeatable,
//	                              one header per line (values are not split on
//	                              commas). A Content-Type given here replaces
//	                              the default; Content-Length cannot be set.
//	X-Upstream-Close: 1           close the connection after the response
//	                              (strconv.ParseBool; false is a no-op)
//
// The constants HeaderDelay, HeaderStatus, HeaderBodyBytes, HeaderAddHeader and
// HeaderClose name them. A control with an invalid value gets 400 with
// {"error":..., "header":NAME} naming the offending header, and no other
// control is applied.
//
// # Static mode
//
// With Options.Static every other request is answered 200 with the body
// {"ok":true} (Content-Type application/json), or with Payload(n)
// (application/octet-stream) when Options.BodyBytes is n > 0; HEAD gets the
// headers only. The request body is drained so the connection stays
// reusable; the X-Upstream-* headers are ignored, except that a request
// carrying X-Upstream-Echo (any value) gets the echo answer, so a parity
// probe can see what a proxy forwarded to a static upstream. Content-Type,
// Content-Length and the body are built once and their header values shared
// (read-only) by every response, so beyond net/http's own per-request work
// the handler allocates nothing (TestStaticAllocs holds it to 0, with the
// behaviour below on); a non-zero delay costs one timer.
//
// # Behaviour
//
// A Behavior applies to every answered request in both modes (not to /healthz
// or /_control/, except Down). It is set at build time (Options.Behavior) and
// at run time (Server.SetBehavior, or the control endpoint), and held as an
// immutable value behind an atomic pointer: the request path reads it without
// a lock, and a change applies to requests that arrive after it.
//
//	delay              latency distribution, see Delay: none, fixed:5ms,
//	                   uniform:1ms-5ms, normal:MEAN,STDDEV (clamped at 0),
//	                   lognormal:MEDIAN,SIGMA; in echo mode it adds to
//	                   X-Upstream-Delay; a client that goes away ends the wait
//	error_rate         fraction 0..1 of requests answered with error_status
//	                   (static: the static body; echo: the echo; the
//	                   injected status wins over X-Upstream-Status)
//	error_status       400..599, default 500
//	stall              every request waits (after its body is read, before
//	                   its delay) until a behaviour without stall is set; then
//	                   it goes on under the behaviour current at release.
//	                   Shutdown ends a stall; Close cuts stalled requests off
//	down               soft down: every request but /_control/ (so /healthz
//	                   too) has its connection closed without an answer, as a
//	                   crashed or firewalled backend looks to a proxy; a 503
//	                   answer is error_rate 1 with error_status 503 instead.
//	                   Hard down is killing the process
//	max_conn_requests  N > 0: the Nth answered request on a connection gets
//	                   "Connection: close" and the server closes it after the
//	                   response (nginx keepalive_requests; 0 never)
//
// Connections also close after Options.IdleTimeout of idleness
// (http.Server.IdleTimeout; 0 never), fixed at start. Counting requests per
// connection needs the ConnContext hook, which Start installs; mount
// ConnContext on your own http.Server to get it with New.
//
// Random draws are deterministic: the request that is the nth to get past
// down and stall (Stats.Requests) draws its error (first) and its delay from
// a small stream seeded by (Options.Seed, n), with no lock and no allocation.
// Which request is nth depends on arrival order under concurrency.
//
// /_control/behavior reads and changes it:
//
//	GET  /_control/behavior      {"delay":"none","error_rate":0,"error_status":500,
//	                             "stall":false,"down":false,"max_conn_requests":0}
//	POST /_control/behavior      with a JSON body of any of those fields, or
//	                             the same names as query parameters
//	                             (?delay=fixed:5ms&stall=true); fields left out
//	                             keep their value; "reset":true starts from the
//	                             build-time behaviour instead
//
// A POST answers the new behaviour, or 400 with {"error":...} naming every bad
// field (unknown fields included) and changes nothing. GET /_control/stats
// answers Stats: connections accepted, requests, injected errors, closes
// from max_conn_requests, dropped requests and the number stalled now.
//
// # Running it
//
// New and NewWith build a Server whose Handler can be mounted anywhere
// (httptest, a mux). Start and StartWith listen on an address and serve in the
// background; Addr and URL report where, Shutdown and Close stop it. The
// "gatelab upstream" command runs StartWith in the foreground, its flags
// mapping onto Options. A Server's methods are safe for concurrent use. The
// package never dials out and never logs (net/http's own server log aside).
package upstream
