// Package faults injects the lab's faults and plays a scenario's fault
// timeline.
//
// Network faults go through an in-process toxiproxy (the
// github.com/Shopify/toxiproxy/v2 module, no API listener): a Proxy sits in
// front of Redis (or any loopback TCP service) and can add latency with
// jitter, swallow data (Blackhole), refuse and cut connections (Down) and
// come back (Up, Reset). Process faults (freeze, kill, restart) are done by
// the caller through harness/fleet and harness/deps; Run only calls them.
//
// Run plays a list of Actions against the clock: each is applied at its
// offset and reverted at its end, in order, and whatever is still applied
// when the context ends is reverted before Run returns, so a cancelled run
// never leaves a dependency frozen. The returned Events (actual apply and
// revert offsets and errors) are recorded in results.json.
//
// Proxies only accept loopback upstreams. Everything here is safe for
// concurrent use; Run itself runs in the caller's goroutine.
package faults
