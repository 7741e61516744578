package bench

import (
	"os"
	"slices"
	"testing"
)

// steady-5k (issue 10's fixed-rate comparison) is in the full profile
// only, and runs both server engines beside the peers and the direct
// nginx upstream.
func TestSteady5kInFullOnly(t *testing.T) {
	set, err := LoadSet(os.DirFS("../../scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Profiles {
		plan, err := Plan(p, set, 0)
		if err != nil {
			t.Fatal(err)
		}
		in := slices.ContainsFunc(plan, func(x Planned) bool { return x.S.Name == "steady-5k" })
		if in != (p.Name == "full") {
			t.Errorf("profile %s: steady-5k planned %v", p.Name, in)
		}
	}
	s := set["steady-5k"]
	names, err := TargetNames(s, testEngines)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"direct", "nginx", "haproxy", "gatelab-nethttp-trie-local", "gatelab-fasthttp-trie-local"}
	if !slices.Equal(names, want) {
		t.Errorf("targets %v, want %v", names, want)
	}
	if u := s.Upstreams[0]; u.Mode != "nginx" || u.MaxConnRequests != 1000 || u.IdleTimeout.Seconds() != 2 {
		t.Errorf("upstream %+v", u)
	}
	if st := s.Load.Stages; len(st) != 1 || st[0].Rate != 5000 || (st[0].Duration-s.Load.Warmup).Seconds() != 8 || s.Load.Warmup.Seconds() != 2 {
		t.Errorf("load %+v", s.Load)
	}
	if set["throughput"].Upstreams[0].Mode != "nginx" {
		t.Errorf("throughput's upstream is %q, want nginx", set["throughput"].Upstreams[0].Mode)
	}
}
