package engines

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Kind is an engine family.
type Kind string

// The engine families.
const (
	KindServer  Kind = "server"
	KindRouter  Kind = "router"
	KindLimiter Kind = "limiter"
)

// Router and Limiter are defined where they are used (gateway/pipeline); they
// are re-exported here so engine authors find every contract in one place.
type (
	Router        = pipeline.Router
	RouterFactory = pipeline.RouterFactory
	Limiter       = pipeline.Limiter
)

// LimiterOptions are what a limiter factory may use. Engines ignore fields that
// do not concern them.
type LimiterOptions struct {
	// Now is the clock; nil means time.Now. Tests pass a fake clock.
	Now func() time.Time
	// Nodes is the number of gateway nodes sharing the limits, for the
	// "divided" mode of node-local engines (each node enforces limit/Nodes).
	// 0 or 1 means not divided.
	Nodes int
}

// LimiterFactory builds a limiter. A limiter that holds resources also
// implements io.Closer.
type LimiterFactory func(opts LimiterOptions) (Limiter, error)

// Server runs the shared pipeline on one listener.
type Server interface {
	Serve(ln net.Listener) error
	// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
	// then closes remaining connections.
	Shutdown(ctx context.Context) error
}

// ServerFactory builds a server engine around a pipeline.
type ServerFactory func(g *pipeline.Gateway) (Server, error)

var (
	mu       sync.RWMutex
	registry = map[Kind]map[string]any{}
)

func register(kind Kind, name string, factory any) {
	mu.Lock()
	defer mu.Unlock()
	m := registry[kind]
	if m == nil {
		m = map[string]any{}
		registry[kind] = m
	}
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("engines: %s engine %q registered twice", kind, name))
	}
	m[name] = factory
}

// RegisterRouter registers a router engine; call it from the engine's init().
func RegisterRouter(name string, f RouterFactory) { register(KindRouter, name, f) }

// RegisterLimiter registers a limiter engine; call it from the engine's init().
func RegisterLimiter(name string, f LimiterFactory) { register(KindLimiter, name, f) }

// RegisterServer registers a server engine; call it from the engine's init().
func RegisterServer(name string, f ServerFactory) { register(KindServer, name, f) }

func lookup(kind Kind, name string) (any, error) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := registry[kind][name]
	if !ok {
		return nil, fmt.Errorf("unknown %s engine %q (known: %s)", kind, name, strings.Join(namesLocked(kind), ", "))
	}
	return f, nil
}

// NewRouterFactory returns the factory of router engine name.
func NewRouterFactory(name string) (RouterFactory, error) {
	f, err := lookup(KindRouter, name)
	if err != nil {
		return nil, err
	}
	return f.(RouterFactory), nil
}

// NewLimiter builds limiter engine name.
func NewLimiter(name string, opts LimiterOptions) (Limiter, error) {
	f, err := lookup(KindLimiter, name)
	if err != nil {
		return nil, err
	}
	return f.(LimiterFactory)(opts)
}

// NewServer builds server engine name around g.
func NewServer(name string, g *pipeline.Gateway) (Server, error) {
	f, err := lookup(KindServer, name)
	if err != nil {
		return nil, err
	}
	return f.(ServerFactory)(g)
}

// Names lists the registered engines of a kind, sorted.
func Names(kind Kind) []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked(kind)
}

func namesLocked(kind Kind) []string {
	out := make([]string, 0, len(registry[kind]))
	for n := range registry[kind] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
