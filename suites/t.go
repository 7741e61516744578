package suites

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/internal/upstream"
)

// T is what a case gets: the target, HTTP helpers, credentials, and the
// failure methods of a Go test (Fatalf and Skipf end the case).
type T struct {
	Target Target
	Ctx    context.Context
	// Root is the repository root (fixtures/keys for minting tokens).
	Root string

	client *http.Client
	mu     sync.Mutex
	errs   []string
	skip   string
	logs   []string
}

// Errorf records a failure and goes on.
func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Fatalf records a failure and ends the case.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Skipf ends the case as skipped, with the reason.
func (t *T) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.skip = fmt.Sprintf(format, args...)
	t.mu.Unlock()
	runtime.Goexit()
}

// Logf keeps a line for the report of a failed case.
func (t *T) Logf(format string, args ...any) {
	t.mu.Lock()
	t.logs = append(t.logs, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Failed reports whether the case has failed so far.
func (t *T) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

// Response is what the client got; Echo is what the backend received
// (nil when the body is not an echo upstream's answer).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	Echo   *Echo
}

// Echo is an echo upstream's report of the request it received.
type Echo struct{ upstream.Echo }

// Values returns every value of a header the backend received, the name
// matched case-insensitively.
func (e *Echo) Values(name string) []string {
	if e == nil {
		return nil
	}
	var out []string
	for k, v := range e.Headers {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}

// Do sends a request to the target's traffic URL and reads the answer; a
// transport failure ends the case. path is sent as written (no cleaning).
func (t *T) Do(method, path string, header map[string]string, body []byte) *Response {
	req, err := http.NewRequestWithContext(t.Ctx, method, t.Target.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header[k] = append(req.Header[k], v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	var e Echo
	if json.Unmarshal(b, &e.Echo) == nil && e.Name != "" && e.Method != "" {
		r.Echo = &e
	}
	return r
}

// Get is Do with GET and no body.
func (t *T) Get(path string, header map[string]string) *Response {
	return t.Do(http.MethodGet, path, header, nil)
}

// MustEcho returns the backend's report, ending the case when the request
// did not reach an echo upstream.
func (t *T) MustEcho(r *Response) *Echo {
	if r.Echo == nil {
		t.Fatalf("the request did not reach a backend: status %d, body %.300q", r.Status, r.Body)
	}
	return r.Echo
}

// Token mints a JWT with the fixture's RSA key, issuer and audience for
// subject, with scopes, valid for ttl; edit adjusts the options first
// (another key, algorithm, claims).
func (t *T) Token(subject string, scopes []string, ttl time.Duration, edit func(*authtest.Options)) string {
	o := authtest.Options{Subject: subject, Scopes: scopes, TTL: ttl, Issuer: authtest.Issuer,
		Audience: []string{authtest.Audience}, KeyFile: t.Root + "/fixtures/keys/rsa.pem"}
	if edit != nil {
		edit(&o)
	}
	tok, err := authtest.Mint(o)
	if err != nil {
		t.Fatalf("minting a token: %v", err)
	}
	return tok
}

// Bearer is an Authorization header with a bearer token.
func Bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// Subject returns a subject unique to this case and run, so cases that
// count (rate limits) never share a counter.
func (t *T) Subject(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

// Eventually polls check every interval until it holds n times in a row or
// the case's context ends (then the case fails with the last reason): the
// way to wait for a target that reports no config version.
func (t *T) Eventually(n int, interval time.Duration, check func() (bool, string)) {
	agree, last := 0, ""
	for {
		ok, why := check()
		if ok {
			agree++
			if agree >= n {
				return
			}
		} else {
			agree, last = 0, why
		}
		select {
		case <-t.Ctx.Done():
			t.Fatalf("never held %d times in a row: %s", n, last)
		case <-time.After(interval):
		}
	}
}
