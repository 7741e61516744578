package nethttp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gatelab/gatelab/engines/server/internal/uppool"
)

// Upstream connections come from uppool (shared with the fasthttp engine:
// reuse, the cap, stale-connection checks and the retry rule live there).
//
// Why not http.Transport: the Transport runs a reader and a writer goroutine
// per connection and hands every request and response between them and the
// caller; on a small machine those hand-offs cost more CPU than the rest of
// the gateway. Here the handler's own goroutine writes the request
// (http.Request.Write) and reads the response (http.ReadResponse), so the
// standard library still does all HTTP framing (chunking, Content-Length,
// bodies).

// errTimeout marks a deadline hit on the upstream connection.
var errTimeout = errors.New("upstream timeout")

// roundTrip writes req on a pooled connection and reads the response head
// (uppool's Exchange: sent once more on a fresh connection when the rule
// allows). The caller must hand the connection back with release after
// consuming resp.Body.
func roundTrip(ctx context.Context, p *uppool.Pool, req *http.Request, deadline time.Time, t *uppool.Timing) (*http.Response, *uppool.Conn, error) {
	var resp *http.Response
	c, err := p.Exchange(ctx, deadline, t, req.Method, req.Body != nil, func(c *uppool.Conn) error {
		var err error
		resp, err = send(c, req, deadline)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return resp, c, nil
}

// send sends req (closing req.Body) and reads the response head.
func send(c *uppool.Conn, req *http.Request, deadline time.Time) (*http.Response, error) {
	c.SetDeadline(deadline)
	err := req.Write(c.BW)
	if err == nil {
		err = c.BW.Flush()
	}
	if err != nil {
		return nil, mapTimeout(err)
	}
	resp, err := http.ReadResponse(c.BR, req)
	if err != nil {
		return nil, mapTimeout(err)
	}
	return resp, nil
}

// release hands the connection back after the response was consumed: to
// the pool when the body was read to its end and neither side asked to
// close, closed otherwise (and after a 101: the connection then speaks
// another protocol).
func release(p *uppool.Pool, c *uppool.Conn, resp *http.Response, bodyDone bool) {
	if !bodyDone || resp.Close || c.BR.Buffered() > 0 || resp.StatusCode == http.StatusSwitchingProtocols {
		p.Drop(c)
		return
	}
	p.Put(c)
}

func mapTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.Join(errTimeout, err)
	}
	return err
}
