package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatelab/gatelab/engines"
	_ "github.com/gatelab/gatelab/engines/all" // every engine
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/observe"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Version is reported in logs and the engine info metric.
var Version = "0.1.0-dev"

// Options override parts of the config for one node.
type Options struct {
	Server, Router, Limiter string // "" keeps the config's engines section
	// LimiterSet overrides settings of the config's limiter: section
	// (-redis, -node, -bind, -peers), in order.
	LimiterSet    []LimiterSetting
	Listen, Admin string // "" keeps the config's listen section
	// AccessLog receives the JSON access log; nil means the config's
	// access_log.output.
	AccessLog io.Writer
	Instance  string
	// Pprof exposes net/http/pprof under /debug/pprof/ on the admin listener
	// (never on the traffic listener). Off by default.
	Pprof bool
}

// Node is a running gateway node.
type Node struct {
	Gateway *pipeline.Gateway
	Engines config.Engines

	server    engines.Server
	limiter   engines.Limiter
	admin     *http.Server
	adminMux  *http.ServeMux
	traffic   net.Listener
	adminLn   net.Listener
	log       *observe.AccessLog
	logCloser io.Closer
	served    chan error

	// started is the config the node started with: its listeners, engines,
	// limiter settings and connection limits stay until a restart.
	started *config.Config
	// warnf reports config changes that wait for a restart (nil: none).
	warnf func(string, ...any)
	// bootstrap is set while the node serves its file only because its
	// shared source (etcd) had nothing to give at startup: Version reports
	// 0 then, so the source's first version replaces it whatever its number.
	bootstrap atomic.Bool

	// drainReq is closed once when POST /drain asks the node to drain.
	drainReq  chan struct{}
	drainOnce sync.Once
}

// Start builds and starts a node. cfg must be validated (config.Load does).
func Start(cfg *config.Config, opts Options) (*Node, error) {
	eng := cfg.Engines
	if opts.Server != "" {
		eng.Server = opts.Server
	}
	if opts.Router != "" {
		eng.Router = opts.Router
	}
	if opts.Limiter != "" {
		eng.Limiter = opts.Limiter
	}
	routerFactory, err := engines.NewRouterFactory(eng.Router)
	if err != nil {
		return nil, err
	}
	metrics := observe.NewMetrics()
	metrics.SetEngines(eng.Server, eng.Router, eng.Limiter)
	lo, err := limiterOptions(cfg, eng.Limiter, opts, metrics)
	if err != nil {
		return nil, err
	}
	limiter, err := engines.NewLimiter(eng.Limiter, lo)
	if err != nil {
		return nil, fmt.Errorf("%s limiter: %w", eng.Limiter, err)
	}
	n := &Node{Engines: eng, limiter: limiter, served: make(chan error, 2), drainReq: make(chan struct{}), started: cfg}

	instance := opts.Instance
	if instance == "" {
		instance = cfg.Gateway.Instance
	}
	if instance == "" {
		instance, _ = os.Hostname()
	}
	w := opts.AccessLog
	if w == nil {
		w, n.logCloser, err = openLog(cfg.AccessLog.Output)
		if err != nil {
			n.closeLimiter()
			return nil, err
		}
	}
	if w != nil {
		n.log = observe.NewAccessLog(w, observe.AccessLogOptions{
			Buffer:        cfg.AccessLog.Buffer,
			SuccessSample: cfg.AccessLog.SuccessSample,
			Instance:      instance,
			Version:       Version,
			Dropped:       metrics.AccessLogDropped(),
			Written:       metrics.AccessLogWritten(),
		})
	}
	g, err := pipeline.New(cfg, pipeline.Options{
		RouterFactory: routerFactory,
		Limiter:       limiter,
		Metrics:       metrics,
		AccessLog:     n.log,
		Instance:      instance,
		Version:       Version,
	})
	if err != nil {
		n.cleanup()
		return nil, err
	}
	n.Gateway = g
	srv, err := engines.NewServer(eng.Server, g)
	if err != nil {
		n.cleanup()
		return nil, err
	}
	n.server = srv

	listen := cfg.Listen.Traffic
	if opts.Listen != "" {
		listen = opts.Listen
	}
	adminAddr := cfg.Listen.Admin
	if opts.Admin != "" {
		adminAddr = opts.Admin
	}
	if n.traffic, err = net.Listen("tcp", listen); err != nil {
		n.cleanup()
		return nil, fmt.Errorf("traffic listener: %w", err)
	}
	if n.adminLn, err = net.Listen("tcp", adminAddr); err != nil {
		n.traffic.Close()
		n.cleanup()
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	n.admin = &http.Server{Handler: n.adminHandler(opts.Pprof), ReadHeaderTimeout: 10 * time.Second}
	go func() { n.served <- srv.Serve(n.traffic) }()
	go func() {
		err := n.admin.Serve(n.adminLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		n.served <- err
	}()
	return n, nil
}

// LimiterSetting sets Key of limiter engine Engine's config section
// (limiter.<Engine>.<Key>) to Value (a string, a number, a list ...).
type LimiterSetting struct {
	Engine, Key string
	Value       any
}

// limiterOptions gives limiter engine name its config section, with the
// overrides of opts.LimiterSet applied; the engine decodes it.
func limiterOptions(cfg *config.Config, name string, opts Options, metrics *observe.Metrics) (engines.LimiterOptions, error) {
	sections := cfg.Limiter
	for _, s := range opts.LimiterSet {
		var err error
		if sections, err = sections.With(s.Engine, s.Key, s.Value); err != nil {
			return engines.LimiterOptions{}, err
		}
	}
	return engines.LimiterOptions{
		Registerer: metrics.Registry(),
		Instance:   cfg.Gateway.Instance,
		Settings:   sections.Section(name),
	}, nil
}

func openLog(output string) (io.Writer, io.Closer, error) {
	switch output {
	case "", "stdout":
		return os.Stdout, nil, nil
	case "stderr":
		return os.Stderr, nil, nil
	case "off":
		return nil, nil, nil
	}
	f, err := os.OpenFile(output, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	return f, f, nil
}

// HandleAdmin adds a handler to the admin listener (the control plane's
// API); safe while the node serves.
func (n *Node) HandleAdmin(pattern string, h http.Handler) { n.adminMux.Handle(pattern, h) }

// Version is the served snapshot's version (control.Target).
func (n *Node) Version() int64 {
	if n.bootstrap.Load() {
		return 0
	}
	if s := n.Gateway.Snapshot(); s != nil {
		return s.Version
	}
	return 0
}

// Apply serves cfg (validated) as the next snapshot, atomically
// (control.Target); on error the current one keeps serving.
// Listener addresses, engines, limiter settings and connection limits are
// fixed at start: a config that changes them is applied for everything
// else, and the node says which settings wait for a restart.
func (n *Node) Apply(cfg *config.Config) error {
	if err := n.Gateway.Apply(cfg, cfg.Version); err != nil {
		return err
	}
	n.bootstrap.Store(false)
	if n.warnf != nil {
		var fixed []string
		for _, f := range []struct {
			name     string
			old, new any
		}{
			{"listen", n.started.Listen, cfg.Listen},
			{"limits", n.started.Limits, cfg.Limits},
			{"engines", n.started.Engines, cfg.Engines},
			{"access_log", n.started.AccessLog, cfg.AccessLog},
		} {
			if !reflect.DeepEqual(f.old, f.new) {
				fixed = append(fixed, f.name)
			}
		}
		if !n.started.Limiter.Equal(cfg.Limiter) { // positions and comments do not count
			fixed = append(fixed, "limiter")
		}
		if len(fixed) > 0 {
			n.warnf("config version %d changes %s: applied at the next restart; the rest is served now", cfg.Version, strings.Join(fixed, ", "))
		}
	}
	return nil
}

func (n *Node) adminHandler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	n.adminMux = mux
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", n.Gateway.Metrics().Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"alive"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		s := n.Gateway.Snapshot()
		healthy, total := n.Gateway.HealthyBackends()
		switch {
		case s == nil:
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"no config"}`)
			return
		case n.Gateway.Draining():
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"draining"}`)
			return
		case total > 0 && healthy == 0:
			// Ready means able to serve: with backends configured, at least
			// one of them must have an instance in rotation.
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"status":"no healthy backend","config_version":%d,"backends":%d}`, n.Version(), total)
			return
		}
		fmt.Fprintf(w, `{"status":"ready","config_version":%d,"healthy_backends":%d,"backends":%d}`, n.Version(), healthy, total)
	})
	return mux
}

// RequestDrain asks whoever runs the node (gatelab serve) to drain it, as
// SIGTERM does. It returns at once; DrainRequested is closed.
func (n *Node) RequestDrain() { n.drainOnce.Do(func() { close(n.drainReq) }) }

// DrainRequested is closed when RequestDrain was called (POST /drain).
func (n *Node) DrainRequested() <-chan struct{} { return n.drainReq }

// Drain takes the node out of service gracefully: /readyz answers 503 and
// every response asks its client to close the connection at once; after
// delay (time for load balancers polling /readyz to stop sending) the
// listeners stop accepting and in-flight requests finish until ctx ends;
// then the node shuts down (Shutdown).
func (n *Node) Drain(ctx context.Context, delay time.Duration) error {
	n.Gateway.SetDraining()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	return n.Shutdown(ctx)
}

// Addr is the traffic listener's address.
func (n *Node) Addr() string { return n.traffic.Addr().String() }

// AdminAddr is the admin listener's address.
func (n *Node) AdminAddr() string { return n.adminLn.Addr().String() }

// Shutdown drains the traffic listener (in-flight requests finish until ctx
// ends), stops the admin listener, flushes the access log and releases the
// limiter.
func (n *Node) Shutdown(ctx context.Context) error {
	err := n.server.Shutdown(ctx)
	if aerr := n.admin.Shutdown(ctx); err == nil {
		err = aerr
	}
	n.cleanup()
	return err
}

func (n *Node) closeLimiter() {
	if c, ok := n.limiter.(io.Closer); ok {
		c.Close()
	}
}

func (n *Node) cleanup() {
	if n.Gateway != nil {
		n.Gateway.Close()
	}
	if n.log != nil {
		n.log.Close()
	}
	if n.logCloser != nil {
		n.logCloser.Close()
	}
	n.closeLimiter()
}
