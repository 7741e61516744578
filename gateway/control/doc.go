// Package control is a gateway node's control plane: it decides which
// config snapshot the node serves next, whatever the source (the config
// file, the admin API, etcd, a saved last-good snapshot at startup).
//
//	m := control.New(control.Options{Target: node, BaseDir: dir, StateDir: state, Audit: auditLog})
//	m.Submit(raw, control.Submission{Source: control.SourceStartup})
//	go m.WatchFile(ctx, "gateway.yaml")          // or
//	go m.WatchEtcd(ctx, cli, "/gatelab")
//	admin.Handle("/admin/", http.StripPrefix("/admin", m.Handler()))
//
// # Contract
//
//   - One snapshot at a time, versions only forward. The node (Target)
//     serves one immutable snapshot; Submit is the only way to change it.
//     Submit calls are serialized by one mutex and Target.Apply runs inside
//     it, so applies never overlap and the served version only increases.
//   - Whole-config validation. A submission is the whole YAML; it is parsed
//     and validated by config.Parse, and an invalid one is refused with
//     config.Problems listing every problem (file:line: path: message).
//   - Versions. A config may declare its version; 0 (or none) means the
//     version its source assigned (Submission.Version: the etcd meta
//     record, a restored last-good) or else served+1. A version not above
//     the served one is ErrStale, except that the same version with
//     identical bytes is a no-op success. Submission.ExpectedVersion is a
//     compare-and-swap guard: a different served version is ErrConflict.
//   - Nothing changes on failure. Refused, stale, conflicting, or failing in
//     Target.Apply: the served snapshot keeps serving, untouched.
//   - Last good. After each apply, with Options.StateDir set, the YAML and
//     its version are saved (temporary file, fsync, rename, directory
//     fsync) as the last-good snapshot, so a crash never leaves a partial
//     file in its place. LoadLastGood and LoadLastGoodVersion read it back
//     for a restart while the source is unreachable; a damaged file is an
//     error, never a partial config.
//   - Audit. Every submission writes one JSON line to Options.Audit: time
//     (RFC 3339, nanoseconds), actor, source, result (applied, noop,
//     rejected, conflict, stale), from_version, to_version, published_at
//     when known, a diff summary (routes by id, backends by name,
//     rate-limit tiers by name: added, removed, changed; other top-level
//     sections by YAML key) and, for a refusal, its problems. It never holds
//     the raw config, keys, hashes or tokens; hex strings of 24 digits or
//     more in problem messages are replaced by "[redacted]", and every URL
//     in a message has its password and secret-looking query values
//     replaced by "xxxxx" (config.RedactURL). So do the admin API's
//     problems and the errors Submit returns (and the log prints).
//   - Hook. Options.Applied runs after every successful apply, in version
//     order, with the Submit lock held (it must not call Submit).
//   - Metrics. With Options.Metrics, every config refused before
//     Target.Apply, from any source (invalid, stale, conflict, a bad file
//     save, an invalid etcd value or meta record, an admin PUT that could
//     not be published), counts as a failed reload; the Target counts what
//     happens in Apply. Every apply whose submission has a PublishedAt
//     observes its propagation delay: from the etcd publish, the arrival
//     of the admin PUT, the first file system event of a save, or the
//     SIGHUP, to the snapshot being served. A dry run (Validate) counts
//     nothing.
//
// # Admin API
//
// Handler serves, on the admin listener only:
//
//	GET  /config                       200 {"version":N,"config":"<yaml>"}, header X-Config-Version
//	PUT  /config?expected_version=N    body: the whole YAML (at most 4 MiB)
//	     200 {"version":new,"previous":old,"result":"applied"|"noop"}
//	     400 {"error":"bad_expected_version"}        the parameter is missing or not a number >= 0
//	     409 {"error":"version_conflict","current_version":N}   someone changed it since N
//	     409 {"error":"stale_version","current_version":N,"declared_version":D}
//	     413 {"error":"body_too_large"}
//	     422 {"error":"invalid_config","problems":[{"file","line","path","message"}...]}  every problem
//	POST /config/validate              200 {"valid":true}, or 422 as above; changes nothing
//
// An empty body (or one with only white space and comments) is an invalid
// config like any other: 422 with the problem "config is empty".
//
// GET /config returns the served YAML verbatim, byte for byte as it was
// submitted, credentials included: the userinfo and query tokens of
// backend instance URLs, auth.jwt.jwks_url and limiter.redis.url, and the
// SHA-256 hashes of API keys and admin tokens. That is deliberate: the
// answer is the base of a compare-and-swap edit (GET, change, PUT with
// expected_version), a PUT of identical bytes is a no-op, and a redacted
// copy could not be PUT back. Only holders of an admin token can read it,
// and they can replace the whole config anyway. Everything else the
// package writes (problems, the audit log, the log) is redacted.
//
// Every request needs "Authorization: Bearer <token>" whose SHA-256 is one
// of the served config's admin.tokens (compared in constant time): 401 with
// WWW-Authenticate when it is missing or wrong, 403
// {"error":"admin_api_disabled"} when the served config has no tokens (or
// nothing is served yet). The matching token's id is the audit actor. Tokens
// are never logged or echoed.
//
// # Sources
//
// WatchFile watches the config file's directory with fsnotify (editors save
// by rename), debounces briefly, re-reads the file and submits it when its
// bytes changed. WatchEtcd follows a prefix P in etcd: P/config holds the
// YAML and P/meta the JSON {"version":N,"published_at":RFC3339Nano,
// "actor":"..."}; Publish writes both in one transaction guarded by the
// stored version (compare-and-swap). WatchEtcd reads both keys, submits
// them, then watches P/ from the next revision and submits each published
// revision once. If etcd is unreachable, the watch is cancelled or its
// revision compacted, the served snapshot keeps serving and WatchEtcd reads
// and watches again after a backoff (100ms doubling to 2s). Both return nil
// when their context ends and leave no goroutine behind.
//
// # Concurrency
//
// A Manager is safe for concurrent use. Current, Validate and the admin
// API's reads do not wait for a Submit in progress; they see the snapshot
// served before it until Apply has returned. The package starts no
// goroutines of its own except inside WatchFile and WatchEtcd, and keeps no
// global state.
package control
