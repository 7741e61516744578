// Package peers runs nginx and haproxy as the lab's reference gateways,
// configured from the same neutral route table the lab gives gatelab, and
// checks that every target treats a probe request alike before anything is
// measured. It also runs nginx as the lab's fast static upstream.
//
// # Route table to config file
//
// Render turns a Config (a listen address and Routes: ID, path prefix,
// whether the prefix's base path is routed too, prefix to strip, upstream
// addresses, timeout) into an nginx.conf or a
// haproxy.cfg. No config is ever written by hand per scenario: the lab
// builds one Config and renders it for each peer; the text is deterministic,
// so a run can record it (Peer.Config) and anyone can rerun it. Both files
// make the same proxy:
//
//   - the longest matching prefix wins (nginx "location ^~", haproxy ACLs
//     ordered longest first); no match answers 404, as gatelab does;
//   - a route with Base also takes its prefix without the trailing slash,
//     exactly, before any prefix (nginx "location =", haproxy an exact path
//     match tried first), as gatelab's "/x/*" takes /x;
//   - the strip prefix is removed from the path, the query kept
//     (nginx proxy_pass with a URI, haproxy http-request replace-path);
//   - HTTP/1.1 to the upstream with idle connections kept (nginx upstream
//     keepalive, haproxy http-reuse always and pool-max-conn), round robin
//     over a route's upstreams, the route timeout on connect and each wait;
//   - X-Forwarded-For replaced by the client address, as gatelab does;
//   - with RequestID (off by default), X-Request-ID as gatelab sets it: the
//     client's when well formed, else a generated version 4 UUID, the same
//     upstream and back to the client;
//   - client keep-alive without a request cap;
//   - Workers event loops (nginx worker_processes, haproxy nbthread), 1 by
//     default; see Config.Workers for how to choose it;
//   - no auth, no rate limiting, no stats, no access log unless asked.
//
// Every file the peers write (pid file, logs, nginx's temp directories) is
// inside Config.Dir; paths are quoted for each format so spaces, quotes or
// ';' in Dir cannot change the file's meaning, and what cannot be quoted
// ('$' for nginx, control characters) is refused. Render refuses bad input
// with an *InvalidConfigError listing every problem, never only the first.
//
// # Processes
//
// Start renders, writes the file into Dir, and starts the peer in the
// foreground through harness/fleet (the repository's one process
// supervisor), bounded in time; Stop ends it and its workers (SIGTERM, then
// SIGKILL to the process group). Find locates the binaries (PATH, then
// /usr/sbin) and says ErrNotInstalled when a peer is missing, so callers
// can skip it with a reason. A Peer's fields are read-only after Start;
// Stop may be called from any goroutine, more than once.
//
// # The static responder
//
// RenderStatic and StartStatic make nginx the lab's fast upstream (scenario
// upstream mode "nginx"): no proxying, every request answered 200
// {"ok":true} (application/json) by nginx itself, no access log, Workers
// event loops (1 by default), keepalive_requests and keepalive_timeout
// from StaticConfig (nginx's defaults, 1000 and 75s, when zero), so an
// upstream closes used-up and idle keep-alive connections as real servers
// do. A request with X-Upstream-Echo gets a JSON echo in
// internal/upstream's format limited to what nginx can say (name, method,
// path, query, host, the X-Upstream-Echo and X-Forwarded-For headers), so
// Parity works in front of it. It runs like a peer (same Find, fleet,
// readiness and Stop), as process "nginx-upstream-NAME".
//
// # Parity
//
// Parity sends one probe through each target (gatelab, nginx, haproxy, or
// anything else in front of internal/upstream's echo server) and compares
// with a reference target: status, which upstream answered, the method,
// path and query it received, whether X-Forwarded-For was set, and the
// values each probe header arrived with. A target with differences is to
// be reported, not ranked.
//
// Nothing here is on a hot path: Render and Parity allocate freely. The
// package never changes the system's nginx or haproxy configuration, never
// runs a peer as a daemon, and sends traffic only to the addresses it is
// given.
package peers
