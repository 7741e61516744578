package bench

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/gatelab/gatelab/harness/scenario"
)

// Options is one bench run.
type Options struct {
	Bin     string // the gatelab binary (required): gateways and upstreams run as its processes
	Root    string // repository root holding fixtures/ ("" = found from the working directory or Bin)
	Out     string // reports directory; the run writes Out/RunID/
	RunID   string // "" = derived from the start time
	Profile string // quick | full | ci, or "custom" for -scenario files
	// Scenarios to run, in order (already parsed and validated).
	Scenarios []Planned
	// Engines lists the registered engines by kind ("server", "router",
	// "limiter"); cmd fills it from the engine registry, so a new engine
	// shows up in every scenario that selects "all".
	Engines map[string][]string
	// Require names dependencies whose absence fails the run instead of
	// skipping the rows that need them: "redis", "nginx", "haproxy".
	Require  map[string]bool
	Args     []string  // the command line, for the manifest
	Progress io.Writer // live progress and the final table; nil = discarded
	// Targets, when non-empty, keeps only targets whose name matches one of
	// these globs (trailing '*').
	Targets []string
	// Prometheus, when set (host:port), runs Prometheus there for the whole
	// run, scraping every gatelab node while its trial runs, with the
	// dashboards' alert rules; its files and TSDB stay in the run's
	// prometheus/ folder.
	Prometheus string
}

// Planned is one scenario with the repetitions the profile gives it.
type Planned struct {
	S    *scenario.Scenario
	Reps int
}

// Dependency names for Options.Require and the environment variables that
// set them (GATELAB_REQUIRE_REDIS=1, ...).
var Dependencies = []string{"redis", "etcd", "nginx", "haproxy", "docker"}

// RequireFromEnv reads GATELAB_REQUIRE_<DEP>=1 for every dependency.
func RequireFromEnv() map[string]bool {
	m := map[string]bool{}
	for _, d := range Dependencies {
		m[d] = os.Getenv("GATELAB_REQUIRE_"+strings.ToUpper(d)) == "1"
	}
	return m
}

// InputError is bad input: the run never started (exit code 2).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func badInput(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

func (o *Options) check() error {
	var probs []string
	if o.Bin == "" {
		probs = append(probs, "the gatelab binary is required")
	}
	if len(o.Scenarios) == 0 {
		probs = append(probs, "no scenario to run")
	}
	for _, k := range []string{"server", "router", "limiter"} {
		if len(o.Engines[k]) == 0 {
			probs = append(probs, "no "+k+" engine registered")
		}
	}
	for _, p := range o.Scenarios {
		if p.Reps < 1 || p.Reps > 50 {
			probs = append(probs, fmt.Sprintf("scenario %s: repetitions %d: want 1..50", p.S.Name, p.Reps))
		}
	}
	if len(probs) > 0 {
		sort.Strings(probs)
		return badInput("%s", strings.Join(probs, "; "))
	}
	if o.Out == "" {
		o.Out = "reports/out"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}
