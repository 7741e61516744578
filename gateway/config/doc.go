// Package config is the gateway's configuration: the schema (Config and the
// types it holds, one Go field per YAML key), its defaults, strict decoding
// and validation.
//
// # Contract
//
//   - Strict. Load and Parse reject unknown keys, duplicate keys, values of
//     the wrong type (a duration without a unit, a word where a number
//     belongs) and more than one YAML document. Nothing in a file is ever
//     silently ignored.
//   - All problems at once. Every error from Load, Parse and Validate is a
//     Problems value listing everything wrong, decoding and validation
//     together, each as "file:line: path: message" (the line is that of the
//     setting, or of the nearest enclosing entry when the setting is absent;
//     it is left out for a Config built in code). Fixing a file takes one
//     run, not one run per mistake.
//   - Defaults are documented by Default() and the Default* constants, and
//     filled by ApplyDefaults: a zero value means "use the default".
//     Negative numbers are never defaulted; Validate rejects them.
//   - Load = read + decode + merge auth.api_keys_file + ApplyDefaults +
//     Validate. A Config returned without error is valid. Relative paths
//     resolve against the config file's directory (Config.BaseDir, see
//     Resolve), never the working directory.
//   - Validate checks a Config without modifying it, and reads only the
//     files the config names. It checks form, references between sections
//     (routes -> backends and tiers, keys -> tiers) and cross-field rules; it
//     does not know which engines exist (the engines registry does).
//   - Immutable once valid. After Validate succeeds, nobody mutates the
//     Config: snapshots are built from it and shared by concurrent requests.
//     Code that needs a variant copies the Config, changes the copy, then
//     calls ApplyDefaults and Validate on it.
//
// The package does no I/O beyond reading the config, its api_keys_file and
// (for a readability check) the JWKS file; it starts no goroutines and keeps
// no global state, so it is safe for concurrent use on distinct Configs.
package config
