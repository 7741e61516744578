package peers

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Defaults applied by Render and Start to zero fields.
const (
	DefaultWorkers   = 1
	DefaultKeepAlive = 64
	DefaultTimeoutMS = 10000 // gatelab's route timeout_ms default
)

// Route is one entry of the neutral route table: requests whose path begins
// with Prefix (or, with Base, is Prefix without its trailing slash) go to
// Upstreams (round robin), with StripPrefix removed from the front of the
// path first.
type Route struct {
	ID string // names the upstream group / backend: letters, digits, '-', '_', '.'
	// Prefix is matched as a plain string prefix of the request path, as
	// nginx's "location ^~" and haproxy's path_beg do; the longest matching
	// prefix wins. Write it with its trailing slash ("/api/v2/users/") to
	// match whole segments.
	Prefix string
	// Base also routes Prefix without its trailing slash ("/api/v2/users"),
	// exactly: that path and nothing longer ("/api/v2/usersx" is not
	// routed), with StripPrefix removed as for the rest ("/" when nothing
	// is left). It needs a Prefix ending in '/' other than "/" itself. This
	// is how gatelab's pattern "/x/*" matches: /x and everything below /x/;
	// without it nginx answers /x with a 301 to /x/ and haproxy with 404.
	Base bool
	// StripPrefix ("/api/v2") is removed from the front of the path before
	// forwarding. It must be a whole-segment prefix of Prefix (Prefix begins
	// with StripPrefix + "/"); "" forwards the path unchanged.
	StripPrefix string
	Upstreams   []string // "127.0.0.1:PORT", at least one
	// TimeoutMS bounds connecting to the upstream and each wait for it
	// (nginx proxy_connect/send/read_timeout, haproxy timeout connect/server).
	// 0 means DefaultTimeoutMS.
	TimeoutMS int
}

// Config is everything a peer needs; Render turns it into a config file.
type Config struct {
	Listen string  // 127.0.0.1:PORT the peer listens on
	Routes []Route // at least one
	// Workers is nginx's worker_processes and haproxy's nbthread; 0 means
	// DefaultWorkers (1): one event loop, so on a small machine the peer
	// does not take the cores the load generator and the upstream need. A
	// comparison at saturation should give the peer as many workers as the
	// gatelab process under test has cores (its GOMAXPROCS) and record it;
	// the rendered file says what was used.
	Workers int
	// KeepAlive is the number of idle upstream connections kept (nginx
	// "keepalive" per upstream group and worker, haproxy pool-max-conn per
	// server); 0 means DefaultKeepAlive.
	KeepAlive int
	// Dir is the absolute directory holding the config file, the pid file,
	// logs and nginx's temp directories. It must not contain '$' or control
	// characters; every other character is quoted.
	Dir string
	// AccessLog logs every request: nginx to Dir/access.log (buffered,
	// flushed every second and on exit), haproxy to its stdout (haproxy
	// cannot write a file), which Start's supervisor reads line by line into
	// Dir/haproxy.log: that reading costs the harness process some CPU per
	// request. Off by default.
	AccessLog bool
	// RequestID gives every request an X-Request-ID, as gatelab does: a
	// client's value of 1 to 128 characters from [A-Za-z0-9._:-] is kept,
	// anything else (or none) is replaced by a generated version 4 UUID;
	// the upstream gets it and the client gets it back (the upstream's own
	// X-Request-ID answer header is replaced). nginx derives the UUID from
	// $request_id, haproxy from its uuid fetch. Off by default, so the
	// lab's comparisons render as they always have; the conformance targets
	// turn it on.
	RequestID bool
}

// InvalidConfigError lists every problem Render found in a Config.
type InvalidConfigError struct {
	Kind     string
	Problems []string
}

func (e *InvalidConfigError) Error() string {
	return fmt.Sprintf("rendering the %s config: %d problem(s):\n  - %s", e.Kind, len(e.Problems), strings.Join(e.Problems, "\n  - "))
}

// ErrUnknownKind is returned for a kind not in Kinds().
var ErrUnknownKind = errors.New("unknown peer kind")

// Kinds returns the peer kinds this package renders and starts.
func Kinds() []string { return []string{KindNginx, KindHAProxy} }

// The peer kinds.
const (
	KindNginx   = "nginx"
	KindHAProxy = "haproxy"
)

func checkKind(kind string) error {
	if !slices.Contains(Kinds(), kind) {
		return fmt.Errorf("%w %q (known: %s)", ErrUnknownKind, kind, strings.Join(Kinds(), ", "))
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func withDefaults(c Config) Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	rs := make([]Route, len(c.Routes))
	for i, r := range c.Routes {
		if r.TimeoutMS == 0 {
			r.TimeoutMS = DefaultTimeoutMS
		}
		rs[i] = r
	}
	c.Routes = rs
	return c
}

// problems returns every problem in c (after withDefaults), in field order.
func problems(c Config) []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }

	if c.Listen == "" {
		add("listen: empty (want 127.0.0.1:PORT)")
	} else if why := checkAddr(c.Listen); why != "" {
		add("listen %q: %s", c.Listen, why)
	}
	switch {
	case c.Dir == "":
		add("dir: empty (want an absolute directory)")
	case !filepath.IsAbs(c.Dir):
		add("dir %q: not absolute", c.Dir)
	case strings.ContainsRune(c.Dir, '$'):
		add("dir %q: contains '$' (nginx would read it as a variable)", c.Dir)
	case hasControl(c.Dir):
		add("dir %q: contains a control character", c.Dir)
	}
	if c.Workers < 0 {
		add("workers: %d is negative", c.Workers)
	}
	if c.KeepAlive < 0 {
		add("keepalive: %d is negative", c.KeepAlive)
	}
	if len(c.Routes) == 0 {
		add("routes: none")
	}
	ids := map[string]int{}
	prefixes := map[string]int{}
	for i, r := range c.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		if r.ID != "" {
			at += " (" + r.ID + ")"
		}
		switch {
		case r.ID == "":
			add("%s: id is empty", at)
		case !validID(r.ID):
			add("%s: id %q: only letters, digits, '-', '_' and '.' are allowed", at, r.ID)
		default:
			if j, dup := ids[r.ID]; dup {
				add("%s: id %q is also routes[%d]'s", at, r.ID, j)
			} else {
				ids[r.ID] = i
			}
		}
		prefixOK := checkPath(r.Prefix) == ""
		if why := checkPath(r.Prefix); why != "" {
			add("%s: prefix %q: %s", at, r.Prefix, why)
		} else if j, dup := prefixes[r.Prefix]; dup {
			add("%s: prefix %q is also routes[%d]'s", at, r.Prefix, j)
		} else {
			prefixes[r.Prefix] = i
		}
		if r.Base && prefixOK && (r.Prefix == "/" || !strings.HasSuffix(r.Prefix, "/")) {
			add("%s: base: prefix %q has no base path (want a prefix ending in '/', other than \"/\")", at, r.Prefix)
		}
		if r.StripPrefix != "" {
			switch why := checkPath(r.StripPrefix); {
			case why != "":
				add("%s: strip_prefix %q: %s", at, r.StripPrefix, why)
			case strings.HasSuffix(r.StripPrefix, "/"):
				add("%s: strip_prefix %q: must not end with '/'", at, r.StripPrefix)
			case prefixOK && !strings.HasPrefix(r.Prefix, r.StripPrefix+"/"):
				add("%s: strip_prefix %q is not a whole-segment prefix of %q (the prefix must begin with %q)", at, r.StripPrefix, r.Prefix, r.StripPrefix+"/")
			}
		}
		if len(r.Upstreams) == 0 {
			add("%s: no upstream", at)
		}
		for j, u := range r.Upstreams {
			if why := checkAddr(u); why != "" {
				add("%s: upstreams[%d] %q: %s", at, j, u, why)
			}
		}
		if r.TimeoutMS < 0 {
			add("%s: timeout_ms %d is negative", at, r.TimeoutMS)
		}
	}
	return ps
}

// checkAddr checks a host:port with a numeric port.
func checkAddr(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "not host:port"
	}
	if host == "" {
		return "no host"
	}
	for _, r := range host {
		if !(r == '.' || r == '-' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Sprintf("host %q has a character other than letters, digits, '.', '-' and ':'", host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q is not 1..65535", port)
	}
	return ""
}

// checkPath checks a route prefix or strip prefix: it starts with '/', has
// no empty, "." or ".." segment before its end, and only characters that
// mean the same thing to nginx (which matches the decoded path) and haproxy
// (which matches the raw one): letters, digits and -._~!+,;=:@/ — no '%',
// quotes, '$', '?', '#', spaces or control characters.
func checkPath(p string) string {
	if p == "" {
		return "empty"
	}
	if p[0] != '/' {
		return "does not start with '/'"
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~!+,;=:@/", r)) {
			return fmt.Sprintf("character %q is not allowed (letters, digits and -._~!+,;=:@/ are)", r)
		}
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			return "has a \".\" or \"..\" segment"
		}
		if s == "" && i < len(segs)-1 {
			return "has an empty segment (\"//\")"
		}
	}
	return ""
}

func validID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != ""
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Render returns the config file text for kind ("nginx" or "haproxy") from
// c, after applying the defaults. Bad input is refused with an
// *InvalidConfigError listing every problem. The text is deterministic: the
// same Config gives the same bytes.
func Render(kind string, c Config) (string, error) {
	if err := checkKind(kind); err != nil {
		return "", fmt.Errorf("rendering a peer config: %w", err)
	}
	c = withDefaults(c)
	if ps := problems(c); len(ps) > 0 {
		return "", &InvalidConfigError{Kind: kind, Problems: ps}
	}
	switch kind {
	case KindNginx:
		return renderNginx(c), nil
	default:
		return renderHAProxy(c), nil
	}
}

// ConfigFile is the name of kind's config file inside Config.Dir.
func ConfigFile(kind string) string {
	if kind == KindHAProxy {
		return "haproxy.cfg"
	}
	return kind + ".conf"
}

// basePath is the path Route.Base routes exactly: Prefix without its
// trailing slash.
func basePath(r Route) string { return strings.TrimSuffix(r.Prefix, "/") }

// strippedBase is the path the upstream gets for basePath(r): StripPrefix
// removed, "/" when nothing is left. (Render has checked that Prefix begins
// with StripPrefix + "/", so basePath(r) begins with StripPrefix.)
func strippedBase(r Route) string {
	if p := strings.TrimPrefix(basePath(r), r.StripPrefix); p != "" {
		return p
	}
	return "/"
}

// requestIDPattern is a client X-Request-ID kept as it is (Config.RequestID),
// the rule of gatelab's gateway/observe.ValidRequestID.
const requestIDPattern = `^[A-Za-z0-9._:-]{1,128}$`
