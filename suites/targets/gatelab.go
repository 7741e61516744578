package targets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/suites"
)

// Fixture is the running half of the suites' fixture: one echo upstream
// ("gatelab upstream -name NAME") per echo backend, and a closed port for
// the dead one. Every target of a run fronts the same Fixture.
type Fixture struct {
	// Backends maps a backend name to host:port.
	Backends map[string]string
	procs    []*fleet.Proc
}

var upstreamLine = regexp.MustCompile(`^upstream (\S+) listening on http://(\S+)$`)

// StartFixture starts the echo upstreams with bin (the gatelab binary). At
// fixed addresses (name -> host:port, from a capabilities file) when addrs
// is not nil, else on free loopback ports.
func StartFixture(ctx context.Context, bin string, addrs map[string]string) (*Fixture, error) {
	f := &Fixture{Backends: map[string]string{}}
	for _, name := range suites.EchoBackends {
		listen := "127.0.0.1:0"
		if a, ok := addrs[name]; ok {
			listen = a
		}
		p, err := fleet.Start(ctx, fleet.Spec{Name: "echo-" + name, Path: bin,
			Args: []string{"upstream", "-listen", listen, "-name", name}, Ready: upstreamLine, ReadyTimeout: 10 * time.Second})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("starting the %s echo upstream: %w", name, err)
		}
		f.procs = append(f.procs, p)
		f.Backends[name] = p.Ready()[2]
	}
	for _, name := range suites.RefusedBackends {
		addr := addrs[name]
		if addr == "" {
			// A port that was free a moment ago: nothing listens there.
			port, err := fleet.FreePort()
			if err != nil {
				f.Close()
				return nil, err
			}
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		}
		f.Backends[name] = addr
	}
	return f, nil
}

// Close stops the upstreams.
func (f *Fixture) Close() {
	for _, p := range f.procs {
		p.Stop(5 * time.Second)
	}
}

// GatelabOptions start a reference gateway.
type GatelabOptions struct {
	Bin  string // the gatelab binary
	Root string // repository root (fixtures/)
	// Engines; "" takes nethttp, trie, local.
	Server, Router, Limiter string
	// Redis is the redis limiter's host:port (Limiter "redis").
	Redis   string
	Fixture *Fixture
	// Dir holds the rendered config (a temporary directory when empty).
	Dir string
	// MaxInFlight > 0 makes the gateway shed load by priority above
	// fractions of it (suites.ShedTarget).
	MaxInFlight int
}

// Gatelab is the reference gateway as a Target: a "gatelab serve" process
// configured from the fixture, one engine combination.
type Gatelab struct {
	o       GatelabOptions
	fx      *config.Config
	cfgPath string
	url     string
	admin   string
	version string
	proc    *fleet.Proc
	tmp     string
}

var servingLine = regexp.MustCompile(`^gatelab serving on http://(\S+) \(admin http://(\S+)\)`)

// AdminToken is the fixture's TEST-ONLY admin token (fixtures/gateway.yaml).
const AdminToken = "gatelab-dev-admin-token"

// StartGatelab renders the config and starts the gateway.
func StartGatelab(ctx context.Context, o GatelabOptions) (*Gatelab, error) {
	if o.Server == "" {
		o.Server = "nethttp"
	}
	if o.Router == "" {
		o.Router = "trie"
	}
	if o.Limiter == "" {
		o.Limiter = "local"
	}
	fx, err := config.Load(filepath.Join(o.Root, "fixtures", "gateway.yaml"))
	if err != nil {
		return nil, fmt.Errorf("fixtures/gateway.yaml: %w", err)
	}
	g := &Gatelab{o: o, fx: fx}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gatelab-conform-"); err != nil {
			return nil, err
		}
		g.tmp = dir
	}
	g.cfgPath = filepath.Join(dir, g.Name()+".yaml")
	if err := os.WriteFile(g.cfgPath, []byte(g.render(nil, 0)), 0o644); err != nil {
		g.Close()
		return nil, err
	}
	args := []string{"serve", "-config", g.cfgPath, "-server", o.Server, "-router", o.Router, "-limiter", o.Limiter,
		"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-watch=false"}
	switch o.Limiter {
	case "redis":
		if o.Redis == "" {
			g.Close()
			return nil, errors.New("the redis limiter needs a Redis address")
		}
		args = append(args, "-redis", "redis://"+o.Redis+"/0")
	case "crdt":
		port, err := fleet.FreePort()
		if err != nil {
			g.Close()
			return nil, err
		}
		args = append(args, "-node", "conform-1", "-bind", "127.0.0.1:"+strconv.Itoa(port))
	}
	g.proc, err = fleet.Start(ctx, fleet.Spec{Name: g.Name(), Path: o.Bin, Args: args, Ready: servingLine, ReadyTimeout: 20 * time.Second})
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("starting %s: %w", g.Name(), err)
	}
	g.url, g.admin = "http://"+g.proc.Ready()[1], "http://"+g.proc.Ready()[2]
	g.version = binaryVersion(ctx, o.Bin)
	return g, nil
}

// Close stops the gateway and removes its temporary directory.
func (g *Gatelab) Close() {
	if g.proc != nil {
		g.proc.Stop(5 * time.Second)
	}
	if g.tmp != "" {
		os.RemoveAll(g.tmp)
	}
}

// Name is gatelab-<server>-<router>-<limiter>.
func (g *Gatelab) Name() string {
	return "gatelab-" + g.o.Server + "-" + g.o.Router + "-" + g.o.Limiter
}

// Implementation is gatelab with its engines.
func (g *Gatelab) Implementation() suites.Implementation {
	return suites.Implementation{Name: "gatelab", Version: g.version,
		Mode: map[string]string{"server": g.o.Server, "router": g.o.Router, "limiter": g.o.Limiter}}
}

// URL is the traffic listener.
func (g *Gatelab) URL() string { return g.url }

// AdminURL is the admin listener.
func (g *Gatelab) AdminURL() string { return g.admin }

// Features: the reference gateway has them all, from its config.
func (g *Gatelab) Features() []suites.Feature { return suites.AllFeatures() }

// WithMaxInFlight starts a second gateway from the same fixture and
// engines that sheds by priority above fractions of max requests in flight
// (suites.ShedTarget, for the shedding case). stop ends it.
func (g *Gatelab) WithMaxInFlight(ctx context.Context, max int) (suites.Target, func(), error) {
	o := g.o
	o.MaxInFlight, o.Dir = max, ""
	d, err := StartGatelab(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}

// LimiterStoreDown starts a second gateway from the same fixture and
// engines on the redis limiter pointed at a port nobody listens on: a
// limiter store that is down (suites.LimiterStoreDowner, for the fail-mode
// cases). stop ends it.
func (g *Gatelab) LimiterStoreDown(ctx context.Context) (suites.Target, func(), error) {
	port, err := fleet.FreePort()
	if err != nil {
		return nil, nil, err
	}
	o := g.o
	o.Limiter, o.Redis, o.Dir = "redis", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), ""
	d, err := StartGatelab(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	return d, d.Close, nil
}

// Reconfigure replaces the config through the admin API (compare-and-swap
// on the served version) with the fixture's routes plus extra, and returns
// once the node reports the new version as served.
func (g *Gatelab) Reconfigure(ctx context.Context, extra []suites.Route) error {
	v, err := g.servedVersion(ctx)
	if err != nil {
		return err
	}
	if err := deps.PutConfig(ctx, http.DefaultClient, g.admin, AdminToken, v, g.render(extra, v+1)); err != nil {
		return err
	}
	for {
		got, err := g.servedVersion(ctx)
		if err != nil {
			return err
		}
		if got >= v+1 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("version %d not served: %w", v+1, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// servedVersion is GET /config's version.
func (g *Gatelab) servedVersion(ctx context.Context) (int64, error) {
	return deps.ServedConfigVersion(ctx, http.DefaultClient, g.admin, AdminToken)
}

// render writes the gatelab config of the fixture for this gateway.
func (g *Gatelab) render(extra []suites.Route, version int64) string {
	return renderConfig("conform-"+g.Name(), g.fx, g.o.Fixture.Backends, extra, version, g.o.MaxInFlight)
}

// RenderConfig is the gatelab config (YAML) the reference gateway is
// configured from, for a gateway started some other way (the node's own
// tests start one in process): fixtures/gateway.yaml under root gives the
// auth section, tiers and admin tokens, fx the backends' addresses; extra
// routes follow the fixture's, and version > 0 is declared.
func RenderConfig(root string, fx *Fixture, extra []suites.Route, version int64) (string, error) {
	gw, err := config.Load(filepath.Join(root, "fixtures", "gateway.yaml"))
	if err != nil {
		return "", fmt.Errorf("fixtures/gateway.yaml: %w", err)
	}
	return renderConfig("conform-gatelab", gw, fx.Backends, extra, version, 0), nil
}

// renderConfig writes the gatelab config of the fixture: gw's
// (fixtures/gateway.yaml's) auth section and tiers plus the suites' tiers,
// one backend per fixture backend at its address in backends, the
// fixture's routes and extra ones.
// maxInFlight > 0 sets the node's load-shedding limit (P3 shed above 60 %
// of it, P2 75 %, P1 90 %).
func renderConfig(instance string, gw *config.Config, backends map[string]string, extra []suites.Route, version int64, maxInFlight int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# gatelab config rendered by the conformance suites from suites.Routes.")
	if version > 0 {
		w("version: %d", version)
	}
	w("listen: {traffic: 127.0.0.1:0, admin: 127.0.0.1:0}")
	w("gateway: {instance: %q}", instance)
	w("access_log: {output: \"off\"}")
	// A short header timeout: the slow-header cases wait for it.
	w("limits: {read_header_timeout: 2s}")
	if maxInFlight > 0 {
		w("shedding: {max_in_flight: %d, p1: 0.9, p2: 0.75, p3: 0.6}", maxInFlight)
	}
	j := gw.Auth.JWT
	w("auth:")
	w("  jwt:")
	w("    jwks_file: %q", gw.Resolve(j.JWKSFile))
	w("    issuers: %s", quoteList(j.Issuers))
	w("    audiences: %s", quoteList(j.Audiences))
	w("    algorithms: %s", quoteList(j.Algorithms))
	if j.ClockSkew != nil {
		w("    clock_skew: %s", *j.ClockSkew)
	}
	w("  api_keys_file: %q", gw.Resolve(gw.Auth.APIKeysFile))
	w("rate_limits:")
	w("  tiers:")
	for _, t := range suites.Tiers {
		w("    - {name: %q, limit: %d, window: 1m, key: %s, algorithm: sliding_window}", t.Name, t.Limit, t.Key)
	}
	for _, t := range gw.RateLimit.Tiers {
		w("    - {name: %q, limit: %d, window: %s, key: %s, algorithm: %s}", t.Name, t.Limit, t.Window, t.Key, t.Algorithm)
	}
	w("backends:")
	for _, name := range suites.EchoBackends {
		w("  - {name: %q, instances: [{url: %q}]}", name, "http://"+backends[name])
	}
	// The refused backends never leave rotation: dead answers 502 for the
	// gateway's whole life; breaker's breaker opens after 3 failures.
	never := "health_check: {disabled: true, passive_failures: 1000000}"
	w("  - {name: %q, instances: [{url: %q}], %s, circuit_breaker: {disabled: true}}",
		suites.BackendDead, "http://"+backends[suites.BackendDead], never)
	w("  - {name: %q, instances: [{url: %q}], %s, circuit_breaker: {min_requests: 3, failure_ratio: 0.5, window: 10s, open_for: 60s}}",
		suites.BackendBreaker, "http://"+backends[suites.BackendBreaker], never)
	w("routes:")
	for _, r := range append(append([]suites.Route{}, suites.Routes...), extra...) {
		w("  - %s", gatelabRoute(r))
	}
	w("admin:")
	w("  tokens:")
	for _, t := range gw.Admin.Tokens {
		w("    - {id: %q, sha256: %q}", t.ID, t.SHA256)
	}
	w("  audit_log: \"off\"")
	return b.String()
}

func gatelabRoute(r suites.Route) string {
	s := fmt.Sprintf("{id: %q, pattern: %q, backend: %q, auth: %s", r.ID, r.Pattern, r.Backend, r.Auth)
	if len(r.Methods) > 0 {
		s += ", methods: " + quoteList(r.Methods)
	}
	if r.Strip != "" {
		s += fmt.Sprintf(", strip_prefix: %q", r.Strip)
	}
	if len(r.Scopes) > 0 {
		s += ", required_scopes: " + quoteList(r.Scopes)
	}
	if r.Tier != "" {
		// A generous decision deadline: conformance checks what the limiter
		// decides, not how fast (the 5 ms default fails open on a loaded
		// 2-core host talking to Redis through Docker's port proxy).
		s += fmt.Sprintf(", rate_limit_tier: %q, rate_limit_deadline_ms: 1000", r.Tier)
	}
	if r.FailClosed {
		s += ", rate_limit_fail_mode: closed"
	}
	if c := r.CORS; c != nil {
		s += fmt.Sprintf(", cors: {allowed_origins: %s, allowed_headers: %s, max_age_seconds: %d",
			quoteList(c.AllowedOrigins), quoteList(c.AllowedHeaders), c.MaxAgeSeconds)
		if len(c.AllowedMethods) > 0 {
			s += ", allowed_methods: " + quoteList(c.AllowedMethods)
		}
		s += "}"
	}
	if r.TimeoutMS > 0 {
		s += fmt.Sprintf(", timeout_ms: %d", r.TimeoutMS)
	}
	if r.MaxBodyBytes > 0 {
		s += fmt.Sprintf(", max_body_bytes: %d", r.MaxBodyBytes)
	}
	if r.Priority != "" {
		s += ", priority: " + r.Priority
	}
	return s + "}"
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// versions caches binaryVersion per binary: every target of a run is the
// same binary, asked once.
var versions sync.Map // bin -> string

// binaryVersion is the first line of "gatelab version", minus the name.
func binaryVersion(ctx context.Context, bin string) string {
	if v, ok := versions.Load(bin); ok {
		return v.(string)
	}
	p, err := fleet.Start(ctx, fleet.Spec{Name: "version", Path: bin, Args: []string{"version"}})
	if err != nil {
		return "unknown"
	}
	<-p.Done()
	line, _, _ := strings.Cut(p.Stdout(), "\n")
	v := strings.TrimSpace(strings.TrimPrefix(line, "gatelab "))
	versions.Store(bin, v)
	return v
}

// RedisOptions is how conformance runs start the redis limiter's store: a
// local redis-server process unless GATELAB_REDIS_MODE says otherwise.
// Conformance checks what the limiter decides; Docker's port proxy on a
// loaded 2-core host adds stalls that make decisions miss their deadline
// and fail open, which is the lab's concern, not the suite's.
func RedisOptions() deps.RedisOptions {
	if os.Getenv(deps.EnvRedisMode) != "" {
		return deps.RedisOptions{}
	}
	return deps.RedisOptions{Mode: deps.ModeProcess}
}
