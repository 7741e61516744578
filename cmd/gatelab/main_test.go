package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/config"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := runCLI("frobnicate")
	if code != 2 || !strings.Contains(stderr, "unknown command") || !strings.Contains(stderr, "serve") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestValidateFixtureOK(t *testing.T) {
	code, out, stderr := runCLI("validate", "-config", "../../fixtures/gateway.yaml")
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("code %d out %q stderr %q", code, out, stderr)
	}
}

// A config with several problems: every one is printed with its line, exit 1.
func TestValidateListsEveryProblem(t *testing.T) {
	bad := `routes:
  - id: a
    pattern: /x/*
    backend: nowhere
    timeout_ms: -5
  - id: b
    pattern: /y/../z
    methods: [FETCH]
    backend: self
    auth: none
    rate_limit_tier: gold
`
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI("validate", "-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{"bad.yaml:4:", "nowhere", "bad.yaml:5:", "timeout_ms", "bad.yaml:7:", "bad.yaml:8:", "FETCH", "bad.yaml:11:", "gold"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestTokenVerifies(t *testing.T) {
	t.Setenv("GATELAB_ROOT", "../..")
	code, out, stderr := runCLI("token", "-sub", "cli_user", "-scopes", "a,b", "-exp", "10m")
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, stderr)
	}
	tok := strings.TrimSpace(out)
	cfg, err := config.Load("../../fixtures/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewJWTVerifier(cfg.Auth.JWT, cfg.BaseDir, auth.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	id, err := v.Verify(tok)
	if err != nil || id.Subject != "cli_user" || id.ScopesHeader != "a b" {
		t.Errorf("verify: %+v %v", id, err)
	}
	// An expired token from the CLI is rejected.
	_, out, _ = runCLI("token", "-sub", "cli_user", "-exp", "-1h")
	if _, err := v.Verify(strings.TrimSpace(out)); err == nil {
		t.Error("expired token accepted")
	}
}
