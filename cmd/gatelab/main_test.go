package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/testproc"
)

// TestMain removes the gatelab binary the process tests build.
func TestMain(m *testing.M) { testproc.Main(m) }

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func commandNames() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := runCLI("frobnicate")
	if code != 2 || strings.Count(stderr, `unknown command "frobnicate"`) != 1 || !strings.Contains(stderr, "serve") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("-frobnicate")
	if code != 2 || strings.Count(stderr, `unknown flag "-frobnicate"`) != 1 {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

// No command: the command list on stderr, exit 2. Asked for help: the list
// on stdout, exit 0; "help CMD" is "CMD -h".
func TestMainUsage(t *testing.T) {
	if code, out, stderr := runCLI(); code != 2 || out != "" || !strings.Contains(stderr, "usage: gatelab") {
		t.Errorf("no args: code %d stdout %q stderr %q", code, out, stderr)
	}
	for _, h := range []string{"-h", "-help", "--help", "help"} {
		code, out, stderr := runCLI(h)
		if code != 0 || stderr != "" || !strings.Contains(out, "usage: gatelab") {
			t.Errorf("%s: code %d stdout %q stderr %q", h, code, out, stderr)
		}
		for _, n := range commandNames() {
			if !strings.Contains(out, "  "+n+" ") {
				t.Errorf("%s: command %s not listed:\n%s", h, n, out)
			}
		}
	}
	code, out, stderr := runCLI("help", "validate")
	_, want, _ := runCLI("validate", "-h")
	if code != 0 || out != want || stderr != "" {
		t.Errorf("help validate: code %d stdout %q stderr %q; want validate -h's %q", code, out, stderr, want)
	}
}

// Every subcommand: -h, -help and --help print its help on stdout (usage
// line and flags) and exit 0, without doing anything else.
func TestHelpEveryCommand(t *testing.T) {
	for _, n := range commandNames() {
		for _, h := range []string{"-h", "-help", "--help"} {
			code, out, stderr := runCLI(n, h)
			if code != 0 || stderr != "" {
				t.Errorf("%s %s: exit %d, stderr %q; want 0 and nothing on stderr", n, h, code, stderr)
			}
			if !strings.Contains(out, "usage: gatelab "+n) || !strings.Contains(out, "Flags:") {
				t.Errorf("%s %s: stdout lacks the usage line or the flags:\n%s", n, h, out)
			}
		}
	}
}

// Every subcommand: an unknown flag or a stray argument is a usage error,
// printed once on stderr with a pointer to -h, exit 2, nothing on stdout.
func TestUsageErrorEveryCommand(t *testing.T) {
	for _, n := range commandNames() {
		args := []string{}
		if n == "token" {
			args = append(args, "-sub", "u") // its one required flag
		}
		for _, c := range []struct {
			args []string
			msg  string
		}{
			{append(slices.Clone(args), "-no-such-flag"), "flag provided but not defined: -no-such-flag"},
			{append(slices.Clone(args), "stray"), `unexpected argument "stray"`},
		} {
			code, out, stderr := runCLI(append([]string{n}, c.args...)...)
			if code != 2 || out != "" {
				t.Errorf("%s %v: exit %d, stdout %q; want 2 and nothing", n, c.args, code, out)
			}
			if got := strings.Count(stderr, c.msg); got != 1 {
				t.Errorf("%s %v: %q printed %d times, want once:\n%s", n, c.args, c.msg, got, stderr)
			}
			if strings.Count(stderr, "Run 'gatelab "+n+" -h' for usage.") != 1 || strings.Contains(stderr, "Flags:") {
				t.Errorf("%s %v: want one pointer to -h and not the whole help:\n%s", n, c.args, stderr)
			}
		}
	}
}

// Bad values and missing required flags are usage errors too.
func TestUsageErrorBadValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"serve", "-drain", "soon"}, `invalid value "soon" for flag -drain`},
		{[]string{"serve", "-log-level", "loud"}, `invalid value "loud" for flag -log-level`},
		{[]string{"serve", "-server", "apache"}, `-server "apache": want one of`},
		{[]string{"serve", "-router", "nope"}, `-router "nope": want one of`},
		{[]string{"serve", "-limiter", "nope"}, `-limiter "nope": want one of`},
		{[]string{"token"}, "-sub is required"},
		{[]string{"upstream", "-error-rate", "2"}, "error_rate"},
		{[]string{"bench", "-profile", "nightly"}, `unknown profile "nightly"`},
	} {
		code, out, stderr := runCLI(c.args...)
		if code != 2 || out != "" || strings.Count(stderr, c.msg) != 1 || !strings.Contains(stderr, "-h' for usage.") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q once", c.args, code, out, stderr, c.msg)
		}
	}
}

// version prints the build information; -version and --version are the
// same command.
func TestVersion(t *testing.T) {
	code, out, stderr := runCLI("version")
	if code != 0 || stderr != "" || !strings.HasPrefix(out, "gatelab ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: code %d stdout %q stderr %q", code, out, stderr)
	}
	for _, alias := range []string{"-version", "--version"} {
		if code, o, _ := runCLI(alias); code != 0 || o != out {
			t.Errorf("%s: code %d stdout %q, want version's %q", alias, code, o, out)
		}
	}
}

// A binary built from a git checkout names the revision it was built from
// (built here with -buildvcs=true: GOFLAGS may turn stamping off).
func TestVersionRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gatelab binary")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout (or no git): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "gatelab")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("gatelab version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "revision  "+strings.TrimSpace(string(head))) || !strings.Contains(string(out), "module    github.com/gatelab/gatelab") {
		t.Errorf("gatelab version does not name module and revision %s:\n%s", head, out)
	}
}

// Defaults that name repository files resolve the same way in every
// command: under $GATELAB_ROOT when set, else found at or above the working
// directory (the tests run in cmd/gatelab, two levels below the fixtures).
func TestRepoFileDefaults(t *testing.T) {
	t.Setenv(EnvRoot, "")
	if code, out, stderr := runCLI("validate"); code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("validate, default config found above: code %d out %q stderr %q", code, out, stderr)
	}
	if code, out, stderr := runCLI("token", "-sub", "u"); code != 0 || strings.Count(out, ".") != 2 {
		t.Errorf("token, default key found above: code %d out %q stderr %q", code, out, stderr)
	}
	// $GATELAB_ROOT wins, for validate's (and serve's) config as for token's key.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "fixtures"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "fixtures", "gateway.yaml"), []byte("routes:\n  - id: a\n    pattern: /x\n    backend: nowhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvRoot, root)
	if code, out, _ := runCLI("validate"); code != 1 || !strings.Contains(out, filepath.Join(root, "fixtures", "gateway.yaml")) {
		t.Errorf("validate with %s=%s: code %d out %q; want the problems of that root's config", EnvRoot, root, code, out)
	}
	if code, _, stderr := runCLI("token", "-sub", "u"); code != 1 || !strings.Contains(stderr, "rsa.pem not found") {
		t.Errorf("token with %s=%s (no key there): code %d stderr %q", EnvRoot, root, code, stderr)
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
