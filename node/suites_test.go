package node_test

// The conformance suites (package suites) against nodes started in this
// process: every server x router engine combination with the local
// limiter, configured from the suites' fixture (suites.Routes and
// suites.Tiers, rendered by targets.RenderConfig as for the `gatelab serve`
// target) in front of the fixture's echo upstreams. The HTTP behaviour
// these cases check is not repeated in gateway_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/node"
	"github.com/gatelab/gatelab/suites"
	"github.com/gatelab/gatelab/suites/targets"
)

// TestSuites runs every case (core and extended) against every engine
// combination; every case must pass: the target declares every feature,
// so none may be skipped.
func TestSuites(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	fx, err := targets.StartFixture(ctx, testproc.Binary(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups, not defers: the combinations below run in parallel after
	// this function has returned.
	t.Cleanup(fx.Close)
	// The refused backends on ports reserved for the test's lifetime (a
	// port merely found free could be handed to one of the nodes below).
	for _, name := range suites.RefusedBackends {
		fx.Backends[name] = closedAddr(t)
	}
	cases := suites.All()
	for _, c := range combos() {
		t.Run(c[0]+"-"+c[1], func(t *testing.T) {
			t.Parallel()
			s, err := startSuiteNode(root, fx, t.TempDir(), suiteNodeOptions{server: c[0], router: c[1], limiter: "local"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Close)
			rep := suites.Run(ctx, s, cases, suites.Options{Root: root, Version: node.Version})
			// One subtest per case, so a failure names its case.
			for _, cr := range rep.Cases {
				t.Run(cr.ID, func(t *testing.T) {
					switch cr.Outcome {
					case suites.Passed:
					case suites.Skipped:
						t.Errorf("%s case skipped (the in-process node declares every feature): %s", cr.Level, cr.Reason)
					default:
						t.Errorf("%s case %s: %s", cr.Level, cr.Outcome, cr.Reason)
						for _, l := range cr.Log {
							t.Log(l)
						}
					}
				})
			}
		})
	}
}

// suiteNode is a node started in process as a suites.Target (and
// suites.LimiterStoreDowner, suites.ShedTarget), its config changed through
// its admin API.
type suiteNode struct {
	o     suiteNodeOptions
	name  string
	root  string
	dir   string
	fx    *targets.Fixture
	n     *node.Node
	ctl   *node.Control
	url   string
	admin string
}

// suiteNodeOptions are a suite node's engines and what it adds to the
// fixture's config.
type suiteNodeOptions struct {
	server, router, limiter string
	// set overrides limiter settings (the redis URL of a store that is down).
	set []node.LimiterSetting
	// yaml is appended to every config the node is given: top-level keys
	// the rendered fixture leaves at their defaults (shedding).
	yaml string
	// tag ends the node's name ("shed"), telling extra instances apart.
	tag string
}

// render is the fixture's config plus extra routes, declaring version
// when > 0, with the node's own additions.
func (s *suiteNode) render(extra []suites.Route, version int64) (string, error) {
	raw, err := targets.RenderConfig(s.root, s.fx, extra, version)
	return raw + s.o.yaml, err
}

// startSuiteNode renders the fixture's config into dir and starts a node on
// it, its control plane serving the admin API. It reports errors rather
// than failing a test: LimiterStoreDown and WithMaxInFlight call it from a
// case's goroutine.
func startSuiteNode(root string, fx *targets.Fixture, dir string, o suiteNodeOptions) (*suiteNode, error) {
	name := fmt.Sprintf("suites-%s-%s-%s", o.server, o.router, o.limiter)
	if o.tag != "" {
		name += "-" + o.tag
	}
	s := &suiteNode{o: o, name: name, root: root, dir: dir, fx: fx}
	raw, err := s.render(nil, 0)
	if err != nil {
		return nil, err
	}
	// A directory of its own: the fail-mode cases start their down nodes
	// at the same time, with the same name.
	own, err := os.MkdirTemp(dir, name+"-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(own, name+".yaml")
	if err := os.WriteFile(path, []byte(raw), 0o644); err != nil {
		return nil, err
	}
	// The rendered config and its problems are the case's business; the
	// node's own log lines are not needed.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	src := node.Sources{File: path}
	st, err := node.LoadStartup(src, logger)
	if err != nil {
		return nil, fmt.Errorf("the rendered config: %w", err)
	}
	n, err := node.Start(st.Config, node.Options{Server: o.server, Router: o.router, Limiter: o.limiter, LimiterSet: o.set,
		Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Instance: name})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s.n, s.url, s.admin = n, "http://"+n.Addr(), "http://"+n.AdminAddr()
	if s.ctl, err = n.StartControl(st, src, logger); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s control plane: %w", name, err)
	}
	return s, nil
}

// Close stops the control plane and the node.
func (s *suiteNode) Close() {
	if s.ctl != nil {
		s.ctl.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.n.Shutdown(ctx)
}

func (s *suiteNode) Name() string { return s.name }

func (s *suiteNode) Implementation() suites.Implementation {
	return suites.Implementation{Name: "gatelab", Version: node.Version,
		Mode: map[string]string{"server": s.o.server, "router": s.o.router, "limiter": s.o.limiter}}
}

func (s *suiteNode) URL() string { return s.url }

// Features: all of them, as the `gatelab serve` target declares.
func (s *suiteNode) Features() []suites.Feature { return suites.AllFeatures() }

// Reconfigure PUTs the fixture's config plus extra to the admin API
// (compare-and-swap on the served version) and returns once the node
// serves the new version.
func (s *suiteNode) Reconfigure(ctx context.Context, extra []suites.Route) error {
	v, _ := s.ctl.Manager.Current()
	raw, err := s.render(extra, v+1)
	if err != nil {
		return err
	}
	if err := deps.PutConfig(ctx, http.DefaultClient, s.admin, targets.AdminToken, v, raw); err != nil {
		return err
	}
	// PUT applies before it answers on a file-sourced node; the wait
	// states the contract rather than trusting that.
	for s.n.Version() < v+1 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("version %d not served (serving %d): %w", v+1, s.n.Version(), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// LimiterStoreDown starts another node with the same engines and fixture
// on the redis limiter pointed at a reserved port nobody listens on.
func (s *suiteNode) LimiterStoreDown(ctx context.Context) (suites.Target, func(), error) {
	addr, release, err := reserveClosedPort()
	if err != nil {
		return nil, nil, err
	}
	down, err := startSuiteNode(s.root, s.fx, s.dir, suiteNodeOptions{server: s.o.server, router: s.o.router, limiter: "redis",
		set: []node.LimiterSetting{{Engine: "redis", Key: "url", Value: "redis://" + addr + "/0"}}})
	if err != nil {
		release()
		return nil, nil, err
	}
	return down, func() { down.Close(); release() }, nil
}

// WithMaxInFlight starts another node with the same engines and fixture
// that sheds by route priority above fractions of max requests in flight:
// P3 above 60 %, P2 above 75 %, P1 above 90 % (suites.ShedTarget).
func (s *suiteNode) WithMaxInFlight(ctx context.Context, max int) (suites.Target, func(), error) {
	o := s.o
	o.tag = "shed"
	o.yaml = fmt.Sprintf("shedding: {max_in_flight: %d, p1: 0.9, p2: 0.75, p3: 0.6}\n", max)
	shed, err := startSuiteNode(s.root, s.fx, s.dir, o)
	if err != nil {
		return nil, nil, err
	}
	return shed, shed.Close, nil
}

// reserveClosedPort binds a loopback socket without listening: connections
// to its port are refused, and the port stays taken until release.
func reserveClosedPort() (addr string, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return "", nil, err
	}
	release = func() { syscall.Close(fd) }
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		release()
		return "", nil, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		release()
		return "", nil, err
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		release()
		return "", nil, errors.New("not an IPv4 socket address")
	}
	return fmt.Sprintf("127.0.0.1:%d", in4.Port), release, nil
}
