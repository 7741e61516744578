package load

import (
	"context"
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// OpenSpec describes an open-model attack: requests leave on the schedule,
// whether or not earlier ones have returned.
type OpenSpec struct {
	Schedule Schedule
	Requests []Request     // sent round robin: request number k is Requests[k mod len]
	Warmup   time.Duration // samples due before this are dropped (the requests are sent)
	Timeout  time.Duration // per request, including the body (default 10s)
	// MaxWorkers bounds vegeta's workers, hence the requests in flight
	// (default 10000). When every worker is busy the generator falls behind
	// the schedule; the correction shows the delay, and the run is INVALID if
	// the lag breaks the saturation rule (see Open).
	MaxWorkers  uint64
	Connections int // idle keep-alive connections kept per host (default 256)
	Name        string
	// Tick, when set, is called about once a second from the collecting
	// goroutine with the measured samples that arrived since the last call
	// (the slice aliases Run.Samples: read it, do not keep or change it), and
	// once more at the end with the rest. It must return quickly: results
	// queue while it runs. Cancel the attack's ctx to abort from it.
	Tick func(elapsed time.Duration, s []Sample)
}

const (
	defaultMaxWorkers  = 10000
	defaultConnections = 256
	// minAchieved is the fraction of the offered rate an open run must send.
	minAchieved = 0.99
	// lagFloor and lagIntervals define the generator saturation rule: the
	// p99 send lag may not exceed max(lagFloor, lagIntervals × mean interval).
	// A lag of a few milliseconds is folded into the corrected latency
	// anyway; on a shared 2-core host the generator's goroutines routinely
	// wait that long for a core. Falling 50 ms (or 50 requests) behind is
	// a generator that no longer delivers the schedule.
	lagFloor     = 50 * time.Millisecond
	lagIntervals = 50
)

// Open runs an open-model attack with vegeta: s.Schedule paces it, and each
// result's intended send time is Schedule.Intended(Result.Seq). Latency is
// kept twice: from the actual send (Sample.Latency, what vegeta reports) and
// from the intended send (Sample.Corrected, which keeps the queueing a
// stalled target imposes on a generator that ran out of workers: coordinated
// omission).
//
// The run is INVALID (Valid false, Invalid with the numbers) when
//   - it sent less than 99 % of the requests scheduled in the measured
//     window (Achieved < 0.99 × Offered), or
//   - the generator was saturated: the p99 of the send lag (Sent - Intended)
//     exceeds max(50ms, 50 × the mean interval between scheduled requests).
//     A generator short of CPU lags this way, and so does one whose
//     MaxWorkers are all waiting on a stalled target (Invalid then says all
//     workers were busy); its corrected latencies are still right, but it
//     did not deliver the load it claims;
//   - ctx ended the attack ("interrupted").
//
// An interrupted attack is not an error: the partial Run comes back with
// Valid false. Open returns an error only when the spec is wrong or ctx was
// done before the start.
func Open(ctx context.Context, s OpenSpec) (*Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting open load %q: %w", s.Name, err)
	}
	if err := s.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("checking the schedule of open load %q: %w", s.Name, err)
	}
	reqs, err := prepare(s.Requests)
	if err != nil {
		return nil, fmt.Errorf("checking the requests of open load %q: %w", s.Name, err)
	}
	dur := s.Schedule.Duration()
	if s.Warmup < 0 || s.Warmup >= dur {
		return nil, fmt.Errorf("checking open load %q: warm-up %v is not within the schedule's %v", s.Name, s.Warmup, dur)
	}
	scheduled := s.Schedule.Total() - s.Schedule.dueBefore(s.Warmup)
	if scheduled == 0 {
		return nil, fmt.Errorf("checking open load %q: no request is scheduled after the %v warm-up", s.Name, s.Warmup)
	}
	timeout := cmpOr(s.Timeout, defaultTimeout)
	maxWorkers := cmpOr(s.MaxWorkers, defaultMaxWorkers)
	conns := cmpOr(s.Connections, defaultConnections)

	client, disp := newClient(ctx, reqs, conns, timeout)
	defer disp.next.CloseIdleConnections()
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.Workers(min(vegeta.DefaultWorkers, maxWorkers)),
		vegeta.MaxWorkers(maxWorkers),
		vegeta.MaxBody(0), // bodies are read and discarded
	)
	run, c := newRun("open", s.Name, s.Schedule, len(reqs), s.Warmup, s.Tick, int(scheduled))
	interrupted := attack(ctx, c, atk, s.Schedule, dur, s.Name)

	window := dur - s.Warmup
	run.Measured = measuredWindow(run.Start, s.Warmup, dur, interrupted)
	run.Scheduled = int(scheduled)
	run.Offered = float64(scheduled) / window.Seconds()
	if run.Measured > 0 {
		run.Achieved = float64(len(run.Samples)) / run.Measured.Seconds()
	}
	run.SendLag = QuantilesOf(histOf(run.Samples, nil, func(s *Sample) time.Duration { return s.Sent - s.Intended }))
	run.PeakInFlight = int(disp.peak.Load())

	var why []string
	if interrupted {
		why = append(why, fmt.Sprintf("interrupted after %v: %v", time.Since(run.Start).Round(time.Millisecond), ctx.Err()))
	}
	switch {
	case len(run.Samples) == 0:
		why = append(why, fmt.Sprintf("no request was sent in the measured window (%d scheduled)", scheduled))
	case !interrupted && run.Achieved < minAchieved*run.Offered:
		why = append(why, fmt.Sprintf("achieved %.1f req/s is below 99%% of the offered %.1f req/s (%d of %d scheduled requests sent)",
			run.Achieved, run.Offered, len(run.Samples), scheduled))
	}
	interval := window / time.Duration(scheduled)
	limit := max(lagFloor, lagIntervals*interval)
	if len(run.Samples) > 0 && run.SendLag.P99 > limit {
		busy := fmt.Sprintf("at most %d of %d workers were busy", run.PeakInFlight, maxWorkers)
		if uint64(run.PeakInFlight) >= maxWorkers {
			busy = fmt.Sprintf("all %d workers were busy", maxWorkers)
		}
		why = append(why, fmt.Sprintf("generator saturated: send lag p99 %v > %v (max(%v, %d x mean interval %v)); %s",
			run.SendLag.P99, limit, lagFloor, lagIntervals, interval, busy))
	}
	run.Valid = len(why) == 0
	run.Invalid = strings.Join(why, "; ")
	return run, nil
}

// cmpOr returns v, or def when v is zero or negative.
func cmpOr[T int | uint64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
