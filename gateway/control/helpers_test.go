package control

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// waitTimeout bounds every wait on a hook or an audit entry.
const waitTimeout = 15 * time.Second

// Secrets of the test configs. None of them, nor their hashes, may appear in
// an audit line or a log message.
const (
	opsToken     = "adm_test_ops_4f1c9b"
	deployToken  = "adm_test_deploy_77e2"
	partnerKey   = "glk_test_partner_b81d"
	unknownToken = "adm_test_nobody_0000"
)

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// secrets lists every string that must never be written by the package.
func secrets() []string {
	return []string{opsToken, deployToken, partnerKey, unknownToken,
		hashOf(opsToken), hashOf(deployToken), hashOf(partnerKey),
		strings.ToUpper(hashOf(opsToken))}
}

// spec renders a valid config; tests change fields to make variants.
type spec struct {
	Version  int64
	Tokens   []string // admin token names: "ops" or "deploy"
	Backends []string // backend names, each with one instance
	Routes   []route
	Tiers    []tier
	Shedding float64 // shedding.p3 when non-zero
	Extra    string  // appended as is (top-level YAML)
}

type route struct{ ID, Pattern, Backend, Tier string }
type tier struct {
	Name  string
	Limit int
}

// baseSpec: two admin tokens, two backends, two routes, one tier.
func baseSpec(version int64) spec {
	return spec{
		Version:  version,
		Tokens:   []string{"ops", "deploy"},
		Backends: []string{"users", "orders"},
		Routes: []route{
			{"users", "/api/users/*", "users", "basic"},
			{"orders", "/api/orders/*", "orders", ""},
		},
		Tiers: []tier{{"basic", 100}},
	}
}

func (s spec) yaml() []byte {
	var b strings.Builder
	if s.Version != 0 {
		fmt.Fprintf(&b, "version: %d\n", s.Version)
	}
	b.WriteString("admin:\n  audit_log: \"off\"\n")
	if len(s.Tokens) > 0 {
		b.WriteString("  tokens:\n")
		for _, t := range s.Tokens {
			secret := map[string]string{"ops": opsToken, "deploy": deployToken}[t]
			fmt.Fprintf(&b, "    - id: %s\n      sha256: %s\n", t, hashOf(secret))
		}
	}
	fmt.Fprintf(&b, "auth:\n  api_keys:\n    - id: partner\n      sha256: %s\n      partner_id: p42\n", hashOf(partnerKey))
	if len(s.Tiers) > 0 {
		b.WriteString("rate_limits:\n  tiers:\n")
		for _, t := range s.Tiers {
			fmt.Fprintf(&b, "    - name: %s\n      limit: %d\n      window: 1m\n      key: client_ip\n", t.Name, t.Limit)
		}
	}
	b.WriteString("backends:\n")
	for i, n := range s.Backends {
		fmt.Fprintf(&b, "  - name: %s\n    instances:\n      - url: http://127.0.0.1:%d\n", n, 9100+i)
	}
	b.WriteString("routes:\n")
	for _, r := range s.Routes {
		fmt.Fprintf(&b, "  - id: %s\n    pattern: %s\n    backend: %s\n    auth: none\n", r.ID, r.Pattern, r.Backend)
		if r.Tier != "" {
			fmt.Fprintf(&b, "    rate_limit_tier: %s\n", r.Tier)
		}
	}
	if s.Shedding != 0 {
		fmt.Fprintf(&b, "shedding:\n  p3: %g\n", s.Shedding)
	}
	b.WriteString(s.Extra)
	return []byte(b.String())
}

// invalidYAML has five problems on five lines: an unknown key, a pattern
// without '/', an unknown backend, an unknown tier and a negative limit.
const invalidYAML = `admin:
  audit_log: "off"
  colour: blue
rate_limits:
  tiers:
    - name: basic
      limit: -5
      window: 1m
      key: client_ip
backends:
  - name: users
    instances:
      - url: http://127.0.0.1:9101
routes:
  - id: users
    pattern: api/users
    backend: users
    auth: none
  - id: orders
    pattern: /api/orders/*
    backend: nowhere
    auth: none
    rate_limit_tier: gold
`

// fakeTarget is the node: it records what it applied and can be told to
// fail.
type fakeTarget struct {
	mu      sync.Mutex
	version int64
	applied []int64
	fail    error
}

func (f *fakeTarget) Version() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version
}

func (f *fakeTarget) Apply(c *config.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.version = c.Version
	f.applied = append(f.applied, c.Version)
	return nil
}

func (f *fakeTarget) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeTarget) appliedVersions() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.applied...)
}

// auditLog is an Options.Audit that parses every line and hands it to the
// test on a channel.
type auditLog struct {
	t       testing.TB
	mu      sync.Mutex
	buf     bytes.Buffer
	entries chan map[string]any
}

func newAuditLog(t testing.TB) *auditLog {
	return &auditLog{t: t, entries: make(chan map[string]any, 1000)}
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	a.buf.Write(p)
	a.mu.Unlock()
	if !bytes.HasSuffix(p, []byte("\n")) || bytes.Count(p, []byte("\n")) != 1 {
		a.t.Errorf("audit write is not exactly one line: %q", p)
	}
	var e map[string]any
	if err := json.Unmarshal(p, &e); err != nil {
		a.t.Errorf("audit line is not JSON: %v: %q", err, p)
	}
	a.entries <- e
	return len(p), nil
}

func (a *auditLog) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.String()
}

// next returns the next audit entry, failing after waitTimeout.
func (a *auditLog) next(t testing.TB) map[string]any {
	t.Helper()
	select {
	case e := <-a.entries:
		return e
	case <-time.After(waitTimeout):
		t.Fatalf("no audit entry within %v", waitTimeout)
		return nil
	}
}

// nextWith skips entries until one has result (and source, if not empty).
func (a *auditLog) nextWith(t testing.TB, result, source string) map[string]any {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case e := <-a.entries:
			if e["result"] == result && (source == "" || e["source"] == source) {
				return e
			}
		case <-deadline:
			t.Fatalf("no audit entry with result %q source %q within %v", result, source, waitTimeout)
			return nil
		}
	}
}

// none reports whether no entry is queued right now.
func (a *auditLog) none() bool { return len(a.entries) == 0 }

// logs collects the Manager's log records, to check they hold no secret.
type logs struct {
	mu    sync.Mutex
	buf   strings.Builder
	t     testing.TB
	lines chan string
}

// Write takes one record from the slog text handler.
func (l *logs) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	l.mu.Lock()
	l.buf.WriteString(msg + "\n")
	l.mu.Unlock()
	l.t.Log(msg)
	select {
	case l.lines <- msg:
	default:
	}
	return len(p), nil
}

// waitFor waits for a message containing substr.
func (l *logs) waitFor(t testing.TB, substr string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case msg := <-l.lines:
			if strings.Contains(msg, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no log message with %q within %v", substr, waitTimeout)
		}
	}
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// env is a Manager on a fake target with hooks wired to channels.
type env struct {
	m       *Manager
	target  *fakeTarget
	audit   *auditLog
	logs    *logs
	applied chan Applied
	state   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{
		target:  &fakeTarget{},
		audit:   newAuditLog(t),
		logs:    &logs{t: t, lines: make(chan string, 1000)},
		applied: make(chan Applied, 1000),
		state:   t.TempDir(),
	}
	e.m = New(Options{
		Target:   e.target,
		BaseDir:  t.TempDir(),
		StateDir: e.state,
		Audit:    e.audit,
		Applied:  func(ev Applied) { e.applied <- ev },
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(func() {
		for _, s := range secrets() {
			if strings.Contains(e.audit.String(), s) {
				t.Errorf("the audit log holds the secret %q:\n%s", s, e.audit.String())
			}
			if strings.Contains(e.logs.String(), s) {
				t.Errorf("the log holds the secret %q", s)
			}
		}
	})
	return e
}

// waitApplied waits until the Applied hook reports version, and returns the
// events seen on the way (version's last).
func (e *env) waitApplied(t testing.TB, version int64) []Applied {
	t.Helper()
	var seen []Applied
	deadline := time.After(waitTimeout)
	for {
		select {
		case ev := <-e.applied:
			seen = append(seen, ev)
			if ev.Version == version {
				return seen
			}
			if ev.Version > version {
				t.Fatalf("applied version %d, past the awaited %d", ev.Version, version)
			}
		case <-deadline:
			v, _ := e.m.Current()
			t.Fatalf("version %d not applied within %v (serving %d; applied so far %v)", version, waitTimeout, v, e.target.appliedVersions())
			return nil
		}
	}
}

// mustSubmit submits raw and fails on error.
func (e *env) mustSubmit(t testing.TB, raw []byte, sub Submission) Result {
	t.Helper()
	res, err := e.m.Submit(raw, sub)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return res
}

// noGoroutine waits (boundedly) until no goroutine runs a function whose
// name contains one of frames: what a stopped watcher must leave behind.
func noGoroutine(t testing.TB, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var found string
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		found = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "noGoroutine") {
				continue
			}
			for _, f := range frames {
				if strings.Contains(g, f) {
					found = g
				}
			}
		}
		if found == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine is left behind:\n%s", found)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}

func isProblems(err error) (config.Problems, bool) {
	var ps config.Problems
	ok := errors.As(err, &ps)
	return ps, ok
}
