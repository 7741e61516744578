package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// ClosedSpec describes a closed-loop attack: Workers workers, each sending
// its next request when the previous one has returned. It measures
// throughput, not latency under a given load.
type ClosedSpec struct {
	Workers  int
	Duration time.Duration // the measured window, after the warm-up
	Warmup   time.Duration // requests sent before this are dropped
	Timeout  time.Duration // per request, including the body (default 10s)
	Requests []Request     // sent round robin: request number k is Requests[k mod len]
	Name     string
	Tick     func(elapsed time.Duration, s []Sample) // as OpenSpec.Tick
}

// Closed runs a closed-loop attack with vegeta (rate 0, exactly Workers
// workers, one keep-alive connection each) for Warmup+Duration. There is no
// schedule, so Intended = Sent and Corrected = Latency; Achieved is the
// requests sent in the measured window per second. A closed run is never
// invalid for its rate, only when ctx interrupted it or nothing was sent.
//
// As with Open, an interrupted attack returns the partial Run, not an error.
func Closed(ctx context.Context, s ClosedSpec) (*Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting closed load %q: %w", s.Name, err)
	}
	var errs []error
	if s.Workers <= 0 {
		errs = append(errs, fmt.Errorf("workers %d is not positive", s.Workers))
	}
	if s.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v is not positive", s.Duration))
	}
	if s.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warm-up %v is negative", s.Warmup))
	}
	reqs, err := prepare(s.Requests)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("checking closed load %q: %w", s.Name, err)
	}

	client, disp := newClient(ctx, reqs, s.Workers, cmpOr(s.Timeout, defaultTimeout))
	defer disp.next.CloseIdleConnections()
	n := uint64(s.Workers)
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(n),
		vegeta.MaxWorkers(n), // with rate 0: exactly n workers, back to back
		vegeta.MaxBody(0),
	)
	run, c := newRun("closed", s.Name, nil, len(reqs), s.Warmup, s.Tick, 0)
	end := s.Warmup + s.Duration
	interrupted := attack(ctx, c, atk, vegeta.ConstantPacer{}, end, s.Name)

	run.Measured = measuredWindow(run.Start, s.Warmup, end, interrupted)
	if run.Measured > 0 {
		run.Achieved = float64(len(run.Samples)) / run.Measured.Seconds()
	}
	run.PeakInFlight = int(disp.peak.Load())
	switch {
	case interrupted:
		run.Invalid = fmt.Sprintf("interrupted after %v: %v", time.Since(run.Start).Round(time.Millisecond), ctx.Err())
	case len(run.Samples) == 0:
		run.Invalid = "no request was sent in the measured window"
	}
	run.Valid = run.Invalid == ""
	return run, nil
}
