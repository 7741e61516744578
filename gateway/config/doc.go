// Package config is the gateway's configuration: the schema (Config and the
// types it holds, one Go field per YAML key), its defaults, strict decoding
// and validation.
//
// # Contract
//
//   - Strict. Load and Parse reject unknown keys, duplicate keys, values of
//     the wrong type (a duration without a unit, a word where a number
//     belongs), more than one YAML document and an empty config (nothing
//     but white space or comments, "---" or null: "config is empty").
//     Nothing in a file is ever silently ignored.
//   - All problems at once. Every error from Load, Parse and Validate is a
//     Problems value listing everything wrong, decoding and validation
//     together, each as "file:line: path: message" (the line is that of the
//     setting, or of the nearest enclosing entry when the setting is absent;
//     it is left out for a Config built in code). Fixing a file takes one
//     run, not one run per mistake. Entries of routes, backends,
//     rate_limits.tiers, API keys and admin tokens are named by index and
//     id or name: `routes[5] (id "orders").backend` (EntryPath). A YAML
//     syntax error points at the line of the mistake: for a mis-indented
//     line yaml.v3 names the line where the enclosing block starts, so the
//     line is found again by parsing prefixes of the file (a heuristic,
//     see mistakeLine).
//   - No secret echoed. Every URL a problem quotes (backend instance URLs,
//     auth.jwt.jwks_url, limiter.redis.url, CORS origins) goes through
//     RedactURL: a userinfo password and the values of secret-looking
//     query parameters become "xxxxx". RedactURLsIn does the same for free
//     text; other packages use them wherever they print a config URL.
//   - Defaults are documented by Default() and the Default* constants, and
//     filled by ApplyDefaults: a zero value means "use the default".
//     Negative numbers are never defaulted; Validate rejects them.
//   - Load = read + decode + merge auth.api_keys_file + ApplyDefaults +
//     Validate. A Config returned without error is valid. Relative paths
//     resolve against the config file's directory (Config.BaseDir, see
//     Resolve), never the working directory.
//   - One vocabulary. The enumerated settings (methods, route auth, tier
//     keys and algorithms, priorities, fail modes, balancing) are fields of
//     gateway/policy's types, and the route-pattern grammar is policy's,
//     shared with the snapshot and the routers. An enumerated setting is
//     parsed once, as it is decoded: a bad spelling is a problem at its line
//     among the others, and leaves an invalid value that no default
//     replaces (so nothing else is checked against a value never written).
//   - Validate checks a Config without modifying it, and reads only the
//     files the config names. It checks form, references between sections
//     (routes -> backends and tiers, keys -> tiers) and cross-field rules; it
//     does not know which engines exist (the engines registry does).
//   - Each limiter engine owns its section. limiter: holds one section per
//     engine (limiter.redis, limiter.crdt, ...) as written (Limiter, YAML
//     nodes with their lines); the engine's settings type and checks live in
//     the engine, and the engines registry decodes a section strictly into
//     it (DecodeSection). Validate reaches the registry through the one hook
//     it installs (SetLimiterCheck): every section is decoded, the section
//     of the engine in use is checked too, and the problems carry the file's
//     lines like any other. Without the hook (a program that links no
//     engine) the sections are not checked.
//   - Immutable once valid. After Validate succeeds, nobody mutates the
//     Config: snapshots are built from it and shared by concurrent requests.
//     Code that needs a variant copies the Config, changes the copy, then
//     calls ApplyDefaults and Validate on it.
//
// The package does no I/O beyond reading the config, its api_keys_file and
// (for a readability check) the JWKS file; it starts no goroutines and keeps
// no global state but that hook (set once, at init), so it is safe for
// concurrent use on distinct Configs.
package config
