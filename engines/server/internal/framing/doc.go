// Package framing checks request heads on the wire for the server engines,
// so both engines refuse the same bytes.
//
// net/http and fasthttp each accept some request shapes the other refuses,
// and some that RFC 9112 calls a smuggling risk (net/http drops a
// Content-Length sent with Transfer-Encoding and merges repeated identical
// ones; fasthttp ignores Transfer-Encoding: identity; both unfold obs-fold).
// None of that is visible in the parsed request. Listen wraps a listener so
// every connection follows its message boundaries as the engine reads them
// (head, then a Content-Length or chunked body) and records, per head, a
// pipeline.HeadProblem; the engine's handler takes its request's verdict
// with Conn.Next (heads are served in order on a connection) and the
// pipeline refuses the request. A chunk-size line over MaxChunkLine fails
// the read itself (net/http's limit, so fasthttp refuses it too).
//
// Contract: the tracker only sees bytes the engine reads, never reads or
// blocks by itself, allocates nothing per request, and is safe for the
// engine's concurrent reads (a mutex per connection).
package framing
