package suites

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ShedTarget is a Target that can serve the fixture with a small in-flight
// limit of its own, for the load-shedding case. A target declaring shed
// must implement it.
type ShedTarget interface {
	// WithMaxInFlight starts another instance of the target from the same
	// fixture, in front of the same echo upstreams, that sheds by route
	// priority above fractions of max requests in flight: P3 above 60 %,
	// P2 above 75 %, P1 above 90 %, P0 never. stop ends it; the target
	// under test is left alone (other cases keep running on it).
	WithMaxInFlight(ctx context.Context, max int) (shed Target, stop func(), err error)
}

// shedMax and shedHeld: 8 requests held in flight out of 10 is above P3's
// threshold (6) and below P1's (9).
const (
	shedMax  = 10
	shedHeld = 8
)

// shedCases: load shedding by priority.
var shedCases = []Case{{
	ID:          "shed/priority",
	Description: "With the gateway's in-flight requests above the P3 threshold (8 of 10 held on a P0 route), a P3 route is shed (503 with Retry-After, no backend reached) while the P0 route keeps being served; once the held requests finish, the P3 route is served again.",
	Level:       Extended,
	Features:    []Feature{Shedding},
	Timeout:     40 * time.Second,
	Run: func(t *T) {
		st, ok := t.Target.(ShedTarget)
		if !ok {
			t.Fatalf("the target declares %s but cannot start with a small in-flight limit (it does not implement suites.ShedTarget)", Shedding)
		}
		shed, stop, err := st.WithMaxInFlight(t.Ctx, shedMax)
		if err != nil {
			t.Fatalf("starting the target with max_in_flight %d: %v", shedMax, err)
		}
		defer stop()
		const critical, low = "/conf/a-shed-critical/x", "/conf/a-shed-low/x"
		for _, p := range []string{critical, low} {
			if r := t.mustSendVia(nil, shed.URL(), "GET", p, nil); r.Status != 200 || r.Echo == nil {
				t.Fatalf("before the load, GET %s: status %d (body %s), want 200 from the backend", p, r.Status, excerpt(r))
			}
		}
		// Hold shedHeld requests on the P0 route: the echo upstream waits
		// before answering each. They end when the case does (or after
		// the delay).
		hold, release := context.WithCancel(t.Ctx)
		var held sync.WaitGroup
		defer held.Wait()
		defer release()
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: shedHeld + 4}}
		defer client.CloseIdleConnections()
		for range shedHeld {
			held.Add(1)
			go func() {
				defer held.Done()
				req, _ := http.NewRequestWithContext(hold, http.MethodGet, shed.URL()+critical+"?held=1", nil)
				req.Header.Set("X-Upstream-Delay", "3s")
				if res, err := client.Do(req); err == nil {
					res.Body.Close()
				}
			}()
		}
		// The held requests reach the gateway in their own time: wait until
		// the P3 route is shed, on 3 probes in a row (no fixed sleep).
		var last *Response
		t.Eventually(3, 20*time.Millisecond, func() (bool, string) {
			last = t.mustSendVia(nil, shed.URL(), "GET", low, nil)
			return last.Status == 503, "P3 route answered " + strconv.Itoa(last.Status) + " with " + strconv.Itoa(shedHeld) + " of " + strconv.Itoa(shedMax) + " requests held"
		})
		t.wantRejected("P3 route under load", last, 503, "")
		if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("P3 route shed with Retry-After %q, want whole seconds >= 1", last.Header.Get("Retry-After"))
		}
		if r := t.mustSendVia(nil, shed.URL(), "GET", critical, nil); r.Status != 200 || r.Echo == nil {
			t.Errorf("P0 route under load: status %d (body %s), want 200 from the backend (P0 is never shed)", r.Status, excerpt(r))
		}
		// The load goes away: the P3 route is served again.
		release()
		held.Wait()
		t.Eventually(3, 20*time.Millisecond, func() (bool, string) {
			r := t.mustSendVia(nil, shed.URL(), "GET", low, nil)
			return r.Status == 200 && r.Echo != nil, "P3 route still answers " + strconv.Itoa(r.Status) + " after the held requests ended"
		})
	},
}}
