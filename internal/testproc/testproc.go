package testproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/fleet"
)

// EnvBinary names the environment variable that, when set, gives the gatelab
// binary to run instead of building one.
const EnvBinary = "GATELAB_BIN"

const modulePath = "github.com/gatelab/gatelab"

// StopGrace is how long a process gets to exit after SIGTERM before SIGKILL.
// It is above the longest drain the tests configure (-drain-delay plus
// -drain, 5.3 s in the rolling restart): a node still finishing its
// requests legitimately must not be killed as if it hung.
const StopGrace = 10 * time.Second

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of a gatelab binary: $GATELAB_BIN if set, otherwise
// one built from this repository's ./cmd/gatelab, once per test binary.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		abs, err := filepath.Abs(p)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			t.Fatalf("testproc: %s=%q: %v", EnvBinary, p, err)
		}
		return abs
	}
	build.once.Do(func() { build.path, build.err = buildBinary() })
	if build.err != nil {
		t.Fatalf("testproc: %v", build.err)
	}
	return build.path
}

func buildBinary() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "gatelab-testproc-")
	if err != nil {
		return "", err
	}
	build.dir = dir
	name := "gatelab"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, modulePath+"/cmd/gatelab")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s/cmd/gatelab: %v\n%s", modulePath, err, b)
	}
	return out, nil
}

// repoRoot walks up from the working directory to the go.mod of this module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modFileIs(b, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory (set %s to use a built binary)", modulePath, EnvBinary)
		}
		dir = parent
	}
}

func modFileIs(gomod []byte, module string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == module
		}
	}
	return false
}

// Main runs the tests and then removes the binary Binary built, then exits.
// Call it from TestMain; without it the binary's temporary directory is left
// behind.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// FreeAddr returns a 127.0.0.1:port that was free a moment ago, below the
// kernel's ephemeral range (fleet.FreePort). Another process can take it
// before it is used; prefer "-listen 127.0.0.1:0" and reading the address a
// process prints when that is possible.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := fleet.FreePort()
	if err != nil {
		t.Fatalf("testproc: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// readyTimeout bounds the wait for the address line of StartUpstream and
// StartServe.
const readyTimeout = 30 * time.Second

// ringLines is how many output lines a test process keeps: enough for any
// test's whole output.
const ringLines = 1 << 16

// Proc is a running gatelab process started by Start.
type Proc struct {
	t    testing.TB
	args []string
	fp   *fleet.Proc
}

// Start runs the gatelab binary with args. Its stdout and stderr are captured;
// when the test ends the process is stopped (SIGTERM, then SIGKILL of its
// process group after StopGrace) and, if the test failed, its output is
// logged.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	return start(t, nil, args)
}

// start runs gatelab with args through fleet and returns once a line
// matching ready appeared (at once when ready is nil).
func start(t testing.TB, ready *regexp.Regexp, args []string) *Proc {
	t.Helper()
	fp, err := fleet.Start(context.Background(), fleet.Spec{
		Name:         "gatelab " + strings.Join(args, " "),
		Path:         Binary(t),
		Args:         args,
		Ready:        ready,
		ReadyTimeout: readyTimeout,
		RingLines:    ringLines,
	})
	if err != nil {
		t.Fatalf("testproc: %v", err)
	}
	p := &Proc{t: t, args: args, fp: fp}
	t.Cleanup(func() {
		if err := fp.Stop(StopGrace); err != nil {
			t.Errorf("testproc: %v", err)
		}
		if t.Failed() {
			out := p.Output()
			if n := fp.Lines(); n > ringLines {
				out = fmt.Sprintf("[the first %d lines were not kept]\n%s", n-ringLines, out)
			}
			t.Logf("gatelab %s (%s) output:\n%s", strings.Join(p.args, " "), p.state(), out)
		}
	})
	return p
}

// Fleet returns the supervised process, for what testproc does not wrap
// (PIDs, Usage, WaitLine with submatches).
func (p *Proc) Fleet() *fleet.Proc { return p.fp }

// Output returns the lines the process wrote so far, stdout and stderr
// interleaved in arrival order, joined with "\n".
func (p *Proc) Output() string { return p.fp.Output() }

// Stdout returns the lines the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.fp.Stdout() }

// Stderr returns the lines the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.fp.Stderr() }

// Done is closed once the process has exited and all its output is captured.
func (p *Proc) Done() <-chan struct{} { return p.fp.Done() }

// Stop sends SIGTERM, waits up to StopGrace, then kills the process group,
// and returns how the process exited (nil for exit status 0, as from
// exec.Cmd.Wait). If the process had already exited it just returns that.
// Safe to call more than once.
func (p *Proc) Stop() error {
	if err := p.fp.Stop(StopGrace); err != nil {
		return err
	}
	return p.fp.ExitErr()
}

func (p *Proc) state() string {
	if exited, how := p.fp.Exited(); exited {
		return how
	}
	return "running"
}

// WaitOutput waits until a line of the process's stdout or stderr contains
// substr and fails the test if none does within timeout or the process exits
// first. substr lies within one line; a trailing "\n" means the line ends
// with it, a leading "\n" that the line starts with it. Lines already
// printed count; it wakes on every new line, nothing polls.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) {
	p.t.Helper()
	re, err := lineRegexp(substr)
	if err != nil {
		p.t.Fatalf("testproc: %v", err)
	}
	if _, err := p.fp.WaitLine(context.Background(), re, timeout); err != nil {
		p.t.Fatalf("testproc: %v", err)
	}
}

// lineRegexp turns WaitOutput's substring into a pattern for one line.
func lineRegexp(substr string) (*regexp.Regexp, error) {
	s, atEnd := strings.CutSuffix(substr, "\n")
	s, atStart := strings.CutPrefix(s, "\n")
	if strings.Contains(s, "\n") {
		return nil, fmt.Errorf("waiting for output %q: it spans lines; WaitOutput matches within one line", substr)
	}
	expr := regexp.QuoteMeta(s)
	if atStart {
		expr = "^" + expr
	}
	if atEnd {
		expr += "$"
	}
	return regexp.Compile(expr)
}

// WaitHTTP is WaitHTTP that also gives up as soon as the process exits.
func (p *Proc) WaitHTTP(url string, timeout time.Duration) {
	p.t.Helper()
	if err := pollHTTP(url, timeout, p.fp.Done()); err != nil {
		p.t.Fatalf("testproc: gatelab %s (%s): %v (output logged at cleanup)",
			strings.Join(p.args, " "), p.state(), err)
	}
}

// WaitHTTP polls url with GET until any HTTP response arrives, and fails the
// test if none does within timeout. (The output of processes started with
// Start is logged when the test fails.)
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	if err := pollHTTP(url, timeout, nil); err != nil {
		t.Fatalf("testproc: %v", err)
	}
}

var errExited = errors.New("process exited")

func pollHTTP(url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	interval := 2 * time.Millisecond
	for {
		client.Timeout = max(min(time.Until(deadline), time.Second), time.Millisecond)
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("no HTTP response from %s within %v: %v", url, timeout, err)
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-t.C:
		case <-exited:
			t.Stop()
			return fmt.Errorf("waiting for %s: %w (last error: %v)", url, errExited, err)
		}
		interval = min(interval*2, 50*time.Millisecond)
	}
}

// upstreamLine is the line "gatelab upstream -name NAME" prints once it
// listens; the submatch is its base URL.
func upstreamLine(name string) *regexp.Regexp {
	return regexp.MustCompile(`^upstream ` + regexp.QuoteMeta(name) + ` listening on (http://\S+)$`)
}

// StartUpstream runs "gatelab upstream -name NAME" on a free loopback port,
// waits until it is listening, and returns its base URL (http://127.0.0.1:PORT).
func StartUpstream(t testing.TB, name string) (url string) {
	t.Helper()
	return StartUpstreamArgs(t, name)
}

// StartUpstreamArgs is StartUpstream with more "gatelab upstream" flags
// (-static, -max-conn-requests N, -idle-timeout D, ...).
func StartUpstreamArgs(t testing.TB, name string, flags ...string) (url string) {
	t.Helper()
	// Port 0 and the address from the listening line: no window in which
	// another process could take a port picked in advance.
	p := start(t, upstreamLine(name), append([]string{"upstream", "-listen", "127.0.0.1:0", "-name", name}, flags...))
	return p.fp.Ready()[1]
}

// Serve is a running "gatelab serve" process and the addresses it printed.
type Serve struct {
	*Proc
	Traffic string // host:port of the traffic listener
	Admin   string // host:port of the admin listener
}

// servingLine is the line "gatelab serve" prints once it serves:
// "gatelab serving on http://T (admin http://A) ...".
var servingLine = regexp.MustCompile(`gatelab serving on http://(\S+) \(admin http://([^)\s]+)\)`)

// StartServe runs "gatelab serve" with args plus "-listen 127.0.0.1:0
// -admin 127.0.0.1:0" (unless args set them), waits for its "gatelab serving
// on" line and returns the addresses it printed.
func StartServe(t testing.TB, args ...string) *Serve {
	t.Helper()
	full := append([]string{"serve"}, args...)
	if !slices.Contains(args, "-listen") {
		full = append(full, "-listen", "127.0.0.1:0")
	}
	if !slices.Contains(args, "-admin") {
		full = append(full, "-admin", "127.0.0.1:0")
	}
	p := start(t, servingLine, full)
	m := p.fp.Ready()
	return &Serve{Proc: p, Traffic: m[1], Admin: m[2]}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.fp.Signal(sig) }

// Freeze stops the process group with SIGSTOP and returns once the kernel
// reports it stopped (a hung backend: connections are accepted by the
// kernel, nothing answers). Signal delivery is asynchronous, so without the
// wait a request sent just after the signal could still be answered.
func (p *Proc) Freeze() error { return p.fp.Freeze() }

// Thaw resumes a process stopped by Freeze.
func (p *Proc) Thaw() error { return p.fp.Thaw() }
