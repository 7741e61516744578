package pipeline

import (
	"errors"
	"io"
	"net"
)

// Blame says whose fault a failed exchange was. Only BlameBackend counts
// against a backend's breaker and passive health: whatever a client sends,
// or fails to send, it can never take a healthy backend out of rotation.
type Blame uint8

const (
	// BlameNone: nobody's verdict on the backend (the gateway's own limits,
	// a full local connection pool).
	BlameNone Blame = iota
	// BlameClient: the client's request or connection failed.
	BlameClient
	// BlameBackend: the backend failed to answer, or broke its answer off.
	BlameBackend
)

// ErrorKind is what went wrong while forwarding a request or streaming its
// response. It is decided once, in the pipeline (Gateway.Serve), from what
// the engine observed; its String is the access log's error_type.
type ErrorKind uint8

const (
	KindNone ErrorKind = iota
	// Client side: the request body could not be read.
	KindClientBody        // the client hung up or broke its body off (400)
	KindClientBodyTimeout // the body came slower than limits.read_timeout (408)
	KindClientClosed      // the client went away before the answer (499 in logs)
	KindBodyTooLarge      // the streamed body went over the route limit (413)
	KindClientWrite       // writing the response to the client failed
	// The gateway's own limits.
	KindNoFreeConns // the instance's local connection pool is full (503)
	// Backend side.
	KindUpstreamTimeout // no response head within the route timeout (504)
	KindUpstreamRefused // the connection could not be opened (502)
	KindUpstreamError   // the connection failed or the response was invalid (502)
	KindUpstreamBody    // the response body was broken off after its head
	// KindUpstreamMidUpload: the backend failed while the client's body
	// was still arriving. The client's pace may be the cause (a backend
	// read timeout, a route timeout spent waiting on the client), so it
	// is nobody's verdict on the backend (502 or 504 to the client).
	KindUpstreamMidUpload
	kindCount
)

var kindNames = [kindCount]string{
	KindNone:              "",
	KindClientBody:        "client_body_error",
	KindClientBodyTimeout: "client_body_timeout",
	KindClientClosed:      "client_closed",
	KindBodyTooLarge:      "body_too_large",
	KindClientWrite:       "client_write_error",
	KindNoFreeConns:       "no_free_connections",
	KindUpstreamTimeout:   "upstream_timeout",
	KindUpstreamRefused:   "connection_refused",
	KindUpstreamError:     "upstream_error",
	KindUpstreamBody:      "upstream_body_error",
	KindUpstreamMidUpload: "upstream_error_during_request_body",
}

// String is the access-log error_type ("" for KindNone).
func (k ErrorKind) String() string {
	if k >= kindCount {
		return "other"
	}
	return kindNames[k]
}

// Blame says whose fault k is.
func (k ErrorKind) Blame() Blame {
	switch k {
	case KindUpstreamTimeout, KindUpstreamRefused, KindUpstreamError, KindUpstreamBody:
		return BlameBackend
	case KindClientBody, KindClientBodyTimeout, KindClientClosed, KindBodyTooLarge, KindClientWrite:
		return BlameClient
	}
	return BlameNone
}

// UpstreamFailure is what a server engine saw when a round trip to the
// upstream failed before a response head arrived. The engine names only
// what its client library told it; Gateway.Serve combines it with the state
// of the client's body into an ErrorKind.
type UpstreamFailure uint8

const (
	FailNone        UpstreamFailure = iota
	FailTimeout                     // the route deadline passed
	FailDial                        // the connection could not be opened
	FailNoFreeConns                 // the engine's pool for the instance is full
	FailOther                       // anything else: reset, EOF, invalid response
)

// DialFailed reports whether err is a failure to open a connection (a
// *net.OpError with Op "dial"), for engines whose client returns net errors.
func DialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// IsTimeout reports whether err is a net.Error timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ClientBody wraps the client's request body while it is forwarded: it
// counts bytes, stops at the route's limit and remembers how reading from
// the client failed, so a failure the client caused is never charged to the
// backend. It lives in the Decision (no allocation); an engine gets it from
// Forward.Body.
type ClientBody struct {
	r        io.Reader
	n        int64
	max      int64
	want     int64 // Content-Length, -1 when chunked
	done     bool  // read to the end
	tooLarge bool
	timeout  bool
	err      error
}

// errBodyTooLarge is what the upstream write sees when the body passes
// the route limit.
var errBodyTooLarge = errors.New("request body over the route limit")

// Wrap starts reading r, a body of contentLength bytes (-1 when chunked).
// It returns the reader to hand to the upstream request.
func (b *ClientBody) Wrap(r io.Reader, contentLength int64) io.Reader {
	b.r, b.want = r, contentLength
	return b
}

// Read implements io.Reader.
func (b *ClientBody) Read(p []byte) (int, error) {
	if b.tooLarge {
		return 0, errBodyTooLarge
	}
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		b.tooLarge = true
		return n, errBodyTooLarge
	}
	if err == io.EOF && b.want >= 0 && b.n < b.want {
		// The client hung up before its declared length (some readers
		// report that as a plain EOF, which would send a short body).
		err = io.ErrUnexpectedEOF
	}
	switch {
	case err == io.EOF:
		b.done = true
	case err != nil:
		if b.err == nil {
			b.err, b.timeout = err, IsTimeout(err)
		}
	case b.want >= 0 && b.n == b.want:
		b.done = true
	}
	return n, err
}

// Whole records a body the engine already read in full (n bytes).
func (b *ClientBody) Whole(n int64) {
	b.n, b.done = n, true
	b.tooLarge = n > b.max
}

// Complete reports whether the body was read to its end (or was empty).
func (b *ClientBody) Complete() bool { return b.r == nil || b.done }

// classify decides the ErrorKind of a round trip that got no response head.
func classify(f UpstreamFailure, body *ClientBody, clientGone bool) ErrorKind {
	switch {
	case body.tooLarge:
		return KindBodyTooLarge
	case body.err != nil && body.timeout:
		return KindClientBodyTimeout
	case body.err != nil:
		return KindClientBody
	case clientGone:
		return KindClientClosed
	case f == FailNoFreeConns:
		return KindNoFreeConns
	case !body.Complete():
		return KindUpstreamMidUpload
	case f == FailTimeout:
		return KindUpstreamTimeout
	case f == FailDial:
		return KindUpstreamRefused
	}
	return KindUpstreamError
}
