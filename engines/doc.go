// Package engines is the home of the engine contracts (Router, Limiter, Server)
// and the registry that maps an engine name to its factory.
//
// An engine lives in its own folder (engines/<kind>/<name>) and registers itself
// in init() with RegisterRouter, RegisterLimiter or RegisterServer under the
// name that is also its folder and its config value. Registering a name twice
// panics. Looking up an unknown name returns an error listing the known ones.
// The binary and the lab blank-import engines/all, so a new engine shows up in
// every run by adding one folder and one line there.
//
// Nothing in gateway/ imports this package or any engine.
package engines
