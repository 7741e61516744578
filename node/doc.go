// Package node assembles one running gateway node: it loads nothing itself but
// takes a validated config and engine names, builds the limiter, router
// factory, metrics, access log, pipeline and server engine from the engines
// registry, and serves the traffic and admin listeners.
//
// It is the one place (besides engines/all) that knows both gateway/ and the
// engines; `gatelab serve`, the tests and the lab all start nodes through it.
// Start returns once both listeners are accepting, so callers need no polling.
package node
