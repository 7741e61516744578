package suites

// Raw-socket helpers, for what net/http's client will not send or does not
// let a case hold: request heads written byte for byte (hop-by-hop headers
// it rewrites, non-canonical paths, header names in any case and with
// underscores, chunked bodies), and connections a case keeps open (a client
// that never finishes its head).

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ctxConn is a connection whose Close also forgets the context hook.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// TargetHost is host:port of the target's traffic URL: what a client
// connects to, and the Host header t.Do sends.
func (t *T) TargetHost() string {
	u, err := url.Parse(t.Target.URL())
	if err != nil || u.Host == "" {
		t.Fatalf("the target's URL %q has no host: %v", t.Target.URL(), err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return u.Host
}

// Dial opens a TCP connection to the target's traffic listener. Its reads
// and writes fail once the case's context ends (deadline or cancel), so a
// case blocked on it never outlives its timeout; the case closes it.
func (t *T) Dial() net.Conn {
	var d net.Dialer
	c, err := d.DialContext(t.Ctx, "tcp", t.TargetHost())
	if err != nil {
		t.Fatalf("dialing the target: %v", err)
	}
	if dl, ok := t.Ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(t.Ctx, func() { c.SetDeadline(time.Now()) })
	return &ctxConn{Conn: c, stop: stop}
}

// ClientIP is the address the target sees this client connect from (the
// local address of a connection to it): what X-Forwarded-For must say.
func (t *T) ClientIP() string {
	c := t.Dial()
	defer c.Close()
	return c.LocalAddr().(*net.TCPAddr).IP.String()
}

// Raw writes request (request line, head and body, exactly as given) on a
// new connection and reads one response; a transport failure ends the case.
// The echo is decoded as Do decodes it. A request that should not keep the
// connection open needs its own "Connection: close"; the connection is
// closed after the response either way.
func (t *T) Raw(request string) *Response {
	c := t.Dial()
	defer c.Close()
	// A server may answer (431, 413) and stop reading before the whole
	// request is written: a failed write is not the end, the answer is.
	_, werr := io.WriteString(c, request)
	method, _, _ := strings.Cut(request, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		if werr != nil {
			t.Fatalf("raw %s: writing the request: %v; reading the answer: %v", firstLine(request), werr, err)
		}
		t.Fatalf("raw %s: reading the answer: %v", firstLine(request), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("raw %s: reading the body: %v", firstLine(request), err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Echo: decodeEcho(b)}
}

// decodeEcho is the echo upstream's report in b, nil when b is not one.
func decodeEcho(b []byte) *Echo {
	var e Echo
	if json.Unmarshal(b, &e.Echo) == nil && e.Name != "" && e.Method != "" {
		return &e
	}
	return nil
}

// firstLine is a request's first line, for messages (its request line).
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	if len(line) > 120 {
		line = line[:120] + "..."
	}
	return line
}

// FoldedValues returns every value of the headers the backend received
// whose name equals name ignoring case and treating '_' as '-': the way
// CGI-style backends (CGI, WSGI, Rack, PHP) read header names, so that
// "X_User_ID" counts as "X-User-ID".
func (e *Echo) FoldedValues(name string) []string {
	if e == nil {
		return nil
	}
	var out []string
	want := foldName(name)
	for k, v := range e.Headers {
		if foldName(k) == want {
			out = append(out, v...)
		}
	}
	return out
}

// HeaderNames lists the header names the backend received, sorted, for
// failure messages.
func (e *Echo) HeaderNames() []string {
	if e == nil {
		return nil
	}
	var out []string
	for k := range e.Headers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func foldName(s string) string { return strings.ReplaceAll(strings.ToLower(s), "_", "-") }

// listTokens splits a comma-separated header value (Allow, Connection)
// into its trimmed, non-empty tokens.
func listTokens(values []string) []string {
	var out []string
	for _, v := range values {
		for _, tok := range strings.Split(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				out = append(out, tok)
			}
		}
	}
	return out
}
