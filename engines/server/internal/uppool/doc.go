// Package uppool is the server engines' shared keep-alive pool of HTTP/1.1
// connections to one upstream instance. The engines do the HTTP framing
// (net/http's or fasthttp's); the pool does everything about connections:
// reuse, the cap, waiting, dialing, noticing a connection the upstream
// closed, and the rule for sending a request again.
//
// # Contract
//
//   - Get returns an idle connection (most recently used first) or dials a
//     new one. At most MaxConns connections are open or being dialed; at the
//     cap, Get waits for one to come back (or for a slot to free up) until
//     the deadline or ctx ends, then fails with ErrNoFreeConns. At most 4
//     dials run at once: a request that finds none idle below the cap waits
//     for the first connection free (one coming back, or a dial done) for
//     at most DialTimeout, then fails as a dial failure (a *net.OpError,
//     Op "dial"): an upstream that takes no connections fails its requests
//     as if each had dialed. Waiters are served first come, first served,
//     and a returned connection goes to a waiter before the idle list.
//   - Before a request that could not be sent again (one with a body, or
//     an unsafe method), a connection idle for 1 ms or more is checked
//     with one non-blocking MSG_PEEK: if the upstream closed it (its
//     keep-alive timeout, or its request cap) or sent bytes nobody asked
//     for, it is closed and the next one is tried; no such request is ever
//     written to it. A request without a body and with a safe method skips
//     the check (Exchange): if its connection turns out closed, the send
//     fails before any response byte and the request goes again on a fresh
//     connection. Under load there are more connections than a
//     millisecond's requests, so the check would cost a system call on
//     nearly every request. Get always checks. Connections idle longer
//     than IdleTimeout are closed instead of used.
//   - Every connection Get returns must be handed back exactly once: Put
//     when the exchange ended cleanly (response read to its end, neither
//     side asked to close), Drop otherwise.
//   - MayRetry is the one rule for a second attempt after a failed
//     exchange: only on a reused connection, only for a request without a
//     body, only when no byte of a response arrived, and then only if none
//     of the request reached the socket or its method is safe (GET, HEAD,
//     OPTIONS, TRACE; RFC 9110 9.2.1). A POST whose bytes reached an
//     upstream that then reset the connection is never sent twice. The
//     retry goes on a connection from Fresh (always newly dialed). Exchange
//     is that whole sequence (Get, send, the retry rule, Fresh), which both
//     engines call with their own send.
//   - Timing reports what getting the connection cost: the wait (pool pick,
//     waiting at the cap and dialing, all of it) and the dial alone, plus
//     how many pooled connections were found closed and whether the request
//     was sent again; the pipeline turns these into metrics.
//   - Conns is the connections open (idle and in use, dials in progress
//     not counted); OpenConns sums it per backend of the served config for
//     gatelab_upstream_open_connections, at scrape time only.
//
// # Costs
//
// Get and Put take one mutex and allocate nothing when an idle connection
// is there; a wait allocates a timer, a dial allocates the connection and
// its buffers. Reads are counted (to know whether any response byte
// arrived) with one addition per read.
package uppool
