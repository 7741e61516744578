package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

func init() {
	register("upstream", "run the fake backend (echo server with per-request controls)", runUpstream)
}

// upstreamShutdownTimeout bounds the graceful shutdown on SIGINT/SIGTERM;
// requests still in flight after it are cut off.
const upstreamShutdownTimeout = 5 * time.Second

func runUpstream(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9101", "`address` to listen on (port 0 picks a free one)")
	name := fs.String("name", "upstream", "`name` reported in echoes and /healthz")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatelab upstream [-listen ADDR] [-name NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitCode(2) // the flag package has printed the problem
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatelab upstream: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitCode(2)
	}

	// Catch signals before announcing the address, so a signal sent as soon
	// as the line is seen is handled gracefully.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)

	srv, err := upstream.Start(*listen, *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "upstream %s listening on %s\n", *name, srv.URL())

	select {
	case <-sig:
	case <-srv.Done():
		if err := srv.Err(); err != nil {
			return err
		}
		return errors.New("server stopped unexpectedly")
	}
	ctx, cancel := context.WithTimeout(context.Background(), upstreamShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
