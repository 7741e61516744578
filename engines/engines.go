package engines

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	// (The redis engine uses the Redis server's TIME instead.)
	Now func() time.Time
	// Nodes is the number of gateway nodes sharing the limits, for the
	// "divided" mode of node-local engines (each node enforces limit/Nodes).
	// 0 or 1 means not divided.
	Nodes int
	// Registerer receives the engine's own metrics (Redis errors, CRDT peers
	// and sync lag, ...). nil: the engine registers none.
	Registerer prometheus.Registerer
	// Redis configures the redis engine.
	Redis RedisOptions
	// CRDT configures the crdt engine.
	CRDT CRDTOptions
}

// RedisOptions configure the redis limiter engine.
type RedisOptions struct {
	// URL is any go-redis URL: redis://[user:pass@]host:port/db,
	// rediss:// for TLS, or a cluster / sentinel form with several addrs
	// (redis://host1:6379?addr=host2:6379&addr=host3:6379). Required.
	URL string
	// PoolSize bounds connections (and so concurrent decisions) per node;
	// a decision that cannot get a connection in time is "no decision".
	// 0: engine default.
	PoolSize int
	// OverLimitCache keeps keys known to be over their limit in memory until
	// their retry time, answering 429 without a round trip.
	OverLimitCache bool
}

// CRDTOptions configure the crdt limiter engine.
type CRDTOptions struct {
	Node  string   // this node's unique name
	Bind  string   // memberlist bind address host:port
	Peers []string // seed peers host:port to join
	// SyncInterval is how often deltas are gossiped; 0: 25 ms.
	SyncInterval time.Duration
	// ExpectedNodes is the cluster size N used by the partition policy;
	// 0: the largest membership seen.
	ExpectedNodes int
	// PartitionMode says what a node does when it sees fewer than N members:
	// "scale" (default: enforce limit x m/N), "open" or "closed" (no
	// decision: the route's fail mode answers).
	PartitionMode string
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
