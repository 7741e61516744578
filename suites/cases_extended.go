package suites

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// extendedCases: behaviour many gateways leave out. Config reload under
// traffic, and the limiter's fail modes with its store down (through
// LimiterStoreDowner; skipped until a target declares ratelimit.fail-mode).
var extendedCases = []Case{
	{
		ID:          "reload/no-failed-requests",
		Description: "While clients send requests continuously (an open route and a JWT route), the config is replaced three times, each time with a new route: no request fails, each new route answers as soon as the target reports the new config, and the route it replaced is gone.",
		Level:       Extended,
		Features:    []Feature{ConfigReload, AuthJWT},
		Timeout:     40 * time.Second,
		Run:         runReloadCase,
	},
	failModeCase("open", "/conf/a-fail-open/x",
		"With the rate limiter's store down, a fail-open route still admits an authenticated request to the backend, and still refuses one without a token (401)."),
	failModeCase("closed", "/conf/a-fail-closed/x",
		"With the rate limiter's store down, a fail-closed route answers 503 with Retry-After and reaches no backend, and still refuses a request without a token with 401."),
}

// corsCases check the CORS route (Route.CORS);
// they are part of the extended group.
var corsCases = []Case{
	{
		ID:          "cors/preflight",
		Description: "A preflight from the allowed origin for an allowed method and header is answered by the gateway (2xx with Access-Control-Allow-Origin/-Methods/-Headers and Max-Age) without reaching the backend; an unknown origin or a method the route does not serve gets no grant; simple requests are forwarded, with the grant (and Vary: Origin) only for the allowed origin.",
		Level:       Extended,
		Features:    []Feature{CORS},
		Run:         runCORSCase,
	},
}

// maxReloadRequests bounds each traffic goroutine of the reload case.
const maxReloadRequests = 200_000

func runReloadCase(t *T) {
	ctx, stop := context.WithCancel(t.Ctx)
	sub := t.Subject("reload")
	traffic := []struct {
		path    string
		header  map[string]string
		backend string
	}{
		{"/conf/a-reload-steady/x", nil, BackendBeta},
		{"/conf/jwt/reload", Bearer(t.Token(sub, nil, 5*time.Minute, nil)), BackendAlpha},
	}
	var (
		served, failed atomic.Int64
		mu             sync.Mutex
		firstFailures  []string
		wg             sync.WaitGroup
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := traffic[g%len(traffic)]
			for i := 0; i < maxReloadRequests && ctx.Err() == nil; i++ {
				r, err := t.sendVia(ctx, nil, "", "GET", tr.path, tr.header)
				if ctx.Err() != nil {
					return // ended by the case, not by the target
				}
				var why string
				switch {
				case err != nil:
					why = err.Error()
				case r.Status != 200 || r.Echo == nil || r.Echo.Name != tr.backend:
					why = fmt.Sprintf("status %d (body %s), want 200 from %s", r.Status, excerpt(r), tr.backend)
				default:
					served.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				if len(firstFailures) < 3 {
					firstFailures = append(firstFailures, fmt.Sprintf("GET %s: %s", tr.path, why))
				}
				mu.Unlock()
			}
		}()
	}
	// The traffic ends however the case does (Fatalf included).
	defer func() {
		stop()
		wg.Wait()
	}()
	// flowing waits until more requests have been served since the last
	// call: traffic runs before, between and after the reloads.
	var mark int64
	flowing := func() {
		want := mark + 20
		t.Eventually(1, 5*time.Millisecond, func() (bool, string) {
			return served.Load() >= want || failed.Load() > 0,
				fmt.Sprintf("only %d requests served, want %d", served.Load(), want)
		})
		mark = served.Load()
	}

	uniq := strconv.FormatInt(time.Now().UnixNano(), 36)
	prev := ""
	for i := 1; i <= 3; i++ {
		flowing()
		id := fmt.Sprintf("a-reload-%s-%d", uniq, i)
		route := Route{ID: id, Pattern: "/conf/" + id + "/*", Backend: BackendGamma, Auth: NoAuth, Needs: ConfigReload}
		want := route.Backend
		if err := t.Target.Reconfigure(t.Ctx, []Route{route}); err != nil {
			if errors.Is(err, ErrUnsupported) {
				t.Fatalf("the target declares %s but cannot change its config: %v", ConfigReload, err)
			}
			t.Fatalf("reload %d: %v", i, err)
		}
		// No waiting: Reconfigure returns once the new config is served.
		r := t.Get("/conf/"+id+"/probe", nil)
		if r.Status != 200 || r.Echo == nil || r.Echo.Name != want || r.Echo.Path != "/conf/"+id+"/probe" {
			t.Errorf("reload %d: the new route answered %d (body %s), want 200 from %s at /conf/%s/probe", i, r.Status, excerpt(r), want, id)
		}
		if prev != "" {
			if r := t.Get("/conf/"+prev+"/probe", nil); r.Status != 404 {
				t.Errorf("reload %d: the route it replaced answered %d, want 404", i, r.Status)
			}
		}
		prev = id
	}
	flowing()
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed across the reloads; first: %s", n, n+served.Load(), strings.Join(firstFailures, "; "))
	}
	t.Logf("%d requests served across 3 reloads", served.Load())
	// Back to the plain fixture for whatever runs next.
	if err := t.Target.Reconfigure(t.Ctx, nil); err != nil {
		t.Errorf("restoring the fixture config: %v", err)
	} else if r := t.Get("/conf/"+prev+"/probe", nil); r.Status != 404 {
		t.Errorf("after restoring the fixture config the last added route answered %d, want 404", r.Status)
	}
}

// LimiterStoreDowner is a Target that can serve the fixture with its rate
// limiter's store unreachable, for the fail-mode cases. A target declaring
// ratelimit.fail-mode must implement it.
type LimiterStoreDowner interface {
	// LimiterStoreDown starts another instance of the target, configured
	// from the same fixture (routes, tiers, credentials) in
	// front of the same echo upstreams, whose limiter store cannot answer
	// (for gatelab: the redis limiter pointed at a port nobody listens on).
	// stop ends it. The target under test itself is left alone: other
	// cases keep counting on it.
	LimiterStoreDown(ctx context.Context) (down Target, stop func(), err error)
}

// failModeCase: route (Route.FailClosed says open or closed) with the store down.
func failModeCase(mode, path, description string) Case {
	return Case{
		ID:          "ratelimit/fail-" + mode + "-store-down",
		Description: description,
		Level:       Extended,
		Features:    []Feature{FailMode, AuthJWT},
		Timeout:     30 * time.Second,
		Run: func(t *T) {
			sd, ok := t.Target.(LimiterStoreDowner)
			if !ok {
				t.Fatalf("the target declares %s but cannot take its limiter store down (it does not implement suites.LimiterStoreDowner)", FailMode)
			}
			sub := t.Subject("fail-" + mode)
			tok := t.Token(sub, nil, 5*time.Minute, nil)
			// With the store up the route serves: what follows is the
			// store's doing.
			if r := t.Get(path, Bearer(tok)); r.Status != 200 || r.Echo == nil {
				t.Fatalf("with the store up: status %d (body %s), want 200 from the backend", r.Status, excerpt(r))
			}
			down, stopDown, err := sd.LimiterStoreDown(t.Ctx)
			if err != nil {
				t.Fatalf("starting the target with its limiter store down: %v", err)
			}
			defer stopDown()
			t.wantRejected("no token, store down", t.mustSendVia(nil, down.URL(), "GET", path, nil), 401, "Bearer")
			r := t.mustSendVia(nil, down.URL(), "GET", path, Bearer(tok))
			if mode == "closed" {
				t.wantRejected("store down", r, 503, "")
				if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); r.Status == 503 && (err != nil || ra < 1) {
					t.Errorf("store down: 503 with Retry-After %q, want whole seconds >= 1", r.Header.Get("Retry-After"))
				}
				return
			}
			if r.Status != 200 || r.Echo == nil {
				t.Fatalf("store down: status %d (body %s), want 200 from the backend (fail-open)", r.Status, excerpt(r))
			}
			if v := r.Echo.Values("X-User-ID"); len(v) != 1 || v[0] != sub {
				t.Errorf("store down: the backend got X-User-ID %q, want [%q]", v, sub)
			}
		},
	}
}

func runCORSCase(t *T) {
	const path = "/conf/a-cors/x"
	evil := "https://evil.conf.test"
	preflight := func(origin, method, headers string) *Response {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return t.Do("OPTIONS", path, h, nil)
	}

	r := preflight(CORSOrigin, "POST", "X-Conf-Header")
	if r.Status != 200 && r.Status != 204 {
		t.Errorf("preflight: status %d (body %s), want 200 or 204", r.Status, excerpt(r))
	}
	if r.Echo != nil {
		t.Errorf("preflight: forwarded to backend %q; the gateway answers it", r.Echo.Name)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != CORSOrigin {
		t.Errorf("preflight: Access-Control-Allow-Origin %q, want %q", got, CORSOrigin)
	}
	if got := r.Header.Values("Access-Control-Allow-Methods"); !listHas(got, "POST") {
		t.Errorf("preflight: Access-Control-Allow-Methods %q, want POST among them", got)
	}
	if got := r.Header.Values("Access-Control-Allow-Headers"); !listHas(got, "X-Conf-Header") && !listHas(got, "*") {
		t.Errorf("preflight: Access-Control-Allow-Headers %q, want X-Conf-Header among them", got)
	}
	if got := r.Header.Get("Access-Control-Max-Age"); got != "600" {
		t.Errorf("preflight: Access-Control-Max-Age %q, want 600", got)
	}

	r = preflight(evil, "GET", "")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want none", evil, got)
	}
	r = preflight(CORSOrigin, "DELETE", "")
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" && listHas(r.Header.Values("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("preflight for DELETE (not served by the route): granted, Access-Control-Allow-Methods %q", r.Header.Values("Access-Control-Allow-Methods"))
	}

	r = t.Get(path, map[string]string{"Origin": CORSOrigin})
	if r.Status != 200 || r.Echo == nil || r.Echo.Name != BackendAlpha {
		t.Errorf("GET from %s: status %d (body %s), want 200 from %s", CORSOrigin, r.Status, excerpt(r), BackendAlpha)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != CORSOrigin {
		t.Errorf("GET from %s: Access-Control-Allow-Origin %q, want it", CORSOrigin, got)
	}
	if got := r.Header.Values("Vary"); !listHas(got, "Origin") {
		t.Errorf("GET from %s: Vary %q, want Origin among them (the answer depends on it)", CORSOrigin, got)
	}
	r = t.Get(path, map[string]string{"Origin": evil})
	if r.Status != 200 || r.Echo == nil {
		t.Errorf("GET from %s: status %d, want 200 from the backend (browsers enforce CORS)", evil, r.Status)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET from %s: Access-Control-Allow-Origin %q, want none", evil, got)
	}
}

// listHas reports whether comma-separated header values hold item (ASCII
// case-insensitive).
func listHas(values []string, item string) bool {
	for _, v := range values {
		for _, x := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(x), item) {
				return true
			}
		}
	}
	return false
}
