package suites

// Request helpers for the auth, rate-limit and extended cases: requests
// that return their transport error (for goroutines sending traffic while a
// case does something else), clients with a chosen loopback source address
// (a client IP of the case's own, for per-IP limits), and retrying a count
// that straddled a rate-limit window boundary.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sendVia is Do that returns a transport failure instead of ending the case,
// through client (nil: the run's client) to base (""; the target's URL),
// under ctx.
func (t *T) sendVia(ctx context.Context, client *http.Client, base, method, path string, header map[string]string) (*Response, error) {
	if client == nil {
		client = t.client
	}
	if base == "" {
		base = t.Target.URL()
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = append(req.Header[k], v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	var e Echo
	if json.Unmarshal(b, &e.Echo) == nil && e.Name != "" && e.Method != "" {
		r.Echo = &e
	}
	return r, nil
}

// mustSendVia is sendVia that ends the case on a transport failure.
func (t *T) mustSendVia(client *http.Client, base, method, path string, header map[string]string) *Response {
	r, err := t.sendVia(t.Ctx, client, base, method, path, header)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// targetOnLoopback reports whether the target's traffic URL names a
// loopback address, so a client may connect to it from any 127/8 address.
func (t *T) targetOnLoopback() bool {
	u, err := url.Parse(t.Target.URL())
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}

// freshLoopbackIP is a random 127/8 address other than 127.0.0.1: a client
// IP no other case, run or target uses (targets sharing a limiter store
// share per-IP counters too).
func freshLoopbackIP() string {
	for {
		ip := fmt.Sprintf("127.%d.%d.%d", rand.IntN(256), rand.IntN(256), 1+rand.IntN(254))
		if ip != "127.0.0.1" {
			return ip
		}
	}
}

// canSendFrom reports whether this machine can use ip as a source address
// (Linux answers from all of 127/8; other systems only from the addresses
// configured on their loopback interface).
func canSendFrom(ip string) error {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return err
	}
	return c.Close()
}

// clientFrom is a client whose connections leave from ip; close its idle
// connections when done.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 5 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxWindowAttempts bounds inOneWindow: two boundaries in a row are only
// possible if an attempt takes a whole window.
const maxWindowAttempts = 3

// inOneWindow runs attempt, which counts requests against a limit with
// credentials of its own (a new subject or client IP each call), until it
// reports no problem. Sliding-window limiters start their fixed windows at
// multiples of the window since the Unix epoch; a count that straddles such
// a boundary is spread over two windows and may rightly be judged
// differently, so such an attempt is repeated (at most maxWindowAttempts
// times). The problems of an attempt that straddled no boundary fail the
// case at once.
func (t *T) inOneWindow(window time.Duration, attempt func() []string) {
	for try := 1; ; try++ {
		// A second either side: the target's clock may read a little
		// differently from ours when it decides.
		start := time.Now().Add(-time.Second)
		problems := attempt()
		end := time.Now().Add(time.Second)
		if len(problems) == 0 {
			return
		}
		straddled := start.UnixNano()/int64(window) != end.UnixNano()/int64(window)
		if !straddled || try == maxWindowAttempts {
			for _, p := range problems {
				t.Errorf("%s", p)
			}
			return
		}
		t.Logf("attempt %d straddled a %v window boundary, repeated with fresh credentials: %s",
			try, window, strings.Join(problems, "; "))
	}
}

// excerpt is a response body for messages, shortened.
func excerpt(r *Response) string {
	b := bytes.TrimSpace(r.Body)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
