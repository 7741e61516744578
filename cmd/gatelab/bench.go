package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/harness/bench"
	"github.com/gatelab/gatelab/harness/scenario"
	"github.com/gatelab/gatelab/scenarios"
)

func init() {
	register("bench", "run lab scenarios over the engine matrix, check budgets, write results", cmdBench)
}

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", `usage: gatelab bench [-profile quick|ci|full] [-scenario FILE,...] [flags]
Runs scenarios (open-model or closed-loop load, fault timelines, budgets) over the
engine combinations, the direct baseline and peer gateways; writes results.json,
junit.xml, report.md and report.html. Exit 0: every budget passed; 1: a budget failed; 2: an invalid run or bad input.
`)
	profile := fs.String("profile", "quick", "`profile`: quick | ci | full")
	files := fs.String("scenario", "", "comma-separated scenario `files` to run instead of the profile's built-in scenarios (the profile still sets repetitions and which budgets apply)")
	reps := fs.Int("reps", 0, "`repetitions` per scenario (0: the profile's)")
	out := fs.String("out", "reports/out", "results `directory`; the run writes <dir>/<run-id>/results.json and junit.xml")
	runID := fs.String("run-id", "", "run `id` (default: the start time)")
	targets := fs.String("targets", "", "comma-separated target `globs` to keep (e.g. gatelab-fasthttp-*,nginx); the direct baseline always runs")
	bin := fs.String("bin", "", "gatelab `binary` to run as upstream and gateway (default: this executable)")
	root := fs.String("root", os.Getenv(EnvRoot), "repository `root` holding fixtures/ (default: $"+EnvRoot+" if set, else found in the working directory or above)")
	list := fs.Bool("list", false, "list the built-in scenarios and profiles, then exit")
	validate := fs.Bool("validate", false, "only parse and validate the scenarios, then exit (0 valid, 2 with every problem listed)")
	prom := fs.String("prometheus", "", "run Prometheus on this `address` (host:port) for the whole run, scraping every gatelab node while its trial runs, with gatelab's alert rules: point Grafana at it for the dashboards during the run; its data stays in the run's prometheus/ folder")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *prom != "" {
		if host, port, err := net.SplitHostPort(*prom); err != nil || port == "" || host == "" {
			return usageErrorf("-prometheus %q: want host:port", *prom)
		}
	}
	set, err := bench.LoadSet(scenarios.FS)
	if err != nil {
		fmt.Fprintf(stderr, "gatelab bench: built-in scenarios: %v\n", err)
		return exitCode(2)
	}
	if *list {
		for _, p := range bench.Profiles {
			fmt.Fprintf(stdout, "profile %-6s %d reps: %s\n", p.Name, p.Reps, p.Description)
		}
		for _, n := range sortedNames(set) {
			fmt.Fprintf(stdout, "scenario %-17s %s\n", n, set[n].Description)
		}
		return nil
	}
	prof, err := bench.FindProfile(*profile)
	if err != nil {
		return usageError{err}
	}
	if *files != "" {
		set = map[string]*scenario.Scenario{}
		prof.Scenarios = nil
		var bad []string
		for _, f := range strings.Split(*files, ",") {
			s, err := scenario.LoadFile(strings.TrimSpace(f))
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			set[s.Name] = s
			prof.Scenarios = append(prof.Scenarios, s.Name)
		}
		if len(bad) > 0 {
			fmt.Fprintln(stderr, strings.Join(bad, "\n"))
			return exitCode(2)
		}
	}
	plan, err := bench.Plan(prof, set, *reps)
	if err != nil {
		fmt.Fprintln(stderr, "gatelab bench:", err)
		return exitCode(2)
	}
	if *validate {
		for _, p := range plan {
			fmt.Fprintf(stdout, "ok: %s (%s): %d budgets, %d faults\n", p.S.Name, p.S.File, len(p.S.Budgets), len(p.S.Faults))
		}
		return nil
	}
	if *bin == "" {
		if *bin, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this executable: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := bench.Options{
		Bin: *bin, Root: *root, Out: *out, RunID: *runID, Profile: prof.Name, Scenarios: plan,
		Engines: map[string][]string{
			"server":  engines.Names(engines.KindServer),
			"router":  engines.Names(engines.KindRouter),
			"limiter": engines.Names(engines.KindLimiter),
		},
		Require: bench.RequireFromEnv(), Args: append([]string{"gatelab", "bench"}, args...), Progress: stdout, Prometheus: *prom,
	}
	if *targets != "" {
		opts.Targets = strings.Split(*targets, ",")
	}
	res, err := bench.Run(ctx, opts)
	var in *bench.InputError
	if errors.As(err, &in) {
		fmt.Fprintln(stderr, "gatelab bench:", err)
		return exitCode(2)
	}
	if err != nil && res == nil {
		fmt.Fprintln(stderr, "gatelab bench:", err)
		return exitCode(2)
	}
	if err != nil {
		fmt.Fprintln(stderr, "gatelab bench:", err)
	}
	if res.ExitCode != 0 {
		return exitCode(res.ExitCode)
	}
	return nil
}

func sortedNames(m map[string]*scenario.Scenario) []string {
	n := make([]string, 0, len(m))
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
