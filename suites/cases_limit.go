package suites

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// limitCases: request bodies and heads over the limits, and clients too
// slow to finish their head.
var limitCases = []Case{
	{
		ID:          "limits/body-over-limit-413",
		Description: "A request body over the route's limit is refused with 413 and not forwarded, whether its size is declared (Content-Length) or found while reading (chunked).",
		Level:       Core,
		Features:    []Feature{LimitsBody},
		Run: func(t *T) {
			// /conf/small-body/ allows 1024 bytes. Bodies a few KiB over:
			// one far larger is still being written when the gateway
			// answers and closes, and a gateway that closes without
			// draining (no lingering close) resets the connection, so the
			// client may never read the 413: that is another check's business.
			for _, n := range []int{1025, 4096} {
				r := t.Do("POST", "/conf/small-body/x", nil, make([]byte, n))
				if r.Status != 413 || r.Echo != nil {
					t.Errorf("POST %d bytes with Content-Length: status %d (reached a backend: %v); want 413 from the gateway", n, r.Status, r.Echo != nil)
				}
			}
			// Chunked, no length: the gateway finds out while reading.
			r := t.Raw("POST /conf/small-body/x HTTP/1.1\r\nHost: conformance.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
				chunk(strings.Repeat("a", 800)) + chunk(strings.Repeat("b", 800)) + "0\r\n\r\n")
			if r.Status != 413 || r.Echo != nil {
				t.Errorf("POST 1600 bytes chunked: status %d (reached a backend: %v); want 413 from the gateway", r.Status, r.Echo != nil)
			}
		},
	},
	{
		ID:          "limits/body-at-limit-passes",
		Description: "A request body of exactly the route's limit is forwarded whole, with Content-Length or chunked.",
		Level:       Core,
		Features:    []Feature{LimitsBody},
		Run: func(t *T) {
			r := t.Do("POST", "/conf/small-body/x", nil, make([]byte, 1024))
			e := t.MustEcho(r)
			if r.Status != 200 || e.BodyBytes != 1024 {
				t.Errorf("POST 1024 bytes with Content-Length: status %d, backend read %d bytes; want 200 and 1024", r.Status, e.BodyBytes)
			}
			r = t.Raw("POST /conf/small-body/x HTTP/1.1\r\nHost: conformance.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
				chunk(strings.Repeat("a", 512)) + chunk(strings.Repeat("b", 512)) + "0\r\n\r\n")
			e = t.MustEcho(r)
			if r.Status != 200 || e.BodyBytes != 1024 {
				t.Errorf("POST 1024 bytes chunked: status %d, backend read %d bytes; want 200 and 1024", r.Status, e.BodyBytes)
			}
		},
	},
	{
		ID:          "limits/headers-too-large-431",
		Description: "A request head over the header limit (8 KiB by default), in one field or spread over many, is refused with 431 and not forwarded; a 4 KiB field passes intact.",
		Level:       Core,
		Features:    []Feature{LimitsHeaders, RoutingPrefix},
		Run: func(t *T) {
			big := strings.Repeat("a", 4096)
			r := t.Raw("GET /conf/prefix/hdr HTTP/1.1\r\nHost: conformance.test\r\nX-Big: " + big + "\r\nConnection: close\r\n\r\n")
			e := t.MustEcho(r)
			if got := e.Values("X-Big"); r.Status != 200 || len(got) != 1 || got[0] != big {
				t.Errorf("a 4 KiB field: status %d, backend got %d values; want 200 and the field intact", r.Status, len(got))
			}
			var many strings.Builder
			for i := range 64 {
				fmt.Fprintf(&many, "X-Many-%d: %s\r\n", i, strings.Repeat("m", 500))
			}
			for _, c := range []struct{ what, fields string }{
				{"one 16 KiB field", "X-Big: " + strings.Repeat("a", 16<<10) + "\r\n"},
				{"64 fields of 500 bytes", many.String()},
				{"one 64 KiB field", "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n"},
			} {
				r := t.Raw("GET /conf/prefix/hdr HTTP/1.1\r\nHost: conformance.test\r\n" + c.fields + "Connection: close\r\n\r\n")
				if r.Echo != nil {
					t.Errorf("%s: forwarded to %s; want 431 from the gateway", c.what, r.Echo.Name)
				} else if r.Status != 431 {
					t.Errorf("%s: status %d; want 431", c.what, r.Status)
				}
			}
		},
	},
	{
		ID:          "limits/slow-header-cut-off",
		Description: "A client that sends part of a request head and then nothing more has its connection closed by the gateway (with or without a 408) once the header read timeout passes, and is never forwarded.",
		Level:       Core,
		Features:    []Feature{LimitsSlowHeader, RoutingPrefix},
		// The reference gateway's limits.read_header_timeout defaults to 10 s.
		Timeout: 40 * time.Second,
		Run: func(t *T) {
			c := t.Dial()
			defer c.Close()
			if _, err := io.WriteString(c, "GET /conf/prefix/slow-head HTTP/1.1\r\nHost: conformance.test\r\nX-Slow: "); err != nil {
				t.Fatalf("writing half a head: %v", err)
			}
			waitClosed(t, c, "after half a request head")
		},
	},
	{
		ID:          "limits/slow-header-trickle-cut-off",
		Description: "A client that trickles its request head a byte at a time, never finishing it, has its connection closed by the gateway once the header read timeout passes: the timeout bounds the whole head, not the gap between bytes.",
		Level:       Core,
		Features:    []Feature{LimitsSlowHeader, RoutingPrefix},
		Timeout:     40 * time.Second,
		Run: func(t *T) {
			c := t.Dial()
			defer c.Close()
			if _, err := io.WriteString(c, "GET /conf/prefix/trickle HTTP/1.1\r\nHost: conformance.test\r\nX-Trickle: "); err != nil {
				t.Fatalf("writing the start of the head: %v", err)
			}
			// One byte every 200 ms, in the background, until the
			// connection fails (the gateway closed it) or the case ends.
			done := make(chan struct{})
			go func() {
				defer close(done)
				tick := time.NewTicker(200 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-t.Ctx.Done():
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
				}
			}()
			waitClosed(t, c, "while trickling a request head")
			c.Close()
			<-done
		},
	},
}

// chunk is one chunk of a chunked body.
func chunk(data string) string {
	return strconv.FormatInt(int64(len(data)), 16) + "\r\n" + data + "\r\n"
}

// waitClosed reads c until the gateway closes it, failing the case when it
// is still open a second before the case's deadline. Whatever the gateway
// wrote first may only be an error answer (408 or 400), never a forward.
func waitClosed(t *T, c net.Conn, what string) {
	start := time.Now()
	if dl, ok := t.Ctx.Deadline(); ok {
		c.SetReadDeadline(dl.Add(-time.Second))
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the connection was still open after %v; want the gateway to close it at its header read timeout",
			what, time.Since(start).Round(time.Second))
	}
	if len(b) > 0 {
		status := string(b)
		if i := strings.Index(status, "\r\n"); i >= 0 {
			status = status[:i]
		}
		if !strings.HasPrefix(status, "HTTP/1.1 408") && !strings.HasPrefix(status, "HTTP/1.1 400") &&
			!strings.HasPrefix(status, "HTTP/1.0 408") && !strings.HasPrefix(status, "HTTP/1.0 400") {
			t.Errorf("%s: the gateway answered %q before closing; want nothing, 408 or 400", what, status)
		}
		if strings.Contains(string(b), `"raw_path":`) {
			t.Errorf("%s: an unfinished head was forwarded: %.300q", what, b)
		}
	}
	t.Logf("%s: closed by the gateway after %v (%d bytes answered first)", what, time.Since(start).Round(100*time.Millisecond), len(b))
}
