package mux

import (
	"testing"

	"github.com/gatelab/gatelab/engines/router/routertest"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func TestBehaviour(t *testing.T) { routertest.Run(t, New) }

func BenchmarkMatch50(b *testing.B)   { routertest.Bench(b, New, 50) }
func BenchmarkMatch500(b *testing.B)  { routertest.Bench(b, New, 500) }
func BenchmarkMatch5000(b *testing.B) { routertest.Bench(b, New, 5000) }

// TestMatchAllocs pins the allocation profile the package documents: gorilla
// allocates once per matching route (FindStringSubmatchIndex in setMatch),
// and nothing is allocated for 405s and 404s.
func TestMatchAllocs(t *testing.T) {
	r, err := New([]pipeline.RouteSpec{
		{Index: 0, Pattern: "/a/b", Methods: pipeline.MethodSet(0).With(pipeline.MethodGet)},
		{Index: 1, Pattern: "/c/*", Methods: pipeline.AllMethods},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		m      pipeline.Method
		path   string
		status pipeline.MatchStatus
		allocs float64
	}{
		{pipeline.MethodGet, "/a/b", pipeline.Found, 1},
		{pipeline.MethodGet, "/c/d", pipeline.Found, 1},
		{pipeline.MethodPost, "/a/b", pipeline.MethodNotAllowed, 0},
		{pipeline.MethodGet, "/zz", pipeline.NotFound, 0},
	} {
		if got := r.Match(p.m, p.path).Status; got != p.status {
			t.Fatalf("Match(%v, %q).Status = %v, want %v", p.m, p.path, got, p.status)
		}
		if a := testing.AllocsPerRun(200, func() { r.Match(p.m, p.path) }); a != p.allocs {
			t.Errorf("Match(%v, %q) allocates %v times, want %v", p.m, p.path, a, p.allocs)
		}
	}
}
