// Package scenario reads the lab's scenario files: what to run (targets:
// engine combinations, peers, the direct baseline), the topology (upstreams:
// gatelab upstream processes with latency distributions and error rates,
// or nginx answering by itself; routes and tiers, Redis), the
// load (open-model stages or a closed loop), the fault timeline, named
// phases, and the budgets that judge the run.
//
// Parse decodes strictly (unknown fields are errors) and validates the
// whole file, returning Problems: every problem at once, each with the file
// and line of the offending setting, as "gatelab validate" does for the
// gateway config; what needs a gatelab upstream (a delay, error rates, the
// upstream.delay, .error and .stall faults) is refused for an upstream in
// mode nginx. Budgets are parsed by harness/budget at load time, so a
// bad expression never reaches a run. A Scenario is a plain value; the
// package does no I/O beyond reading the file and keeps no state.
package scenario
