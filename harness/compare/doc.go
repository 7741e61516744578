// Package compare measures, in one run on one machine, the throughput of the
// gatelab gateway engines against nginx proxy_pass and against the upstream
// hit directly. It backs the "gatelab compare" command.
//
// # What it runs
//
// Every target is a separate OS process on a free 127.0.0.1 port, started and
// stopped by Run:
//
//	direct            one "gatelab upstream -name user-service"; every proxy
//	                  forwards to this same process; load goes to /users/me
//	gatelab-fasthttp  "gatelab serve -server fasthttp -router trie -limiter local"
//	gatelab-nethttp   the same with -server nethttp
//	nginx             nginx with a rendered nginx.conf (proxy_pass, upstream
//	                  keepalive), skipped with a notice when nginx is not
//	                  installed unless GATELAB_REQUIRE_NGINX=1
//
// The gatelab targets run a generated config (RenderGatelab): the auth section
// and rate-limit tiers of fixtures/gateway.yaml with absolute paths, the JWT
// cache on, one backend (the upstream) and one route, GET /api/v2/users/*,
// stripped to /users/*, auth jwt, limited by a tier that never rejects so the
// limiter still runs, and an access log written to a file for every request.
// nginx logs every request to a file too. Proxies get GET /api/v2/users/me.
// Every request carries the same valid JWT, minted once by "gatelab token".
//
// # How it measures
//
// Load is generated in-process by vegeta in closed-loop max-throughput mode:
// a fixed number of workers, each sending its next request when the previous
// one has returned, over keep-alive connections. This is the labelled
// "closed-loop" mode of docs/measurement.md, not the lab's default open
// model: there is no intended send schedule, so latencies are service times
// at saturation and are not corrected for coordinated omission.
//
// Before any load each target gets a parity probe: it must answer 200 with
// the upstream's echo of GET /users/me. A target that fails it is reported
// and not ranked. Then, for each repetition, each target in order gets one
// trial: a warm-up whose results are dropped, then the measured window. Per
// trial the report holds requests, achieved requests/s, the 2xx ratio,
// status and error counts, latency percentiles from an HDR histogram (the
// encoded histogram is kept), and CPU used by the load generator, the target
// and the upstream. A trial with less than 99 % 2xx is INVALID, and so is the
// target it belongs to.
//
// Per target the report gives the median requests/s over the repetitions and
// the spread (min-max); each gatelab engine is compared with nginx and with
// direct as the ratio of medians. The two checks are
//
//	fasthttp/nginx >= 0.80
//	nethttp/nginx  >= 0.40
//
// Each is PASS, FAIL, INVALID (a target it needs is invalid) or SKIP (a target
// it needs was not selected or nginx is not installed). Report.ExitCode is 0
// when nothing failed, 1 when a check failed, 2 for an invalid or interrupted
// run.
//
// # Output
//
// Run writes <out>/<run-id>/compare.json (manifest, plan, every trial, the
// summary and the checks), compare.md, the rendered nginx.conf and gatelab
// configs, and each process's console output, and prints a table and the
// checks. The machine this was written for has 2 cores shared by the load
// generator, the proxies and the upstream; absolute numbers mean little,
// the ratios within one run are what count.
//
// # Guarantees
//
// All traffic goes to 127.0.0.1. Every wait is bounded in time; every
// process Run starts is stopped before it returns (SIGTERM, then SIGKILL of
// its process group), also on error and when ctx is cancelled. If the
// compare process itself is killed, the kernel sends each direct child
// SIGKILL (for nginx that is the master only). Run keeps no package state,
// but two runs at once would measure each other's load.
package compare
