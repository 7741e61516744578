package main

import (
	"errors"
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
	fs := newFlags("validate", "usage: gatelab validate [-config FILE]\nChecks a config file the way the gateway loads it and prints every problem.\n")
	path := fs.String("config", defaultConfig, "config `file` to check"+repoFileHelp)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if !fs.isSet("config") {
		*path = repoFile(defaultConfig)
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
