package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() {
	engines.RegisterLimiter("redis", New)
}

var (
	_ pipeline.Limiter = (*Limiter)(nil)
	_ engines.Limiter  = (*Limiter)(nil)
	_ io.Closer        = (*Limiter)(nil)
)

// Connection defaults. A URL query parameter (dial_timeout=..., pool_size=...)
// overrides the matching default.
const (
	// DefaultTimeout bounds dialling, each read and each write. A decision is
	// also bounded by its Policy.Deadline, which is usually far shorter.
	DefaultTimeout = 100 * time.Millisecond
	// DefaultPoolTimeout bounds the wait for a free connection when the
	// decision has no deadline; with one (Policy.Deadline or the caller's
	// context), the deadline ends the wait first.
	DefaultPoolTimeout = 100 * time.Millisecond
)

// DefaultPoolSize is the connection pool size (per Redis node) when
// Settings.PoolSize is 0: 4 per GOMAXPROCS, at least 8.
func DefaultPoolSize() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// Policy bounds (see the package documentation).
const (
	MinWindow = time.Microsecond
	MaxWindow = time.Duration(1 << 52) // about 52 days
	MaxLimit  = 1 << 50
)

// Limiter is the Redis-backed limiter. Build it with New; Close it.
type Limiter struct {
	client goredis.UniversalClient
	script *goredis.Script
	cache  *overLimitCache // nil: no over-limit cache
	brk    breaker
	m      *metrics
	shape  string // "single", "cluster" or "sentinel"
	// now, when set (tests only), is the clock of a script variant that takes
	// the time as two more arguments instead of calling TIME.
	now func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// New builds a redis limiter from s (URL required) and opts.Registerer. It tries once to load the script into Redis, waiting at
// most WarmUpTimeout, and succeeds whether or not that worked: a node starts
// while Redis is down, and its decisions are "no decision" until Redis
// answers.
func New(opts engines.LimiterOptions, s Settings) (engines.Limiter, error) {
	return newLimiter(opts, s)
}

func newLimiter(opts engines.LimiterOptions, ro Settings) (*Limiter, error) {
	if ro.URL == "" {
		return nil, errors.New("redis limiter: Settings.URL is required")
	}
	if ro.PoolSize < 0 {
		return nil, fmt.Errorf("redis limiter: PoolSize must not be negative, got %d", ro.PoolSize)
	}
	client, shape, err := newClient(ro)
	if err != nil {
		return nil, fmt.Errorf("redis limiter: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("redis limiter: metrics: %w", err)
	}
	l := &Limiter{client: client, script: goredis.NewScript(scriptSource), m: m, shape: shape}
	if ro.OverLimitCache {
		l.cache = newOverLimitCache()
	}
	l.warmUp()
	return l, nil
}

// WarmUpTimeout bounds New's attempt to load the script.
const WarmUpTimeout = 200 * time.Millisecond

// warmUp loads the script (SCRIPT LOAD, on every master of a cluster) so the
// first decisions are single EVALSHA round trips on an open connection
// rather than dial, NOSCRIPT and EVAL within a few milliseconds' deadline. A
// failure is ignored: Redis may be down while the node starts.
func (l *Limiter) warmUp() {
	ctx, cancel := context.WithTimeout(context.Background(), WarmUpTimeout)
	defer cancel()
	l.script.Load(ctx, l.client)
}

// settings are the engine's connection settings, applied to whichever
// go-redis options the URL's shape parses to.
type settings struct {
	dialTimeout, readTimeout, writeTimeout, poolTimeout *time.Duration
	poolSize, maxRetries, dialerRetries, protocol       *int
	minIdle                                             *int
	contextTimeout, disableIdentity                     *bool
	maint                                               **maintnotifications.Config
}

func (s settings) apply(poolSize int) {
	def := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	def(s.dialTimeout, DefaultTimeout)
	def(s.readTimeout, DefaultTimeout)
	def(s.writeTimeout, DefaultTimeout)
	def(s.poolTimeout, DefaultPoolTimeout)
	if poolSize > 0 {
		*s.poolSize = poolSize
	} else if *s.poolSize == 0 {
		*s.poolSize = DefaultPoolSize()
	}
	if *s.minIdle == 0 {
		// Keep a few connections dialled ahead of need, so the first
		// concurrent decisions after start (or after Redis returns) do not
		// each pay a dial inside a few milliseconds' deadline.
		*s.minIdle = min(*s.poolSize, 2*runtime.GOMAXPROCS(0))
	}
	if *s.maxRetries == 0 {
		*s.maxRetries = -1 // go-redis: -1 disables retries; 0 would mean 3
	}
	if *s.dialerRetries == 0 {
		*s.dialerRetries = 1 // one dial attempt; 0 would mean 5, 100ms apart
	}
	if *s.protocol == 0 {
		*s.protocol = 2 // replies are plain arrays; RESP3 adds nothing here
	}
	*s.contextTimeout = true               // socket deadlines follow the decision's context
	*s.disableIdentity = true              // no CLIENT SETINFO round trip per new connection
	if s.maint != nil && *s.maint == nil { // (sentinel clients have no such option)
		*s.maint = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	}
}

// newClient parses the URL (see the package documentation for the shapes).
func newClient(ro Settings) (goredis.UniversalClient, string, error) {
	u, err := url.Parse(ro.URL)
	if err != nil {
		return nil, "", fmt.Errorf("invalid URL: %w", redactURLError(err))
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		o, err := goredis.ParseFailoverURL(ro.URL)
		if err != nil {
			return nil, "", fmt.Errorf("sentinel URL: %w", redactURLError(err))
		}
		settings{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.MinIdleConns,
			&o.ContextTimeoutEnabled, &o.DisableIdentity, nil}.apply(ro.PoolSize)
		return goredis.NewFailoverClient(o), "sentinel", nil
	case q.Has("addr"):
		o, err := goredis.ParseClusterURL(ro.URL)
		if err != nil {
			return nil, "", fmt.Errorf("cluster URL: %w", redactURLError(err))
		}
		settings{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.MinIdleConns,
			&o.ContextTimeoutEnabled, &o.DisableIdentity, &o.MaintNotificationsConfig}.apply(ro.PoolSize)
		return goredis.NewClusterClient(o), "cluster", nil
	default:
		o, err := goredis.ParseURL(ro.URL)
		if err != nil {
			return nil, "", fmt.Errorf("URL: %w", redactURLError(err))
		}
		settings{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
			&o.PoolSize, &o.MaxRetries, &o.DialerRetries, &o.Protocol, &o.MinIdleConns,
			&o.ContextTimeoutEnabled, &o.DisableIdentity, &o.MaintNotificationsConfig}.apply(ro.PoolSize)
		return goredis.NewClient(o), "single", nil
	}
}

// redactURLError drops the URL (which may hold a password) from a url.Error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Allow decides one request under key in one round trip to Redis.
func (l *Limiter) Allow(ctx context.Context, key string, p pipeline.Policy) (pipeline.LimitDecision, error) {
	if p.Limit <= 0 || p.Limit > MaxLimit || p.Window < MinWindow || p.Window > MaxWindow ||
		(p.Algorithm != pipeline.SlidingWindow && p.Algorithm != pipeline.GCRA) {
		return pipeline.LimitDecision{}, p.Invalid("redis")
	}
	if l.cache != nil {
		if d, ok := l.cache.get(key, p, time.Now()); ok {
			l.m.cacheHit()
			return d, nil
		}
	}
	if !l.brk.allow(time.Now().UnixNano()) {
		l.m.error(errBreaker)
		return pipeline.LimitDecision{}, errBreakerOpen
	}
	w := int64(p.Window)
	algo, unit := int64(0), w
	if p.Algorithm == pipeline.GCRA {
		algo, unit = 1, max(1, w/p.Limit)
	}
	if p.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Deadline)
		defer cancel()
	}
	began := time.Now()
	keys := []string{redisKey(key)}
	var cmd *goredis.Cmd
	if l.now == nil {
		cmd = l.script.Run(ctx, l.client, keys, algo, p.Limit, w, unit)
	} else {
		us := l.now().UnixMicro()
		cmd = l.script.Run(ctx, l.client, keys, algo, p.Limit, w, unit, us/1e6, us%1e6)
	}
	res, err := cmd.Int64Slice()
	if err == nil && len(res) != 5 {
		err = fmt.Errorf("malformed script reply %v", res)
	}
	if err != nil {
		kind := classify(err)
		switch kind {
		case errScript:
			l.m.observe(time.Since(began))
			l.brk.success() // Redis answered: it is reachable
		case errTimeout, errConnection:
			l.brk.failure(time.Now().UnixNano())
		default:
			l.brk.probing.Store(false) // e.g. the caller gave up: no verdict on Redis
		}
		l.m.error(kind)
		return pipeline.LimitDecision{}, fmt.Errorf("%w: redis limiter: %w", pipeline.ErrNoDecision, err)
	}
	l.m.observe(time.Since(began))
	l.brk.success()
	now := res[2] * 1000
	d := pipeline.LimitDecision{
		Allowed:    res[0] == 1,
		Limit:      p.Limit,
		Remaining:  res[1],
		Reset:      time.Unix(0, now+res[3]),
		RetryAfter: time.Duration(res[4]),
	}
	if !d.Allowed && l.cache != nil {
		// From the instant the request left: never later than Redis's answer.
		l.cache.put(key, p, began.Add(d.RetryAfter))
	}
	return d, nil
}

// Close closes the connections. Allow after Close is "no decision".
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.client.Close() })
	return l.closeErr
}
