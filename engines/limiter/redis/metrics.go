package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Error kinds of gatelab_ratelimit_redis_errors_total.
const (
	errTimeout    = "timeout"      // the deadline passed: dial, pool wait, read or write
	errConnection = "connection"   // refused, reset, closed
	errScript     = "script"       // Redis answered with an error
	errOther      = "other"        // anything else (a cancelled context, a malformed reply)
	errBreaker    = "breaker_open" // failed fast: Redis was unreachable moments ago (see breaker.go)
)

// errBreakerOpen is returned while the breaker is open.
var errBreakerOpen = fmt.Errorf("%w: redis limiter: Redis unreachable, failing fast (breaker open)", pipeline.ErrNoDecision)

// metrics are the engine's own series; a nil *metrics records nothing.
type metrics struct {
	errs      map[string]prometheus.Counter
	roundTrip prometheus.Histogram
	cacheHits prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	errs, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatelab_ratelimit_redis_errors_total",
		Help: "Rate-limit decisions the redis engine could not make, by cause (timeout, connection, script, other).",
	}, []string{"kind"}))
	if err != nil {
		return nil, err
	}
	rt, err := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gatelab_ratelimit_redis_roundtrip_seconds",
		Help:    "Time of the redis engine's decision round trips that got an answer from Redis.",
		Buckets: prometheus.ExponentialBucketsRange(50e-6, 1, 16),
	}))
	if err != nil {
		return nil, err
	}
	hits, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatelab_ratelimit_overlimit_cache_hits_total",
		Help: "Rate-limit decisions answered from the over-limit cache, without a round trip.",
	}))
	if err != nil {
		return nil, err
	}
	m := &metrics{errs: map[string]prometheus.Counter{}, roundTrip: rt, cacheHits: hits}
	for _, k := range []string{errTimeout, errConnection, errScript, errOther, errBreaker} {
		m.errs[k] = errs.WithLabelValues(k)
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// the same description (several limiters sharing one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *metrics) error(kind string) {
	if m != nil {
		m.errs[kind].Inc()
	}
}

func (m *metrics) observe(d time.Duration) {
	if m != nil {
		m.roundTrip.Observe(d.Seconds())
	}
}

func (m *metrics) cacheHit() {
	if m != nil {
		m.cacheHits.Inc()
	}
}

// classify sorts a failed decision's error into an error kind.
func classify(err error) string {
	var (
		rerr goredis.Error
		nerr net.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, goredis.ErrPoolTimeout):
		return errTimeout
	case errors.As(err, &nerr) && nerr.Timeout():
		return errTimeout
	case errors.As(err, &rerr):
		return errScript
	case errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolExhausted),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return errConnection
	case errors.As(err, new(*net.OpError)):
		return errConnection
	}
	return errOther
}
