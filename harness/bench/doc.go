// Package bench is the lab's runner: it plays scenarios (harness/scenario)
// over the engine matrix under open-model or closed-loop load, with their
// fault timelines, checks their budgets and writes results.json and
// junit.xml (the schema is in reports/).
//
// # What a run does
//
// For each planned scenario: expand its targets (the direct-to-upstream
// baseline, every selected server x router x limiter combination from the
// registry that cmd passes in, and peer gateways), start the shared
// dependencies (upstream processes via harness/fleet: "gatelab upstream",
// or nginx static responders via harness/peers for mode nginx, falling back
// to "gatelab upstream -static" with a notice when nginx is missing and not
// required; Redis via harness/deps behind an in-process toxiproxy), check
// parity when peers take part, then for every repetition run every target
// once, interleaved and in alternating order (A B C, C B A, A B C, ...: a
// steady drift of the machine does not favour a position). A trial starts the target fresh (a gatelab serve
// process with a rendered config, or a peer), drives harness/load against
// it with fresh token subjects (limiter counters start empty), plays the
// fault timeline (harness/faults) and scrapes the gateway's limiter
// histogram at every phase edge, then stops the target.
//
// # How numbers are judged
//
// Latency is from the intended send time (corrected), with the uncorrected
// view kept beside it; overhead is the target minus the direct run of the
// same repetition. Budgets (harness/budget) are evaluated per target and
// repetition on the raw samples, then their median over the valid
// repetitions is compared with the threshold. A budget is INVALID when
// every repetition of its target was invalid (the load missed its rate,
// the target would not start, a fault could not be injected): an invalid
// run never passes. Without a target tag a budget judges the gatelab
// targets only. Comparisons with another target of the same repetition
// (rps.ratio, latency_delta) name it with the vs tag; when that target was
// skipped for a missing dependency the budget is SKIP. A budget marked
// abort is also evaluated every second on the samples so far; failing, it
// stops the scenario and the run.
//
// Exit codes (Results.ExitCode): 0 every budget passed, 1 a budget failed,
// 2 a run was invalid or interrupted, or a budget had no data to judge
// (Run's error covers bad input). Budgets of targets skipped for a missing
// dependency are SKIP and do not change the exit code.
//
// # Guarantees
//
// Traffic goes only to 127.0.0.1. Every process started is stopped before
// Run returns, on error and cancellation too; faults still applied when a
// trial ends are reverted. Rows needing a missing dependency are skipped
// with the reason in the results, unless Options.Require makes that an
// error. The package never imports an engine: the engine names come in
// Options.Engines.
package bench
