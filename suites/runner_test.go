package suites_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
	"github.com/gatelab/gatelab/suites"
)

// fakeTarget is the smallest gateway there is: an httptest server whose
// handler is an echo upstream named "alpha", so every request "reaches a
// backend" with its path unchanged. It declares the features it is given.
type fakeTarget struct {
	url      string
	features []suites.Feature
}

func (f *fakeTarget) Name() string { return "fake" }
func (f *fakeTarget) Implementation() suites.Implementation {
	return suites.Implementation{Name: "fake", Version: "0.1", Mode: map[string]string{"server": "httptest"}}
}
func (f *fakeTarget) URL() string                { return f.url }
func (f *fakeTarget) Features() []suites.Feature { return f.features }
func (f *fakeTarget) Reconfigure(context.Context, []suites.Route) error {
	return suites.ErrUnsupported
}

func newFakeTarget(t *testing.T, fs ...suites.Feature) *fakeTarget {
	t.Helper()
	srv := httptest.NewServer(upstream.New(suites.BackendAlpha).Handler())
	t.Cleanup(srv.Close)
	return &fakeTarget{url: srv.URL, features: fs}
}

// fakeCases is one case of every kind of outcome. ranPastFatal is set if
// the Fatalf case goes on after Fatalf; release unblocks the case that
// ignores its context (closed when the test ends).
func fakeCases(ranPastFatal *atomic.Bool, release <-chan struct{}) []suites.Case {
	return []suites.Case{
		{ID: "fake/pass", Level: suites.Core, Features: []suites.Feature{suites.RoutingPrefix}, Run: func(t *suites.T) {
			r := t.Get("/fake/pass?q=1", map[string]string{"X-Probe": "p"})
			e := t.MustEcho(r)
			if r.Status != 200 || e.Name != suites.BackendAlpha || e.Path != "/fake/pass" || e.Query != "q=1" {
				t.Errorf("status %d backend %q path %q query %q", r.Status, e.Name, e.Path, e.Query)
			}
			if v := e.Values("x-probe"); len(v) != 1 || v[0] != "p" {
				t.Errorf("X-Probe arrived as %q", v)
			}
		}},
		{ID: "fake/errorf", Level: suites.Core, Run: func(t *suites.T) {
			t.Errorf("first problem")
			t.Errorf("second problem %d", 2)
		}},
		{ID: "fake/fatalf", Level: suites.Core, Run: func(t *suites.T) {
			t.Logf("about to fail")
			t.Fatalf("fatal problem")
			ranPastFatal.Store(true)
		}},
		{ID: "fake/skipf", Level: suites.Extended, Run: func(t *suites.T) {
			t.Skipf("nothing to check here")
			ranPastFatal.Store(true)
		}},
		{ID: "fake/panic", Level: suites.Core, Run: func(t *suites.T) {
			panic("boom")
		}},
		// Returns as soon as its context ends: that is still an overrun.
		{ID: "fake/overrun-ctx", Level: suites.Core, Timeout: 100 * time.Millisecond, Run: func(t *suites.T) {
			<-t.Ctx.Done()
		}},
		// Ignores its context altogether: the runner must not wait for it.
		{ID: "fake/overrun-stuck", Level: suites.Core, Timeout: 100 * time.Millisecond, Run: func(t *suites.T) {
			<-release
		}},
		{ID: "fake/undeclared", Level: suites.Extended, Features: []suites.Feature{suites.RoutingPrefix, suites.CORS, suites.AuthJWT}, Run: func(t *suites.T) {
			ranPastFatal.Store(true)
		}},
	}
}

func byID(r *suites.Report) map[string]suites.CaseResult {
	m := map[string]suites.CaseResult{}
	for _, c := range r.Cases {
		m[c.ID] = c
	}
	return m
}

func TestRunnerOutcomes(t *testing.T) {
	t.Parallel()
	target := newFakeTarget(t, suites.RoutingPrefix)
	var past atomic.Bool
	release := make(chan struct{})
	defer close(release)
	cases := fakeCases(&past, release)
	rep := suites.Run(context.Background(), target, cases, suites.Options{Parallel: 3, Version: "test"})

	if len(rep.Cases) != len(cases) {
		t.Fatalf("%d results for %d cases", len(rep.Cases), len(cases))
	}
	got := byID(rep)
	for _, w := range []struct {
		id, outcome string
		reason      []string // substrings of the reason
	}{
		{"fake/pass", suites.Passed, nil},
		{"fake/errorf", suites.Failed, []string{"first problem", "second problem 2"}},
		{"fake/fatalf", suites.Failed, []string{"fatal problem"}},
		{"fake/skipf", suites.Skipped, []string{"nothing to check here"}},
		{"fake/panic", suites.Failed, []string{"panic: boom"}},
		{"fake/overrun-ctx", suites.Failed, []string{"did not finish within 100ms"}},
		{"fake/overrun-stuck", suites.Failed, []string{"did not finish within 100ms"}},
		// The reason names every missing feature, and only those.
		{"fake/undeclared", suites.Skipped, []string{"does not declare", "auth.jwt", "cors"}},
	} {
		c, ok := got[w.id]
		if !ok {
			t.Errorf("%s: no result", w.id)
			continue
		}
		if c.Outcome != w.outcome {
			t.Errorf("%s: outcome %q (reason %q), want %q", w.id, c.Outcome, c.Reason, w.outcome)
		}
		for _, s := range w.reason {
			if !strings.Contains(c.Reason, s) {
				t.Errorf("%s: reason %q lacks %q", w.id, c.Reason, s)
			}
		}
		if w.reason == nil && c.Reason != "" {
			t.Errorf("%s: reason %q, want none", w.id, c.Reason)
		}
	}
	if r := got["fake/undeclared"].Reason; strings.Contains(r, string(suites.RoutingPrefix)) {
		t.Errorf("undeclared: reason %q names a feature the target declares", r)
	}
	if past.Load() {
		t.Error("a case went on after Fatalf or Skipf, or a case needing an undeclared feature ran")
	}
	if l := got["fake/fatalf"].Log; len(l) != 1 || l[0] != "about to fail" {
		t.Errorf("fatalf: log %q, want its Logf line", l)
	}
	if rep.Target != "fake" || rep.Implementation.Name != "fake" || rep.GatelabVersion != "test" || rep.Date == "" {
		t.Errorf("report header: %+v", rep)
	}
	if !rep.Failed(suites.Core) || rep.Failed(suites.Extended) || !rep.Failed("") {
		t.Errorf("Failed: core %v extended %v any %v; want true false true", rep.Failed(suites.Core), rep.Failed(suites.Extended), rep.Failed(""))
	}
}

// A case whose echo check fails because the "gateway" changed the request
// fails: the fake gateway here sends every request to a backend named
// "beta", so a case expecting "alpha" must fail.
func TestRunnerCaseSeesWhatTheBackendGot(t *testing.T) {
	srv := httptest.NewServer(upstream.New(suites.BackendBeta).Handler())
	defer srv.Close()
	target := &fakeTarget{url: srv.URL, features: []suites.Feature{suites.RoutingPrefix}}
	var past atomic.Bool
	rep := suites.Run(context.Background(), target, fakeCases(&past, nil)[:1], suites.Options{})
	if c := rep.Cases[0]; c.Outcome != suites.Failed || !strings.Contains(c.Reason, `backend "beta"`) {
		t.Errorf("pass case against the wrong backend: %q %q, want failed naming beta", c.Outcome, c.Reason)
	}
}

func TestRunnerSelection(t *testing.T) {
	target := newFakeTarget(t, suites.RoutingPrefix, suites.AuthJWT, suites.CORS)
	noop := func(*suites.T) {}
	cases := []suites.Case{
		{ID: "routing/a", Level: suites.Core, Features: []suites.Feature{suites.RoutingPrefix}, Run: noop},
		{ID: "routing/b", Level: suites.Core, Features: []suites.Feature{suites.RoutingPrefix, suites.AuthJWT}, Run: noop},
		{ID: "auth/c", Level: suites.Core, Features: []suites.Feature{suites.AuthJWT}, Run: noop},
		{ID: "cors/d", Level: suites.Extended, Features: []suites.Feature{suites.CORS}, Run: noop},
		{ID: "plain/e", Level: suites.Core, Run: noop},
	}
	for _, c := range []struct {
		name string
		o    suites.Options
		ran  []string
		why  string // substring of every skip reason
	}{
		{"features", suites.Options{Features: []suites.Feature{suites.RoutingPrefix}}, []string{"routing/a", "plain/e"}, "-features"},
		{"cases", suites.Options{Cases: []string{"routing/", "cors/d"}}, []string{"routing/a", "routing/b", "cors/d"}, "-cases"},
		{"both", suites.Options{Cases: []string{"routing/"}, Features: []suites.Feature{suites.AuthJWT, suites.RoutingPrefix}}, []string{"routing/a", "routing/b"}, "not selected"},
		{"none", suites.Options{}, []string{"routing/a", "routing/b", "auth/c", "cors/d", "plain/e"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := suites.Run(context.Background(), target, cases, c.o)
			var ran []string
			for _, r := range rep.Cases {
				switch r.Outcome {
				case suites.Passed:
					ran = append(ran, r.ID)
				case suites.Skipped:
					if !strings.Contains(r.Reason, c.why) {
						t.Errorf("%s skipped with %q, want %q in it", r.ID, r.Reason, c.why)
					}
				default:
					t.Errorf("%s: %s %s", r.ID, r.Outcome, r.Reason)
				}
			}
			slices.Sort(ran)
			want := slices.Clone(c.ran)
			slices.Sort(want)
			if !slices.Equal(ran, want) {
				t.Errorf("ran %v, want %v", ran, want)
			}
		})
	}
}

// The result of a level: success when every case ran and passed, partial
// when none failed and some were skipped, failure when one failed; a level
// without cases has no profile.
func TestRunnerProfileResults(t *testing.T) {
	target := newFakeTarget(t, suites.RoutingPrefix)
	pass := func(*suites.T) {}
	fail := func(t *suites.T) { t.Errorf("no") }
	skip := func(t *suites.T) { t.Skipf("later") }
	for _, c := range []struct {
		name  string
		cases []suites.Case
		want  map[suites.Level]string
	}{
		{"all pass", []suites.Case{{ID: "a", Level: suites.Core, Run: pass}, {ID: "b", Level: suites.Core, Run: pass}},
			map[suites.Level]string{suites.Core: suites.Success}},
		{"skip by feature", []suites.Case{{ID: "a", Level: suites.Core, Run: pass}, {ID: "b", Level: suites.Core, Features: []suites.Feature{suites.CORS}, Run: pass}},
			map[suites.Level]string{suites.Core: suites.Partial}},
		{"skipf", []suites.Case{{ID: "a", Level: suites.Extended, Run: skip}},
			map[suites.Level]string{suites.Extended: suites.Partial}},
		{"one fails", []suites.Case{{ID: "a", Level: suites.Core, Run: fail}, {ID: "b", Level: suites.Core, Run: skip}, {ID: "c", Level: suites.Extended, Run: pass}},
			map[suites.Level]string{suites.Core: suites.Failure, suites.Extended: suites.Success}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := suites.Run(context.Background(), target, c.cases, suites.Options{})
			got := map[suites.Level]string{}
			for _, p := range rep.Profiles {
				got[p.Level] = p.Result
				if p.Passed+p.Failed+p.Skipped == 0 || len(p.Fails) != p.Failed || len(p.Skips) != p.Skipped {
					t.Errorf("%s: counts %d/%d/%d with %d failed and %d skipped ids", p.Level, p.Passed, p.Failed, p.Skipped, len(p.Fails), len(p.Skips))
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("profiles %v, want %v", got, c.want)
			}
			for lv, w := range c.want {
				if got[lv] != w {
					t.Errorf("%s: %q, want %q", lv, got[lv], w)
				}
			}
		})
	}
}

// A cancelled run ends every running case and says so, rather than
// blaming the case's timeout.
func TestRunnerCancelled(t *testing.T) {
	target := newFakeTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	cases := []suites.Case{{ID: "wait", Level: suites.Core, Run: func(t *suites.T) {
		close(started)
		<-t.Ctx.Done()
	}}}
	done := make(chan *suites.Report)
	go func() { done <- suites.Run(ctx, target, cases, suites.Options{}) }()
	<-started
	cancel()
	select {
	case rep := <-done:
		c := rep.Cases[0]
		if c.Outcome != suites.Failed || !strings.Contains(c.Reason, "cancelled") {
			t.Errorf("outcome %q reason %q; want failed, cancelled", c.Outcome, c.Reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

// Parallel bounds how many cases run at once.
func TestRunnerParallelBound(t *testing.T) {
	target := newFakeTarget(t)
	var running, peak atomic.Int32
	var cases []suites.Case
	for i := range 6 {
		cases = append(cases, suites.Case{ID: "p/" + string(rune('a'+i)), Level: suites.Core, Run: func(t *suites.T) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			// Stay a while so that, were the bound broken, more cases
			// would overlap; the check below is only an upper bound.
			time.Sleep(20 * time.Millisecond)
			running.Add(-1)
		}})
	}
	rep := suites.Run(context.Background(), target, cases, suites.Options{Parallel: 2})
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrency %d with Parallel 2", p)
	}
	for _, c := range rep.Cases {
		if c.Outcome != suites.Passed {
			t.Errorf("%s: %s %s", c.ID, c.Outcome, c.Reason)
		}
	}
}
