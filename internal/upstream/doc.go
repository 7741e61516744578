// Package upstream is the lab's fake backend: an HTTP server that tells the
// caller exactly what it received, and that can be told, per request, how to
// misbehave. Gateway tests put it behind the gateway; benchmarks also hit it
// directly as the "no gateway" baseline, so the common path is kept cheap.
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
// The status must be 200..599. Other paths under /_control/ are 404. The
// in-process equivalent is Server.SetHealthStatus.
//
// Every other request is echoed. The whole request body is read and counted
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
// # Running it
//
// New builds a Server whose Handler can be mounted anywhere (httptest, a mux).
// Start listens on an address and serves in the background; Addr and URL report
// where, Shutdown and Close stop it. The "gatelab upstream" command runs Start
// in the foreground.
package upstream
