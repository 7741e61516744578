// Package resilience is the per-backend upstream resilience state of the
// gateway: instance health (active probes, passive ejection, flap damping),
// load balancing, the backend bulkhead and the circuit breaker. The pipeline
// calls Acquire before forwarding a request and Release when it is done.
//
// # Contract
//
//   - Acquire returns an instance in rotation or a Reject: NoHealthy (no
//     instance in rotation), BulkheadFull (MaxInFlight requests already in
//     flight; never queued), CircuitOpen (breaker open, half-open with its
//     probe out, or ramping and this request is in the refused share). A
//     Reject carries RetryAfter, whole seconds and at least 1s: for an open
//     breaker the time until it lets a probe through.
//   - Every admitted request must be released exactly once, on the Backend
//     that admitted it, with Success, Failure (connection error, timeout,
//     5xx) or Neutral (not the backend's fault; counted nowhere). ReleaseAt
//     takes the end time the caller has already read, saving a clock read.
//   - Balancing: RoundRobin is smooth weighted round-robin; an instance out
//     of rotation is skipped without shifting its turns to its neighbour.
//     LeastOutstanding picks the fewest in flight per unit of weight, ties in
//     rotating order. Only instances in rotation are picked.
//   - Health: instances start in rotation. UnhealthyAfter failed probes in a
//     row, or PassiveFailures failed requests in a row, take one out;
//     HealthyAfter good probes in a row bring it back (EjectFor after a
//     passive ejection when probes are disabled). An instance that went out 3
//     times within a minute returns only after FlapHolddown of passing probes
//     (without probes: after the longer of EjectFor and FlapHolddown).
//     With probes enabled an ejected instance returns only through probes,
//     so Start must run.
//   - Breaker: Closed opens when, in the last Window (10 buckets), at least
//     MinRequests requests finished and more than FailureRatio of them
//     failed. Open rejects for OpenFor, then HalfOpen lets exactly one probe
//     request through at a time: a failure reopens it, ProbeSuccesses
//     successes in a row start Ramping, which admits RampSteps[i] percent of
//     requests during step i (deterministically: request k of a step passes
//     iff k*p mod 100 < p) and then closes. Ramp failures count in a fresh
//     window and can open it again. Results of requests admitted before a
//     transition are not counted.
//   - Reloads: NewBackend(prev) carries instance state by URL, the breaker
//     when its settings are unchanged, the bulkhead count and the round-robin
//     position, so a hot reload forgets nothing.
//   - Time comes only from the clock given to NewBackend; state changes that
//     depend on time (Open -> HalfOpen, ramp steps, return after EjectFor)
//     happen on the next call that looks (Acquire, Healthy, State, Status).
//     Only Start's probe goroutines use real timers.
//
// # Concurrency and allocations
//
// A Backend is safe for concurrent use. Acquire and Release allocate nothing
// (enforced by an AllocsPerRun test) and, with the breaker closed and all
// instances steady, take no lock: they are a handful of atomic operations and
// one clock read in Release (none in Acquire, none with ReleaseAt). Transitions (health, breaker other than the
// closed fast path) take a per-instance or per-breaker mutex. Hooks are called
// outside every lock. Start runs one goroutine per instance until Stop, which
// waits for them; the package starts nothing else and keeps no global state.
package resilience
