package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatelab/gatelab/harness/compare"
)

func init() {
	register("compare", "throughput of gatelab engines vs nginx vs direct upstream", cmdCompare)
}

func cmdCompare(args []string, stdout, stderr io.Writer) error {
	d := compare.DefaultOptions()
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", d.Duration, "measured `window` per trial")
	warmup := fs.Duration("warmup", d.Warmup, "warm-up before each trial, `dropped`")
	workers := fs.Int("workers", d.Workers, "closed-loop `workers` (one keep-alive connection each)")
	reps := fs.Int("reps", d.Reps, "`repetitions`; each runs every target once, in order")
	targets := fs.String("targets", strings.Join(d.Targets, ","), "comma-separated `targets`, run in this order")
	out := fs.String("out", d.Out, "results `directory`; the run writes <dir>/<run-id>/compare.json and compare.md")
	bin := fs.String("bin", "", "gatelab `binary` to run as upstream and gateway (default: this executable)")
	root := fs.String("root", "", "repository `root` holding fixtures/ (default: $GATELAB_ROOT, else found above the working directory)")
	nginx := fs.String("nginx", "", "nginx `binary` (default: nginx on PATH, else /usr/sbin/nginx)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatelab compare [flags]")
		fmt.Fprintln(stderr, "Closed-loop max-throughput comparison, in one run on this machine, of the upstream")
		fmt.Fprintln(stderr, "hit directly, nginx proxy_pass, and gatelab with each server engine (trie router,")
		fmt.Fprintln(stderr, "local limiter, JWT with cache, access log). Checks fasthttp/nginx >= 0.80 and")
		fmt.Fprintln(stderr, "nethttp/nginx >= 0.40 on median requests/s. Exit 0: all evaluated checks pass;")
		fmt.Fprintln(stderr, "1: a check failed; 2: invalid run or bad input. nginx missing: skipped with a")
		fmt.Fprintf(stderr, "notice unless %s=1.\n", compare.EnvRequireNginx)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatelab compare: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitCode(2)
	}
	o := d
	o.Duration, o.Warmup, o.Workers, o.Reps = *duration, *warmup, *workers, *reps
	o.Targets = compare.ParseTargets(*targets)
	o.Out, o.Root, o.Nginx = *out, *root, *nginx
	o.Args = append([]string{}, args...)
	o.Progress = stderr
	o.Bin = *bin
	if o.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "gatelab compare: cannot find this executable (%v): pass -bin\n", err)
			return exitCode(2)
		}
		o.Bin = exe
	}

	// The first Ctrl-C (or SIGTERM) ends the run cleanly: the trial stops,
	// every child is stopped and the partial report is written, marked
	// interrupted. A second one kills this process; the kernel then kills
	// the children.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()

	rep, err := compare.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "gatelab compare: %v\n", err)
		if rep == nil {
			return exitCode(2)
		}
	}
	if rep == nil {
		return exitCode(2)
	}
	fmt.Fprintln(stdout)
	rep.WriteConsole(stdout)
	if rep.ExitCode != 0 {
		return exitCode(rep.ExitCode)
	}
	if err != nil {
		return exitCode(2)
	}
	return nil
}
