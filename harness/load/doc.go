// Package load generates HTTP load for the lab and keeps every request's
// outcome raw, so that reports can be recomputed from the samples.
//
// Two generators:
//
//   - Open (the default model), on vegeta's attacker: requests leave on a
//     Schedule (constant and linearly ramped stages), whether or not
//     earlier ones have returned. The Schedule is vegeta's Pacer and also
//     its inverse: request number k (vegeta's Result.Seq) was due at
//     Schedule.Intended(k), so every sample carries both its uncorrected
//     latency (from when a worker sent it) and its latency from the
//     intended send time, which keeps the queueing that a generator out of
//     workers hides (coordinated omission). A run that did not deliver
//     99 % of its offered rate, or whose generator fell behind its schedule
//     (send lag p99 above max(50ms, 50 × the mean interval)), is marked
//     INVALID with the reason and the numbers.
//   - Closed, on fasthttp's client: N workers back to back, for
//     throughput; labelled mode "closed", Intended = Sent.
//
// Why two clients: a closed loop measures the most a target can answer,
// so the generator's own cost per request sets the ceiling of every row. With
// vegeta (net/http's client, a goroutine hand-off and a Result per
// request) the closed loop topped out near 17-20k req/s on a 2-core host
// where wrk -t1 -c32 drives nginx at 50-70k, so every target looked
// alike. fasthttp's HostClient reuses its request, response and buffers,
// and each worker owns its connection (MaxConns 1), so the cost is little
// more than the system calls per request; and while a closed loop runs the
// process's GOMAXPROCS is lowered to half the cores (1 on 2 cores, like wrk
// -t1's one thread), because a second P only makes the scheduler spin and
// steal between workers that wait on the network, which on a 2-core VM
// cost up to a quarter of the ceiling. The open model runs far below
// any ceiling (the lab's rates are a few thousand per second) and needs
// what vegeta gives: a pacer, a worker pool that grows when the target
// stalls, and a sequence number per request to recover its intended send
// time.
//
// Requests are sent round robin by sequence number (Requests[k mod len]),
// exactly: the open attack's transport picks the request from vegeta's
// sequence header, not from the order in which workers happen to call the
// targeter; the closed loop's workers take k from one shared counter.
// Requests go out as written, over HTTP/1.1 with keep-alive, never through
// a proxy from the environment, without compression and without following
// redirects; response bodies are read whole and discarded. The closed loop
// never retries, sends no User-Agent of its own and does not normalise
// paths; the open model's net/http client adds "Go-http-client/1.1" when a
// request has no User-Agent, and may resend a request once when the reused
// connection it went out on turns out closed before any answer (net/http's
// rule: idempotent, or not written at all). Samples due (open)
// or sent (closed) during the warm-up are dropped (the requests are sent).
// Transport error texts are deduplicated into Run.ErrorTexts (at most 50
// kinds, then "(other)").
//
// Reductions (Hist, QuantilesOf, Series) are pure functions of the samples.
// Histograms are HDR histograms in microseconds, 1us..60s, 3 significant
// digits, with values clamped into that range.
//
// Concurrency: Open and Closed block until the attack ends and may run
// concurrently with each other; a Run is owned by the caller once returned.
// The Tick callback runs on the goroutine that collects results, so it must
// be quick. A closed loop lowers the process's GOMAXPROCS while it runs
// (see Closed) and restores it when the last one ends. ctx interrupts an
// attack: pacing stops (open), requests in
// flight are cancelled (open) or have their connections closed (closed),
// and the partial Run comes back marked invalid ("interrupted"). The closed
// loop's workers keep their samples in their own buffers and hand them to
// the collector about once a second, so nothing is locked per request (one
// shared atomic counter numbers the requests).
//
// Allocations: one Sample (40 bytes) per measured request, preallocated for
// an open run; per request, vegeta's Result and request plus the request
// actually sent (open); none beyond the Sample in the closed loop, whose
// workers reuse one fasthttp request and response each. GeneratorCPU is
// this whole process's CPU time over the measured window (getrusage
// RUSAGE_SELF), so it includes anything else the process runs, such as an
// in-process test server.
//
// The package never sends to anything but the Requests' URLs, never reads
// proxy settings from the environment, and never judges a target's
// latency: budgets are evaluated elsewhere.
package load
