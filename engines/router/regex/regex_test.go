package regex

import (
	"testing"

	"github.com/gatelab/gatelab/engines/router/routertest"
)

func TestBehaviour(t *testing.T) { routertest.Run(t, New) }

func BenchmarkMatch50(b *testing.B)   { routertest.Bench(b, New, 50) }
func BenchmarkMatch500(b *testing.B)  { routertest.Bench(b, New, 500) }
func BenchmarkMatch5000(b *testing.B) { routertest.Bench(b, New, 5000) }

// TestMatchAllocs checks that Match allocates nothing in the steady state
// (regexp keeps its matcher state in an internal cache).
func TestMatchAllocs(t *testing.T) {
	routes, reqs := routertest.Fixture(t, 500)
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		for _, q := range reqs {
			r.Match(q.Method, q.Path)
		}
	})
	if allocs != 0 {
		t.Fatalf("Match over %d requests allocates %v times, want 0", len(reqs), allocs)
	}
}
