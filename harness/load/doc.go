// Package load generates HTTP load for the lab and keeps every request's
// outcome raw, so that reports can be recomputed from the samples.
//
// Two generators, both on vegeta's attacker:
//
//   - Open (the default model): requests leave on a Schedule (constant and
//     linearly ramped stages), whether or not earlier ones have returned.
//     The Schedule is vegeta's Pacer and also its inverse: request number k
//     (vegeta's Result.Seq) was due at Schedule.Intended(k), so every sample
//     carries both its uncorrected latency (from when a worker sent it) and
//     its latency from the intended send time, which keeps the queueing that
//     a generator out of workers hides (coordinated omission). A run that did
//     not deliver 99 % of its offered rate, or whose generator fell behind
//     its schedule (send lag p99 above max(50ms, 50 × the mean interval)),
//     is marked INVALID with the reason and the numbers.
//   - Closed: N workers back to back, for throughput; labelled mode
//     "closed", Intended = Sent.
//
// Requests are sent round robin by sequence number (Requests[k mod len]),
// exactly: the attack's transport picks the request from vegeta's sequence
// header, not from the order in which workers happen to call the targeter.
// Requests go out as written, over HTTP/1.1 with keep-alive, never through a
// proxy from the environment, without compression and without following
// redirects; response bodies are read and discarded. Samples due during the
// warm-up are dropped (the requests are sent). Transport error texts are
// deduplicated into Run.ErrorTexts (at most 50 kinds, then "(other)").
//
// Reductions (Hist, QuantilesOf, Series) are pure functions of the samples.
// Histograms are HDR histograms in microseconds, 1us..60s, 3 significant
// digits, with values clamped into that range.
//
// Concurrency: Open and Closed block until the attack ends and may run
// concurrently with each other; a Run is owned by the caller once returned.
// The Tick callback runs on the goroutine that collects results, so it must
// be quick. ctx interrupts an attack: pacing stops, requests in flight are
// cancelled, and the partial Run comes back marked invalid ("interrupted").
//
// Allocations: one Sample (40 bytes) per measured request, preallocated for
// an open run; per request, vegeta's Result and request plus the request
// actually sent. GeneratorCPU is this whole process's CPU time over the
// measured window (getrusage RUSAGE_SELF), so it includes anything else the
// process runs, such as an in-process test server.
//
// The package never sends to anything but the Requests' URLs, never reads
// proxy settings from the environment, and never judges a target's
// latency: budgets are evaluated elsewhere.
package load
