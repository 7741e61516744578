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
// # Limiter engines own their settings
//
// A limiter engine's settings are its own: RegisterLimiter takes the engine's
// settings type S (a struct with yaml tags, the keys of its config section
// limiter.<name>; NoSettings for none) with its constructor
// func(LimiterOptions, S). LimiterOptions holds only what every engine is
// given (clock, divided mode, metrics registry, instance name) and the
// section as written (Settings, a YAML node); the registry decodes it into S
// with config.DecodeSection, strictly (an unknown key or a value of the wrong
// type is a problem with its line), then runs S's checks if *S implements
// config.SectionValidator. The registry never holds an engine's settings
// struct and the config knows none: adding an engine with settings is still
// one folder.
//
// The registry installs config's limiter hook (config.SetLimiterCheck), so
// config.Validate (gatelab validate, POST /config/validate, every reload)
// reports the problems of the limiter: section with their lines: each
// section is decoded by its engine, the section of the engine in use is
// checked, and a section named after no engine is a problem. NewLimiter
// decodes and checks the section it is given again before building the
// engine. Command-line overrides (gatelab serve -redis, -node, -bind, -peers)
// patch the section (config.Limiter.With) before the engine decodes it.
//
// Nothing in gateway/ imports this package or any engine.
package engines
