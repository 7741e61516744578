package router_test

import (
	"slices"
	"testing"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/router/routertest"
	"github.com/gatelab/gatelab/gateway/pipeline"

	_ "github.com/gatelab/gatelab/engines/router/mux"
	_ "github.com/gatelab/gatelab/engines/router/regex"
	_ "github.com/gatelab/gatelab/engines/router/trie"
)

// TestEngines runs the shared behaviour test on every registered router
// engine, so an engine added to the blank imports above is covered without
// writing a test for it.
func TestEngines(t *testing.T) {
	names := engines.Names(engines.KindRouter)
	for _, want := range []string{"mux", "regex", "trie"} {
		if !slices.Contains(names, want) {
			t.Errorf("router engine %q is not registered (have %v)", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			f, err := engines.NewRouterFactory(name)
			if err != nil {
				t.Fatal(err)
			}
			routertest.Run(t, f)
		})
	}
}

// fuzzTable is a small table full of the shapes that differ between engines
// if one of them gets precedence or boundaries wrong.
var fuzzTable = []pipeline.RouteSpec{
	{Index: 0, Pattern: "/", Methods: pipeline.MethodSet(0).With(pipeline.MethodGet)},
	{Index: 1, Pattern: "/a/*", Methods: pipeline.MethodSet(0).With(pipeline.MethodPost)},
	{Index: 2, Pattern: "/a/b", Methods: pipeline.MethodSet(0).With(pipeline.MethodGet)},
	{Index: 3, Pattern: "/a/b/*", Methods: pipeline.MethodSet(0).With(pipeline.MethodPut)},
	{Index: 4, Pattern: "/a/bc", Methods: pipeline.MethodSet(0).With(pipeline.MethodDelete)},
	{Index: 5, Pattern: "/a/", Methods: pipeline.AllMethods},
	{Index: 6, Pattern: "/a/b", Methods: pipeline.MethodSet(0).With(pipeline.MethodPost)},
	{Index: 7, Pattern: "/x%20y/*", Methods: pipeline.AllMethods},
	{Index: 8, Pattern: "/a.b/c", Methods: pipeline.AllMethods},
	{Index: 9, Pattern: "/*", Methods: pipeline.MethodSet(0).With(pipeline.MethodOptions)},
}

// FuzzEnginesAgree checks that every engine gives the reference answer for
// any method and any path, canonical or not.
func FuzzEnginesAgree(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/", "/a/b", "/a/b/", "/a/bc", "/a//b", "/a/b/c", "/x%20y", "/a.b/c", "/aXb/c", "", "a", "/a/b\n"} {
		f.Add(uint8(pipeline.MethodGet), s)
	}
	refs := []pipeline.Router{routertest.Reference(fuzzTable)}
	names := []string{"reference"}
	for _, name := range engines.Names(engines.KindRouter) {
		fac, err := engines.NewRouterFactory(name)
		if err != nil {
			f.Fatal(err)
		}
		r, err := fac(fuzzTable)
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		refs = append(refs, r)
		names = append(names, name)
	}
	f.Fuzz(func(t *testing.T, m uint8, path string) {
		method := pipeline.Method(m % 9) // every known method, MethodUnknown and one out of range
		want := refs[0].Match(method, path)
		for i, r := range refs[1:] {
			if got := r.Match(method, path); got != want {
				t.Errorf("%s: Match(%d, %q) = %+v, reference says %+v", names[i+1], method, path, got, want)
			}
		}
	})
}
