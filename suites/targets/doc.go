// Package targets starts what the conformance suites run against: the
// fixture's echo upstreams (StartFixture), the reference gateway in one
// engine combination (StartGatelab: a "gatelab serve" process configured
// from suites.Routes), nginx and haproxy configured from the same routes by
// the lab's peer renderer, and a user's gateway given by URL. Every target
// runs as a process; nothing here imports an engine.
package targets
