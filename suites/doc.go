// Package suites holds gatelab's conformance cases: what a gateway must do,
// checked feature by feature against any Target (the reference gateway in
// every engine combination, nginx, haproxy, or a gateway a user points
// gatelab conform at).
//
// The contract:
//   - A Case has a stable ID ("routing/longest-prefix"), a description, a
//     support Level (core or extended) and the Features it needs. A target
//     declares its features; a case needing one it lacks is skipped with
//     that reason, never failed.
//   - A case checks what the client got and, through the echo upstreams
//     every target fronts, what the backend received (Echo). It fails
//     through T (Errorf, Fatalf), like a Go test, and can fail: each group's
//     tests run it against a target built to break it.
//   - Cases are independent: they run in parallel, use their own credential
//     subjects and paths, and never sleep to wait for a target. A case that
//     changes config waits for the target to report the new version
//     (Target.Reconfigure does it) or for N consecutive agreeing probes
//     (T.Eventually).
//   - The fixture (Fixture) is the route table and credentials every target
//     is configured from; targets render it into their own config.
//   - Run executes cases against one target and returns a Report
//     (implementation, mode, date, per-level result, passed/failed/skipped
//     ids with reasons, supported and unsupported features), written as
//     YAML, JUnit XML and a console summary.
package suites
