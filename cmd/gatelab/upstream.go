package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

func init() {
	register("upstream", "run the fake backend (echo or static; latency, errors, connection limits)", runUpstream)
}

// upstreamShutdownTimeout bounds the graceful shutdown on SIGINT/SIGTERM;
// requests still in flight after it are cut off.
const upstreamShutdownTimeout = 5 * time.Second

const upstreamUsage = `usage: gatelab upstream [-listen ADDR] [-name NAME] [-static [-body-bytes N]]
        [-delay SPEC] [-error-rate F] [-error-status N]
        [-max-conn-requests N] [-idle-timeout D] [-seed N]

Runs the fake backend until SIGINT or SIGTERM. It echoes each request as JSON
(honouring the X-Upstream-* control headers), or with -static answers a fixed
body as cheaply as net/http allows. /healthz answers health; /_control/ changes
behaviour at run time:

  GET  /_control/behavior                    the current behaviour (JSON)
  POST /_control/behavior  {"delay":"normal:5ms,1ms","error_rate":0.1}
  POST /_control/behavior?stall=true         hold every request...
  POST /_control/behavior?stall=false        ...until released
  POST /_control/behavior?down=true          close connections, answer nothing
  POST /_control/behavior?reset=true         back to the flags' behaviour
  GET  /_control/stats                       connections, requests, errors
  POST /_control/health?status=503           /healthz answers 503

Delay SPEC: none, fixed:5ms (or just 5ms), uniform:1ms-5ms (MIN-MAX),
normal:5ms,1ms (MEAN,STDDEV; clamped at 0), lognormal:5ms,0.5 (MEDIAN,SIGMA).
Draws are seeded (-seed): request n of a run always gets the same delay and
error draw. Connection limits apply to echo and static alike.
`

func runUpstream(args []string, stdout, stderr io.Writer) error {
	// Catch signals before announcing the address, so a signal sent as soon
	// as the line is seen is handled gracefully.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUpstream(ctx, args, stdout, stderr)
}

// serveUpstream runs the upstream until ctx ends (then shuts it down) or it
// stops on its own.
func serveUpstream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("upstream", upstreamUsage)
	listen := fs.String("listen", "127.0.0.1:9101", "`address` to listen on (port 0 picks a free one)")
	name := fs.String("name", "upstream", "`name` reported in echoes and /healthz")
	static := fs.Bool("static", false, `answer every request with a fixed body ({"ok":true}) instead of the echo`)
	bodyBytes := fs.Int("body-bytes", 0, "with -static: answer `N` bytes of payload instead of {\"ok\":true}")
	delay := fs.String("delay", "none", "latency `SPEC` added to every answer (see above)")
	errorRate := fs.Float64("error-rate", 0, "fraction `F` (0..1) of requests answered with -error-status")
	errorStatus := fs.Int("error-status", upstream.DefaultErrorStatus, "status `N` of injected errors (400..599)")
	maxConnRequests := fs.Int("max-conn-requests", 0, "close a keep-alive connection after `N` requests, as nginx's keepalive_requests (0: never)")
	idleTimeout := fs.Duration("idle-timeout", 0, "close a keep-alive connection idle for `D` (0: never)")
	seed := fs.Uint64("seed", 0, "seed `N` of the delay and error draws")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}

	o := upstream.Options{
		Static:      *static,
		BodyBytes:   *bodyBytes,
		IdleTimeout: *idleTimeout,
		Seed:        *seed,
		Behavior: upstream.Behavior{
			ErrorRate:       *errorRate,
			ErrorStatus:     *errorStatus,
			MaxConnRequests: *maxConnRequests,
		},
	}
	var problems []error
	d, err := upstream.ParseDelay(*delay)
	if err != nil {
		problems = append(problems, fmt.Errorf("-delay: %w", err))
	}
	o.Behavior.Delay = d
	if err := o.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return usageError{errors.Join(problems...)}
	}

	srv, err := upstream.StartWith(ctx, *listen, *name, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "upstream %s listening on %s\n", *name, srv.URL())

	select {
	case <-ctx.Done():
	case <-srv.Done():
		if err := srv.Err(); err != nil {
			return err
		}
		return errors.New("server stopped unexpectedly")
	}
	sctx, cancel := context.WithTimeout(context.Background(), upstreamShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
