package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatelab/gatelab/gateway/config"
)

func init() {
	register("validate", "check a config file and print every problem", cmdValidate)
}

// cmdValidate loads a config file the way the gateway would and prints every
// problem as "file:line: path: message", one per line, exiting 1 if there are
// any. A valid file prints a one-line summary.
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "fixtures/gateway.yaml", "config file to check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatelab validate [-config FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitCode(2)
	}

	cfg, err := config.Load(*path)
	var probs config.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(stdout, p)
		}
		return exitCode(1)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d routes, %d backends, %d tiers\n",
		len(cfg.Routes), len(cfg.Backends), len(cfg.RateLimit.Tiers))
	return nil
}
