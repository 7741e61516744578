package suites

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatelab/gatelab/internal/upstream"
)

// upstreamCases: what the client gets when the backend cannot answer, and
// that a backend's own answers pass through untouched.
//
// The refused-502 case needs the dead backend in rotation (a gateway that
// knows a backend is down rightly answers 503 without trying it): the
// fixture renders it without health checks or breaker. The open-breaker
// case has a refused backend of its own, whose breaker opens after 3.
var upstreamCases = []Case{
	{
		ID:          "upstream/refused-502",
		Description: "A backend that refuses connections gets the client a 502 from the gateway, with a JSON error body carrying the request id and no internal detail.",
		Level:       Core,
		Features:    []Feature{UpstreamErrors},
		Run: func(t *T) {
			// One request with the client's id, one with a generated one:
			// two of the dead backend's failures, well under any ejection.
			for _, rid := range []string{"conf-refused-1", ""} {
				var h map[string]string
				if rid != "" {
					h = map[string]string{"X-Request-ID": rid}
				}
				r := t.Get("/conf/dead/x", h)
				if r.Status != 502 || r.Echo != nil {
					t.Errorf("GET /conf/dead/x: status %d, body %.200q; want 502 from the gateway%s", r.Status, r.Body, ejectedHint(r))
					continue
				}
				checkErrorBody(t, "GET /conf/dead/x", r, rid)
			}
		},
	},
	{
		ID:          "upstream/timeout-504",
		Description: "A backend that does not answer within the route's timeout gets the client a 504 from the gateway, with a JSON error body carrying the request id and no internal detail; within the timeout the route answers.",
		Level:       Core,
		Features:    []Feature{UpstreamErrors},
		Run: func(t *T) {
			// The route works when the backend is quick: the 504 below is
			// the timeout's, not a broken route's.
			if r := t.Get("/conf/slow/x", nil); r.Status != 200 || r.Echo == nil {
				t.Fatalf("GET /conf/slow/x without delay: status %d; want 200 from the backend", r.Status)
			}
			// The route's timeout is 300 ms; the echo upstream waits 2 s.
			r := t.Get("/conf/slow/x", map[string]string{upstream.HeaderDelay: "2s", "X-Request-ID": "conf-timeout-1"})
			if r.Status != 504 || r.Echo != nil {
				t.Fatalf("GET /conf/slow/x with a 2 s backend delay: status %d, body %.200q; want 504 from the gateway", r.Status, r.Body)
			}
			checkErrorBody(t, "GET /conf/slow/x (delayed)", r, "conf-timeout-1")
		},
	},
	{
		ID:          "upstream/backend-answers-pass-through",
		Description: "A backend's own error statuses (4xx, 502) and bodies reach the client unchanged, not replaced by the gateway's answers, and a large body arrives intact.",
		Level:       Core,
		Features:    []Feature{RoutingPrefix},
		Run: func(t *T) {
			// One backend 5xx only: 5xx answers count against the backend's
			// health, and alpha serves every other case.
			for _, status := range []string{"418", "404", "502"} {
				r := t.Get("/conf/prefix/pass", map[string]string{upstream.HeaderStatus: status})
				e := t.MustEcho(r)
				if got := r.Status; got != atoi(status) || e.Name != BackendAlpha {
					t.Errorf("backend answered %s: client got %d from %q; want %s with the backend's body", status, got, e.Name, status)
				}
			}
			const n = 300_000
			r := t.Get("/conf/prefix/big", map[string]string{upstream.HeaderBodyBytes: "300000"})
			if r.Status != 200 || !bytes.Equal(r.Body, upstream.Payload(n)) {
				t.Errorf("a %d-byte body: status %d, %d bytes (intact: %v)", n, r.Status, len(r.Body), bytes.Equal(r.Body, upstream.Payload(n)))
			}
		},
	},
	{
		ID:          "upstream/breaker-open-503",
		Description: "Once a backend has failed often enough to open its circuit breaker, the gateway answers 503 at once, with Retry-After and a JSON error body carrying the request id, and keeps answering 503 while the breaker is open.",
		Level:       Core,
		Features:    []Feature{UpstreamBreaker, UpstreamErrors},
		Run: func(t *T) {
			// The breaker backend refuses connections: 502s until the
			// breaker opens (the fixture opens it after 3; bounded here).
			opened := false
			for i := 1; i <= 30 && !opened; i++ {
				r := t.Get("/conf/h-breaker/x", nil)
				switch {
				case r.Echo != nil:
					t.Fatalf("request %d reached a backend: %s", i, echoWho(r.Echo))
				case r.Status == 503:
					opened = true
					checkOpenBreaker(t, fmt.Sprintf("request %d", i), r)
				case r.Status != 502:
					t.Fatalf("request %d: status %d; want 502 until the breaker opens, then 503", i, r.Status)
				}
			}
			if !opened {
				t.Fatalf("no 503 after 30 refused requests: the breaker never opened")
			}
			for i := range 3 {
				r := t.Get("/conf/h-breaker/x", nil)
				if r.Status != 503 || r.Echo != nil {
					t.Errorf("request %d after the breaker opened: status %d; want 503 while it is open", i+1, r.Status)
					continue
				}
				checkOpenBreaker(t, fmt.Sprintf("request %d after it opened", i+1), r)
			}
		},
	},
}

// leak patterns: what a gateway error body must not show.
var (
	ipPortRE = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\]]:\d{2,5}\b`)
	// Go's and common proxies' error texts.
	errTexts = []string{"dial tcp", "connect:", "connection refused", "i/o timeout", "context deadline exceeded",
		"EOF", "net/http", "http: ", "read tcp", "write tcp", "no such host", "reset by peer", "broken pipe", "goroutine", "panic"}
)

// checkErrorBody checks a gateway's error answer: a JSON object with a
// non-empty "error" and a "request_id" equal to the X-Request-ID response
// header (and to wantRID when the client sent one), and nothing internal
// (addresses, ports, Go error text, the backend's name) anywhere in it.
func checkErrorBody(t *T, what string, r *Response, wantRID string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("%s: Content-Type %q; want application/json", what, r.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Errorf("%s: the body is not a JSON object (%v): %.200q", what, err, r.Body)
		return
	}
	if s, _ := body["error"].(string); s == "" {
		t.Errorf("%s: no \"error\" string in the body %s", what, r.Body)
	}
	rid, _ := body["request_id"].(string)
	hdr := r.Header.Get("X-Request-ID")
	switch {
	case rid == "" || rid != hdr:
		t.Errorf("%s: body request_id %q, X-Request-ID header %q; want the same non-empty id", what, rid, hdr)
	case wantRID != "" && rid != wantRID:
		t.Errorf("%s: request_id %q; want the client's %q", what, rid, wantRID)
	}
	// Everything but the request id (a UUID's hex may spell anything).
	rest := strings.Replace(string(r.Body), rid, "", 1)
	if m := ipPortRE.FindString(rest); m != "" {
		t.Errorf("%s: the body shows an address %q: %s", what, m, r.Body)
	}
	for _, s := range errTexts {
		if strings.Contains(strings.ToLower(rest), strings.ToLower(s)) {
			t.Errorf("%s: the body shows internal error text %q: %s", what, s, r.Body)
		}
	}
	for _, name := range append([]string{BackendDead}, EchoBackends...) {
		if strings.Contains(rest, `"`+name+`"`) || strings.Contains(rest, name+"-") || strings.Contains(rest, " "+name) {
			t.Errorf("%s: the body names the backend %q: %s", what, name, r.Body)
		}
	}
}

// checkOpenBreaker checks an open breaker's 503: Retry-After in whole
// seconds (at least 1) and the gateway's error body.
func checkOpenBreaker(t *T, what string, r *Response) {
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("%s: Retry-After %q; want a whole number of seconds, at least 1", what, r.Header.Get("Retry-After"))
	}
	checkErrorBody(t, what, r, "")
}

// ejectedHint explains a 503 from a target that took the dead backend out
// of rotation: the case's expectation holds only until then.
func ejectedHint(r *Response) string {
	if r.Status == 503 {
		return " (a 503 here usually means the target took the dead backend out of rotation after failed health probes or refused requests: " +
			"the fixture must keep it out of health checks; gatelab probes at start, at every config reload and every 10 s)"
	}
	return ""
}

// atoi parses a small decimal status; -1 when s is not one.
func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
