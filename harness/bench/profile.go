package bench

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/gatelab/gatelab/harness/scenario"
)

// Profile is a named selection of scenarios and repetitions.
type Profile struct {
	Name        string
	Description string
	Reps        int
	// Scenarios by name; nil means every scenario in the set.
	Scenarios []string
}

// Profiles are the built-in profiles.
var Profiles = []Profile{
	{Name: "quick", Reps: 2, Description: "make bench: every server x router on steady, the limiters on limiter-accuracy and redis-down, throughput beside nginx and haproxy; about 5 minutes on 2 cores",
		Scenarios: []string{"steady", "limiter-accuracy", "redis-down", "throughput"}},
	// ci runs 4 repetitions: the fewest with which gatelab report -baseline
	// (a U test over repetitions) can call a change significant at 0.05.
	{Name: "ci", Reps: 4, Description: "pull requests: the quick scenarios with ratio budgets against the in-run baseline; 4 repetitions, the fewest a baseline comparison can judge",
		Scenarios: []string{"steady", "limiter-accuracy", "redis-down", "throughput"}},
	{Name: "full", Reps: 5, Description: "every scenario, five repetitions"},
}

// FindProfile returns the profile called name.
func FindProfile(name string) (Profile, error) {
	var names []string
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, badInput("unknown profile %q (known: %s)", name, strings.Join(names, ", "))
}

// LoadSet parses every *.yaml scenario in fsys; every problem of every
// file is returned at once.
func LoadSet(fsys fs.FS) (map[string]*scenario.Scenario, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	set := map[string]*scenario.Scenario{}
	var probs []string
	for _, n := range names {
		s, err := scenario.LoadFS(fsys, n)
		if err != nil {
			probs = append(probs, err.Error())
			continue
		}
		if prev, dup := set[s.Name]; dup {
			probs = append(probs, fmt.Sprintf("%s: scenario name %q is also used by %s", n, s.Name, prev.File))
			continue
		}
		set[s.Name] = s
	}
	if len(probs) > 0 {
		return nil, badInput("%s", strings.Join(probs, "\n"))
	}
	return set, nil
}

// Plan selects the profile's scenarios from the set; reps > 0 overrides
// the profile's repetitions.
func Plan(p Profile, set map[string]*scenario.Scenario, reps int) ([]Planned, error) {
	if reps <= 0 {
		reps = p.Reps
	}
	names := p.Scenarios
	if names == nil {
		for n := range set {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var out []Planned
	for _, n := range names {
		s, ok := set[n]
		if !ok {
			return nil, badInput("profile %s needs scenario %q, which is not in the scenario set", p.Name, n)
		}
		out = append(out, Planned{S: s, Reps: reps})
	}
	return out, nil
}
