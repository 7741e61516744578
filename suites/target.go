package suites

import (
	"context"
	"errors"
)

// Implementation names what a report is about.
type Implementation struct {
	Name    string            `yaml:"name"`    // "gatelab", "nginx", "haproxy"
	Version string            `yaml:"version"` // as the target reports it
	Mode    map[string]string `yaml:"mode"`    // e.g. server: fasthttp, router: trie, limiter: local
}

// Target is a gateway under test, configured from the Fixture and in front
// of the fixture's echo upstreams.
type Target interface {
	// Name is the target's short name in reports ("gatelab-fasthttp-trie-local").
	Name() string
	Implementation() Implementation
	// URL is the traffic base URL, "http://127.0.0.1:PORT".
	URL() string
	// Features are the features the target supports (its config and
	// engines for the reference gateway, a capabilities file otherwise).
	Features() []Feature
	// Reconfigure serves the fixture's routes plus extra, and returns once
	// the target serves the new config: the reference gateway waits for
	// its admin API to report the new version. ErrUnsupported when the
	// target cannot change config at run time.
	Reconfigure(ctx context.Context, extra []Route) error
}

// ErrUnsupported is what a target answers for an operation it lacks.
var ErrUnsupported = errors.New("not supported by this target")

// has reports whether fs holds f.
func has(fs []Feature, f Feature) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}
