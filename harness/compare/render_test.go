package compare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func TestRenderNginx(t *testing.T) {
	dir := t.TempDir()
	conf, err := RenderNginx(NginxParams{Dir: dir, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:19101", RunID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"daemon off;",
		"master_process on;",
		"worker_processes auto;",
		"server 127.0.0.1:19101;",
		"keepalive 64;",
		"listen 127.0.0.1:18080;",
		"location /api/v2/users/ {",
		"proxy_pass http://up/users/;",
		"proxy_http_version 1.1;",
		`proxy_set_header Connection "";`,
		"proxy_set_header X-Forwarded-For $remote_addr;",
		`pid "` + dir + `/nginx.pid";`,
		`error_log "` + dir + `/error.log" warn;`,
		`access_log "` + dir + `/access.log"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
	if _, err := RenderNginx(NginxParams{Dir: dir}); err == nil {
		t.Error("RenderNginx without Listen and Upstream: no error")
	}
}

func TestNginxQuote(t *testing.T) {
	if got, want := nginxQuote(`/tmp/a "b"\c`), `"/tmp/a \"b\"\\c"`; got != want {
		t.Errorf("nginxQuote = %s, want %s", got, want)
	}
}

// repoRoot is the repository root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "fixtures", "gateway.yaml")); err != nil {
		t.Fatalf("no fixtures/gateway.yaml at %s: %v", root, err)
	}
	return root
}

func TestRenderGatelabValidates(t *testing.T) {
	root := repoRoot(t)
	fixture, err := config.Load(filepath.Join(root, "fixtures", "gateway.yaml"))
	if err != nil {
		t.Fatalf("loading the fixture: %v", err)
	}
	for _, server := range []string{"fasthttp", "nethttp"} {
		t.Run(server, func(t *testing.T) {
			// Parse in a directory unrelated to fixtures/: every path must
			// be absolute to validate.
			dir := t.TempDir()
			accessLog := filepath.Join(dir, "access.log")
			text, err := RenderGatelab(GatelabParams{
				Fixture: fixture, Server: server, UpstreamURL: "http://127.0.0.1:19101", AccessLog: accessLog, RunID: "test",
			})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse([]byte(text), "generated.yaml", dir)
			if err != nil {
				t.Fatalf("the generated config does not validate:\n%v\n%s", err, text)
			}
			if got := cfg.Engines.Server; got != server {
				t.Errorf("engines.server = %q, want %q", got, server)
			}
			if cfg.AccessLog.Output != accessLog {
				t.Errorf("access_log.output = %q, want %q", cfg.AccessLog.Output, accessLog)
			}
			if s := cfg.AccessLog.SuccessSample; s == nil || *s != 1 {
				t.Errorf("access_log.success_sample = %v, want 1", s)
			}
			j := cfg.Auth.JWT
			if !j.Cache.Enabled {
				t.Error("auth.jwt.cache.enabled is false")
			}
			if !filepath.IsAbs(j.JWKSFile) || j.JWKSFile != filepath.Join(root, "fixtures", "keys", "jwks.json") {
				t.Errorf("jwks_file = %q, want the absolute fixture path", j.JWKSFile)
			}
			if want := filepath.Join(root, "fixtures", "apikeys.yaml"); cfg.Auth.APIKeysFile != want {
				t.Errorf("api_keys_file = %q, want %q", cfg.Auth.APIKeysFile, want)
			}
			if len(j.Issuers) == 0 || len(j.Audiences) == 0 {
				t.Errorf("issuers %v audiences %v: want the fixture's", j.Issuers, j.Audiences)
			}

			if len(cfg.Backends) != 1 || cfg.Backends[0].Name != backendName ||
				len(cfg.Backends[0].Instances) != 1 || cfg.Backends[0].Instances[0].URL != "http://127.0.0.1:19101" {
				t.Errorf("backends = %+v, want one: the upstream", cfg.Backends)
			}
			if len(cfg.Routes) != 1 {
				t.Fatalf("routes = %+v, want one", cfg.Routes)
			}
			r := cfg.Routes[0]
			if r.Pattern != "/api/v2/users/*" || r.StripPrefix != "/api/v2" || r.Auth != "jwt" ||
				r.RateLimitTier != benchTier || r.Backend != backendName || len(r.Methods) != 1 || r.Methods[0] != "GET" {
				t.Errorf("route = %+v", r)
			}
			var bench *config.Tier
			for i := range cfg.RateLimit.Tiers {
				if cfg.RateLimit.Tiers[i].Name == benchTier {
					bench = &cfg.RateLimit.Tiers[i]
				}
			}
			if bench == nil || bench.Limit != 1_000_000_000 || bench.Window != 60*time.Second || bench.Key != "user_id" {
				t.Errorf("bench tier = %+v, want 1e9 per 60s by user_id", bench)
			}
		})
	}
}

func TestRenderGatelabNeedsInputs(t *testing.T) {
	if _, err := RenderGatelab(GatelabParams{Server: "nethttp"}); err == nil {
		t.Error("no error without a fixture, upstream and access log")
	}
}
