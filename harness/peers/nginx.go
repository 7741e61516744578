package peers

import (
	"fmt"
	"path"
	"strings"
)

// nginxQuote writes s as an nginx double-quoted string: '\' and '"' are
// escaped, everything else (spaces, ';', '{', '#', single quotes) is literal
// inside the quotes. '$' cannot be escaped in nginx and is refused earlier.
func nginxQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// nginxUpstream is the upstream group name of a route.
func nginxUpstream(r Route) string { return "route_" + r.ID }

// renderNginx renders a checked, defaulted Config.
func renderNginx(c Config) string {
	in := func(name string) string { return nginxQuote(path.Join(c.Dir, name)) }
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("# nginx.conf rendered by gatelab harness/peers from the lab's route table.")
	w("# A plain reverse proxy: no auth, no rate limiting. Run it in the foreground:")
	w("#   nginx -p DIR/ -c DIR/nginx.conf -e stderr")
	w("# (DIR is the directory every path below points into).")
	writeNginxMain(w, in, c.Workers)
	if c.AccessLog {
		w("    access_log %s combined buffer=64k flush=1s;", in("access.log"))
	} else {
		w("    access_log off;")
	}
	w("")
	w("    # Every temporary file stays inside DIR; bodies are streamed, never")
	w("    # spooled to disk, as gatelab streams them.")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w("    %s_temp_path %s;", t, in(t+"_temp"))
	}
	w("    proxy_request_buffering off;")
	w("    # No request body limit, as haproxy has none.")
	w("    client_max_body_size 0;")
	w("    proxy_max_temp_file_size 0;")
	w("")
	w("    # The load generator keeps its connections for the whole run; nginx's")
	w("    # default would close them every 1000 requests.")
	w("    keepalive_requests 1000000;")
	if c.RequestID {
		w("")
		w("    # X-Request-ID: the client's when well formed, else a version 4 UUID")
		w("    # made of $request_id's 32 random hex digits (two replaced by the")
		w("    # version and variant).")
		w("    map $request_id $gatelab_uuid {")
		w("        \"~^(?<gl_a>.{8})(?<gl_b>.{4}).(?<gl_c>.{3}).(?<gl_d>.{3})(?<gl_e>.{12})$\" \"$gl_a-$gl_b-4$gl_c-8$gl_d-$gl_e\";")
		w("    }")
		w("    map $http_x_request_id $gatelab_request_id {")
		w("        %s $http_x_request_id;", nginxQuote("~"+requestIDPattern))
		w("        default $gatelab_uuid;")
		w("    }")
	}
	for _, r := range c.Routes {
		w("")
		w("    upstream %s {", nginxUpstream(r))
		for _, u := range r.Upstreams {
			w("        server %s;", u)
		}
		w("        keepalive %d;", c.KeepAlive)
		w("        keepalive_requests 1000000;")
		w("    }")
	}
	w("")
	w("    server {")
	w("        listen %s;", c.Listen)
	if c.RequestID {
		// Inherited by every location (none sets its own add_header or
		// proxy_hide_header); "always" covers the 404s and error pages.
		w("        proxy_hide_header X-Request-ID;")
		w("        add_header X-Request-ID $gatelab_request_id always;")
	}
	catchAll := true
	for _, r := range c.Routes {
		if r.Prefix == "/" {
			catchAll = false
		}
		w("")
		w("        # route %s", r.ID)
		if r.Base {
			// The base path, exactly: an exact location beats every prefix
			// one, and a URI on proxy_pass replaces the whole path.
			uri := ""
			if r.StripPrefix != "" {
				uri = strippedBase(r)
			}
			w("        location = %s {", nginxQuote(basePath(r)))
			writeNginxProxy(w, c, r, uri)
		}
		w("        location ^~ %s {", nginxQuote(r.Prefix))
		uri := ""
		if r.StripPrefix != "" {
			// A URI on proxy_pass replaces the matched location prefix:
			// Prefix becomes Prefix without StripPrefix.
			uri = r.Prefix[len(r.StripPrefix):]
		}
		writeNginxProxy(w, c, r, uri)
	}
	if catchAll {
		w("")
		w("        # No route: 404, as gatelab answers.")
		w("        location / {")
		w("            return 404;")
		w("        }")
	}
	w("    }")
	w("}")
	return b.String()
}

// writeNginxProxy writes the body of a route's location, from proxy_pass
// to the closing brace: uri is proxy_pass's URI ("" forwards the path
// unchanged).
func writeNginxProxy(w func(format string, args ...any), c Config, r Route, uri string) {
	w("            proxy_pass %s;", nginxQuote("http://"+nginxUpstream(r)+uri))
	w("            proxy_http_version 1.1;")
	w("            proxy_set_header Connection \"\";")
	w("            proxy_set_header X-Forwarded-For $remote_addr;")
	if c.RequestID {
		w("            proxy_set_header X-Request-ID $gatelab_request_id;")
	}
	w("            proxy_connect_timeout %dms;", r.TimeoutMS)
	w("            proxy_send_timeout %dms;", r.TimeoutMS)
	w("            proxy_read_timeout %dms;", r.TimeoutMS)
	w("        }")
}

// writeNginxMain writes the part every nginx.conf of the lab shares, from
// the process settings to the opening of the http block: foreground, the
// worker count, the pid file in the config's directory, notices to stderr.
func writeNginxMain(w func(format string, args ...any), in func(name string) string, workers int) {
	w("daemon off;")
	w("master_process on;")
	w("worker_processes %d;", workers)
	w("pid %s;", in("nginx.pid"))
	w("# Notices (the worker starts) go to stderr, which the harness keeps.")
	w("error_log stderr notice;")
	w("")
	w("events {")
	w("    worker_connections 8192;")
	w("}")
	w("")
	w("http {")
}
