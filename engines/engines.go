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
	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/gateway/config"
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

// LimiterOptions are what every limiter engine is given. An engine's own
// settings are its config section, which the registry decodes into the
// engine's settings type (see RegisterLimiter).
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
	// Instance is the gateway's instance name (gateway.instance), for
	// engines that name their node (crdt's default node name).
	Instance string
	// Settings is the engine's config section, limiter.<name>, as written
	// (nil: none). NewLimiter decodes it into the engine's settings type;
	// the registry never looks inside.
	Settings *yaml.Node
}

// NoSettings is the settings type of an engine that has none: its config
// section, if written, must be empty.
type NoSettings struct{}

// limiterEngine is a registered limiter engine, its settings type erased.
type limiterEngine struct {
	// decode decodes a section into the engine's settings (and checks them
	// when check is set); path is the section's path, "limiter.<name>".
	decode func(section *yaml.Node, path string, check bool) (any, config.Problems)
	build  func(opts LimiterOptions, settings any) (Limiter, error)
}

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

// RegisterLimiter registers limiter engine name; call it from the engine's
// init(). S is the engine's settings type: a struct whose yaml tags are the
// keys of its config section, limiter.<name> (NoSettings for none), zero
// values meaning "default"; if *S implements config.SectionValidator, it
// checks the values. newLimiter builds the engine from the common options
// and settings that decoded and checked without a problem.
//
// The section is decoded strictly (config.DecodeSection: an unknown key or a
// value of the wrong type is a problem with its line) whenever a config is
// validated, and checked for the engine in use; NewLimiter decodes and checks
// it again.
func RegisterLimiter[S any](name string, newLimiter func(opts LimiterOptions, settings S) (Limiter, error)) {
	register(KindLimiter, name, limiterEngine{
		decode: func(section *yaml.Node, path string, check bool) (any, config.Problems) {
			var s S
			probs := config.DecodeSection(section, path, &s, check)
			return s, probs
		},
		build: func(opts LimiterOptions, settings any) (Limiter, error) {
			return newLimiter(opts, settings.(S))
		},
	})
}

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

// NewLimiter builds limiter engine name from opts, decoding and checking
// opts.Settings into the engine's settings type first: a problem there is a
// config.Problems error naming each setting ("limiter.redis.url").
func NewLimiter(name string, opts LimiterOptions) (Limiter, error) {
	f, err := lookup(KindLimiter, name)
	if err != nil {
		return nil, err
	}
	e := f.(limiterEngine)
	settings, probs := e.decode(opts.Settings, "limiter."+name, true)
	if len(probs) > 0 {
		return nil, probs
	}
	return e.build(opts, settings)
}

func init() { config.SetLimiterCheck(checkLimiterSections) }

// checkLimiterSections is config.Validate's check of the limiter: section
// (config.SetLimiterCheck): every section is decoded by its engine, and the
// section of the engine in use (present or not) is checked too. A section
// named after no engine is a problem; an unknown engine in use is not
// (node.Start reports it).
func checkLimiterSections(inUse string, sections config.Limiter) config.Problems {
	names := make([]string, 0, len(sections)+1)
	for name := range sections {
		names = append(names, name)
	}
	if _, ok := sections[inUse]; !ok {
		names = append(names, inUse)
	}
	sort.Strings(names)
	var probs config.Problems
	for _, name := range names {
		path := "limiter." + name
		f, err := lookup(KindLimiter, name)
		if err != nil {
			if _, written := sections[name]; written {
				probs = append(probs, config.Problem{Path: path,
					Msg: fmt.Sprintf("no limiter engine is named %q (known: %s)", name, strings.Join(Names(KindLimiter), ", "))})
			}
			continue
		}
		_, p := f.(limiterEngine).decode(sections.Section(name), path, name == inUse)
		probs = append(probs, p...)
	}
	return probs
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
