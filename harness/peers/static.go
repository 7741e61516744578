package peers

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Defaults of a StaticConfig's zero fields: nginx's own defaults.
const (
	DefaultStaticKeepAliveRequests = 1000
	DefaultStaticKeepAliveTimeout  = 75 * time.Second
)

// StaticConfig is an nginx that answers every request itself, the lab's
// fast upstream (scenario upstream mode "nginx"): 200 with the body
// {"ok":true} and Content-Type application/json, no access log.
type StaticConfig struct {
	Listen string // 127.0.0.1:PORT
	// Name is the upstream's name, which a parity probe's echo reports
	// (letters, digits, '-', '_' and '.').
	Name string
	// Dir is as in Config: the absolute directory of the config, the pid
	// file and the temp directories.
	Dir string
	// Workers is worker_processes; 0 means DefaultWorkers (1).
	Workers int
	// KeepAliveRequests is keepalive_requests: the response to the Nth
	// request on a connection carries "Connection: close" and nginx closes
	// the connection. 0 means DefaultStaticKeepAliveRequests (1000).
	KeepAliveRequests int
	// KeepAliveTimeout is keepalive_timeout: an idle keep-alive connection
	// is closed after it. 0 means DefaultStaticKeepAliveTimeout (75s); it is
	// written in milliseconds unless it is whole seconds.
	KeepAliveTimeout time.Duration
}

func (c StaticConfig) withDefaults() StaticConfig {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.KeepAliveRequests == 0 {
		c.KeepAliveRequests = DefaultStaticKeepAliveRequests
	}
	if c.KeepAliveTimeout == 0 {
		c.KeepAliveTimeout = DefaultStaticKeepAliveTimeout
	}
	return c
}

func (c StaticConfig) problems() []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if c.Listen == "" {
		add("listen: empty (want 127.0.0.1:PORT)")
	} else if why := checkAddr(c.Listen); why != "" {
		add("listen %q: %s", c.Listen, why)
	}
	if !validID(c.Name) {
		add("name %q: only letters, digits, '-', '_' and '.' are allowed, at least one", c.Name)
	}
	switch {
	case c.Dir == "":
		add("dir: empty (want an absolute directory)")
	case !fileDirOK(c.Dir):
		add("dir %q: not absolute, or contains '$' or a control character", c.Dir)
	}
	if c.Workers < 0 {
		add("workers: %d is negative", c.Workers)
	}
	if c.KeepAliveRequests < 0 {
		add("keepalive_requests: %d is negative", c.KeepAliveRequests)
	}
	if c.KeepAliveTimeout < 0 || c.KeepAliveTimeout%time.Millisecond != 0 {
		add("keepalive_timeout: %v is negative or not whole milliseconds", c.KeepAliveTimeout)
	}
	return ps
}

// fileDirOK is Config's rule for Dir: absolute, no '$', no control
// characters.
func fileDirOK(dir string) bool {
	return path.IsAbs(dir) && !strings.ContainsRune(dir, '$') && !hasControl(dir)
}

// nginxDuration writes d in seconds when whole, else in milliseconds.
func nginxDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// RenderStatic returns the nginx.conf of a static responder from c, after
// applying the defaults; bad input is refused with an *InvalidConfigError
// listing every problem. The text is deterministic.
//
// Every request is answered 200 {"ok":true} (application/json), except
// one carrying X-Upstream-Echo (any non-empty value other than "0"), which
// gets a JSON echo in internal/upstream's format, so that a parity probe
// can see what a proxy forwarded: name, method, path (decoded, as nginx's
// $uri), query, host, and the X-Upstream-Echo and X-Forwarded-For headers
// only. nginx cannot escape JSON in a return: a value with a '"' or '\'
// makes the echo invalid JSON, which a parity check reports as no echo.
func RenderStatic(c StaticConfig) (string, error) {
	c = c.withDefaults()
	if ps := c.problems(); len(ps) > 0 {
		return "", &InvalidConfigError{Kind: KindNginx + " static responder", Problems: ps}
	}
	in := func(name string) string { return nginxQuote(path.Join(c.Dir, name)) }
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# nginx.conf rendered by gatelab harness/peers: the lab's static upstream %s.", c.Name)
	w("# Every request is answered 200 {\"ok\":true} by nginx itself. Run it in the foreground:")
	w("#   nginx -p DIR/ -c DIR/nginx.conf -e stderr")
	writeNginxMain(w, in, c.Workers)
	w("    access_log off;")
	w("    server_tokens off;")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w("    %s_temp_path %s;", t, in(t+"_temp"))
	}
	w("    # No MIME table: every answer is application/json.")
	w("    types {}")
	w("    default_type application/json;")
	w("    # Keep-alive as real servers do it: the response to the Nth request on a")
	w("    # connection says \"Connection: close\", an idle connection is closed after")
	w("    # the timeout (nginx's defaults are 1000 and 75s).")
	w("    keepalive_requests %d;", c.KeepAliveRequests)
	w("    keepalive_timeout %s;", nginxDuration(c.KeepAliveTimeout))
	w("")
	w("    # Parity probes (X-Upstream-Echo) get an echo; X-Forwarded-For only when sent.")
	w("    map $http_x_forwarded_for $gatelab_echo_xff {")
	w("        \"\" \"\";")
	w("        default ',\"X-Forwarded-For\":[\"$http_x_forwarded_for\"]';")
	w("    }")
	w("")
	w("    server {")
	w("        listen %s;", c.Listen)
	w("        location / {")
	w("            if ($http_x_upstream_echo) {")
	w("                return 200 '{\"name\":\"%s\",\"method\":\"$request_method\",\"path\":\"$uri\",\"query\":\"$args\",\"host\":\"$http_host\",\"headers\":{\"X-Upstream-Echo\":[\"$http_x_upstream_echo\"]$gatelab_echo_xff}}';", c.Name)
	w("            }")
	w("            return 200 '{\"ok\":true}';")
	w("        }")
	w("    }")
	w("}")
	return b.String(), nil
}
