package compare

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Target names, in the default order of a run.
const (
	TargetDirect   = "direct"
	TargetNginx    = "nginx"
	TargetFasthttp = "gatelab-fasthttp"
	TargetNethttp  = "gatelab-nethttp"
)

// KnownTargets lists every target name, in the default order.
var KnownTargets = []string{TargetDirect, TargetNginx, TargetFasthttp, TargetNethttp}

// EnvRequireNginx, set to 1, makes a missing nginx an error instead of a
// skipped target.
const EnvRequireNginx = "GATELAB_REQUIRE_NGINX"

// Bounds on the options, so that a typo cannot start an endless run.
const (
	maxDuration = time.Hour
	maxWarmup   = 10 * time.Minute
	maxWorkers  = 4096
	maxReps     = 100
)

// Options is one compare run.
type Options struct {
	Bin          string        // gatelab binary (required)
	Root         string        // repository root, for fixtures/ ("": found from the working directory or Bin)
	Nginx        string        // nginx binary ("": nginx on PATH, else /usr/sbin/nginx)
	RequireNginx bool          // a missing nginx fails the run instead of skipping it
	Duration     time.Duration // measured window per trial
	Warmup       time.Duration // dropped warm-up before each measured window
	Workers      int           // closed-loop workers (= connections) per trial
	Reps         int           // repetitions of the whole target sequence
	Targets      []string      // targets in run order
	Out          string        // reports directory; the run writes Out/RunID/
	RunID        string        // "": derived from the start time
	Args         []string      // the command line as given, recorded in the manifest
	Progress     io.Writer     // one line per step and trial; nil: discarded
}

// DefaultOptions returns the defaults of the gatelab compare flags (Bin is
// left empty).
func DefaultOptions() Options {
	return Options{
		RequireNginx: os.Getenv(EnvRequireNginx) == "1",
		Duration:     5 * time.Second,
		Warmup:       time.Second,
		Workers:      32,
		Reps:         3,
		Targets:      append([]string(nil), KnownTargets...),
		Out:          "reports/out",
	}
}

// ParseTargets splits a comma-separated target list.
func ParseTargets(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// InputError is a problem with the options; the run never started.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func badInput(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// Check reports every problem with o at once.
func (o *Options) Check() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if o.Bin == "" {
		add("-bin: the gatelab binary is required")
	}
	if o.Duration <= 0 || o.Duration > maxDuration {
		add("-duration %v: want > 0 and <= %v", o.Duration, maxDuration)
	}
	if o.Warmup < 0 || o.Warmup > maxWarmup {
		add("-warmup %v: want >= 0 and <= %v", o.Warmup, maxWarmup)
	}
	if o.Workers < 1 || o.Workers > maxWorkers {
		add("-workers %d: want 1..%d", o.Workers, maxWorkers)
	}
	if o.Reps < 1 || o.Reps > maxReps {
		add("-reps %d: want 1..%d", o.Reps, maxReps)
	}
	if len(o.Targets) == 0 {
		add("-targets: none given (known: %s)", strings.Join(KnownTargets, ","))
	}
	seen := map[string]bool{}
	for _, t := range o.Targets {
		switch {
		case !isKnown(t):
			add("-targets: unknown target %q (known: %s)", t, strings.Join(KnownTargets, ","))
		case seen[t]:
			add("-targets: %q given twice", t)
		}
		seen[t] = true
	}
	if o.Out == "" {
		add("-out: a directory is required")
	}
	if o.RunID != "" && (strings.ContainsAny(o.RunID, `/\`) || o.RunID == "." || o.RunID == "..") {
		add("run id %q: must be a plain directory name", o.RunID)
	}
	if len(probs) > 0 {
		return &InputError{Msg: strings.Join(probs, "\n")}
	}
	return nil
}

func isKnown(t string) bool {
	for _, k := range KnownTargets {
		if t == k {
			return true
		}
	}
	return false
}

// isGatelab reports whether target is one of the gatelab engines, and which
// server engine it runs.
func isGatelab(target string) (server string, ok bool) {
	switch target {
	case TargetFasthttp:
		return "fasthttp", true
	case TargetNethttp:
		return "nethttp", true
	}
	return "", false
}
