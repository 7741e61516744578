package peers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Probe is the request Parity sends through every target.
type Probe struct {
	Method string      // default GET
	Path   string      // path and query appended to each target's base URL, e.g. "/api/v2/users/me?x=1"
	Header http.Header // sent as is; a "Host" entry sets the request's Host
	// Uncompared names probe headers that are sent but whose arrival is
	// not compared: credentials a gateway consumes (gatelab never forwards
	// Authorization; a plain proxy does), so a policy difference the
	// comparison knows about is not reported as a parity failure.
	Uncompared []string
}

// ParityResult is what one target did with the probe. OK is true when the
// target answered and nothing differs from the reference (the reference's
// own result is OK when it answered).
type ParityResult struct {
	Target string
	OK     bool
	Diffs  []string // every difference from the reference, or why there is no answer
	Status int      // 0: no answer
	// Upstream is the upstream's JSON echo of the request it received (see
	// internal/upstream: method, path, raw_path, query, headers...), nil when
	// the answer was not an echo.
	Upstream map[string]any
}

// ProbeTimeout bounds each probe request.
const ProbeTimeout = 5 * time.Second

// Parity sends probe once through each target (name -> base URL such as
// "http://127.0.0.1:8080"), then compares every target with the reference
// target: the status, whether the request reached an upstream, which
// upstream (its name), the method, path and query the upstream received,
// whether X-Forwarded-For was set, and the values every probe header arrived
// with. Results are in target name order. A reference missing from targets
// or without an answer makes every other target not OK.
func Parity(ctx context.Context, probe Probe, targets map[string]string, reference string) []ParityResult {
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DisableCompression: true},
		Timeout:   ProbeTimeout,
		// A redirect is part of the answer, not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	names := make([]string, 0, len(targets))
	for n := range targets {
		names = append(names, n)
	}
	slices.Sort(names)
	answers := map[string]answer{}
	for _, n := range names {
		answers[n] = send(ctx, client, probe, targets[n])
	}

	ref, haveRef := answers[reference]
	out := make([]ParityResult, 0, len(names))
	for _, n := range names {
		a := answers[n]
		r := ParityResult{Target: n, Status: a.status, Upstream: a.echo}
		if a.err != "" {
			r.Diffs = append(r.Diffs, a.err)
		}
		switch {
		case n == reference || a.err != "":
		case !haveRef:
			r.Diffs = append(r.Diffs, fmt.Sprintf("the reference %q is not among the targets", reference))
		case ref.err != "":
			r.Diffs = append(r.Diffs, fmt.Sprintf("the reference %q gave no answer to compare with", reference))
		default:
			r.Diffs = append(r.Diffs, compare(probe, ref, a, reference)...)
		}
		r.OK = len(r.Diffs) == 0
		out = append(out, r)
	}
	return out
}

type answer struct {
	status int
	echo   map[string]any
	err    string
}

func send(ctx context.Context, client *http.Client, probe Probe, base string) answer {
	method := probe.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+probe.Path, nil)
	if err != nil {
		return answer{err: fmt.Sprintf("building the probe: %v", err)}
	}
	for k, vs := range probe.Header {
		if http.CanonicalHeaderKey(k) == "Host" {
			if len(vs) > 0 {
				req.Host = vs[0]
			}
			continue
		}
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: fmt.Sprintf("no answer: %v", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := answer{status: resp.StatusCode}
	if err != nil {
		a.err = fmt.Sprintf("reading the answer: %v", err)
		return a
	}
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &m) == nil {
		if _, ok := m["method"].(string); ok {
			a.echo = m
		}
	}
	return a
}

// compare lists how got differs from ref.
func compare(probe Probe, ref, got answer, refName string) []string {
	var ds []string
	diff := func(what string, r, g any) {
		if !reflect.DeepEqual(r, g) {
			ds = append(ds, fmt.Sprintf("%s: %s, %s has %s", what, show(g), refName, show(r)))
		}
	}
	diff("status", ref.status, got.status)
	diff("reached an upstream", ref.echo != nil, got.echo != nil)
	if ref.echo == nil || got.echo == nil {
		return ds
	}
	for _, k := range []string{"name", "method", "path", "query"} {
		diff("upstream "+k, ref.echo[k], got.echo[k])
	}
	rh, gh := echoHeaders(ref.echo), echoHeaders(got.echo)
	diff("X-Forwarded-For present", rh["X-Forwarded-For"] != nil, gh["X-Forwarded-For"] != nil)
	keys := make([]string, 0, len(probe.Header))
	for k := range probe.Header {
		if c := http.CanonicalHeaderKey(k); c != "Host" && c != "X-Forwarded-For" && !slices.ContainsFunc(probe.Uncompared, func(u string) bool { return http.CanonicalHeaderKey(u) == c }) {
			keys = append(keys, c)
		}
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		diff("upstream header "+k, rh[k], gh[k])
	}
	return ds
}

// echoHeaders returns the echo's headers keyed canonically.
func echoHeaders(echo map[string]any) map[string][]any {
	h := map[string][]any{}
	m, _ := echo["headers"].(map[string]any)
	for k, v := range m {
		vs, _ := v.([]any)
		c := http.CanonicalHeaderKey(k)
		h[c] = append(h[c], vs...)
	}
	return h
}

func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "none"
	case []any:
		if len(v) == 0 {
			return "none"
		}
	case string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprint(v)
}
