// Package testproc runs real gatelab processes for integration tests over
// loopback.
//
// Binary builds ./cmd/gatelab once per test binary (or uses $GATELAB_BIN);
// Start runs it with arguments, captures its stdout and stderr, dumps them
// into the test log if the test fails, and stops the process when the test
// ends. WaitOutput waits for a line the process prints (signalled on every
// write, no polling); WaitHTTP polls a URL for processes that print nothing
// useful. StartUpstream runs "gatelab upstream" and returns its URL.
//
// The built binary lives in a temporary directory that the package removes
// only if the test binary's TestMain calls Main:
//
//	func TestMain(m *testing.M) { testproc.Main(m) }
//
// The helpers that fail the test call t.Fatal, so call them from the test's
// goroutine.
package testproc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvBinary names the environment variable that, when set, gives the gatelab
// binary to run instead of building one.
const EnvBinary = "GATELAB_BIN"

const modulePath = "github.com/gatelab/gatelab"

// StopGrace is how long a process gets to exit after SIGTERM before SIGKILL.
const StopGrace = 5 * time.Second

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

// FreeAddr returns a 127.0.0.1:port that was free a moment ago. Another
// process can take it before it is used; prefer "-listen 127.0.0.1:0" and
// reading the address a process prints when that is possible.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testproc: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Proc is a running gatelab process started by Start.
type Proc struct {
	t    testing.TB
	args []string
	cmd  *exec.Cmd
	out  *capture

	done    chan struct{} // closed when the process has exited and its output is in
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// Start runs the gatelab binary with args. Its stdout and stderr are captured;
// when the test ends the process is stopped (SIGTERM, then SIGKILL after
// StopGrace) and, if the test failed, its output is logged.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	bin := Binary(t)
	p := &Proc{
		t:    t,
		args: args,
		cmd:  exec.Command(bin, args...),
		out:  newCapture(),
		done: make(chan struct{}),
	}
	p.cmd.Stdout = streamWriter{p.out, &p.out.stdout}
	p.cmd.Stderr = streamWriter{p.out, &p.out.stderr}
	// If a child of the process keeps the pipes open, do not hang in Wait.
	p.cmd.WaitDelay = StopGrace
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testproc: starting gatelab %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("gatelab %s (%s) output:\n%s", strings.Join(p.args, " "), p.state(), p.Output())
		}
	})
	return p
}

// Output returns everything the process wrote so far, stdout and stderr
// interleaved in arrival order.
func (p *Proc) Output() string { return p.out.get(&p.out.all) }

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.out.get(&p.out.stdout) }

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string { return p.out.get(&p.out.stderr) }

// Done is closed once the process has exited and all its output is captured.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, waits up to StopGrace, then kills the process, and
// returns how it exited (nil for exit status 0, as from exec.Cmd.Wait). If the
// process had already exited it just returns that. Safe to call more than once.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
		default:
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				p.cmd.Process.Kill() // e.g. Windows, where SIGTERM is unsupported
			}
			t := time.NewTimer(StopGrace)
			select {
			case <-p.done:
				t.Stop()
			case <-t.C:
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		p.stopErr = p.waitErr
	})
	return p.stopErr
}

func (p *Proc) state() string {
	select {
	case <-p.done:
		if p.waitErr == nil {
			return "exited with status 0"
		}
		return p.waitErr.Error()
	default:
		return "running"
	}
}

// WaitOutput waits until substr appears in the process's stdout or stderr and
// fails the test if it does not within timeout or the process exits first
// (the process output is then logged by Start's cleanup). It wakes on every
// write; nothing polls.
func (p *Proc) WaitOutput(substr string, timeout time.Duration) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("print %q", substr), timeout, func(stdout, stderr string) bool {
		return strings.Contains(stdout, substr) || strings.Contains(stderr, substr)
	})
}

// waitFor waits until cond holds for the output captured so far, re-checking
// on every write, and fails the test on timeout or process exit.
func (p *Proc) waitFor(what string, timeout time.Duration, cond func(stdout, stderr string) bool) {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ok, changed := p.out.check(cond)
		if ok {
			return
		}
		select {
		case <-changed:
		case <-p.done:
			if ok, _ := p.out.check(cond); ok {
				return
			}
			p.t.Fatalf("testproc: gatelab %s %s before it did %s (output logged at cleanup)",
				strings.Join(p.args, " "), p.state(), what)
		case <-timer.C:
			p.t.Fatalf("testproc: gatelab %s did not %s within %v (output logged at cleanup)",
				strings.Join(p.args, " "), what, timeout)
		}
	}
}

// WaitHTTP is WaitHTTP that also gives up as soon as the process exits.
func (p *Proc) WaitHTTP(url string, timeout time.Duration) {
	p.t.Helper()
	if err := pollHTTP(url, timeout, p.done); err != nil {
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

// StartUpstream runs "gatelab upstream -name NAME" on a free loopback port,
// waits until it is listening, and returns its base URL (http://127.0.0.1:PORT).
func StartUpstream(t testing.TB, name string) (url string) {
	t.Helper()
	// Port 0 and the address from the listening line: no window in which
	// another process could take a port picked in advance.
	p := Start(t, "upstream", "-listen", "127.0.0.1:0", "-name", name)
	prefix := "upstream " + name + " listening on "
	p.waitFor(fmt.Sprintf("print a %q line", prefix), 30*time.Second, func(stdout, _ string) bool {
		url = listeningURL(stdout, prefix)
		return url != ""
	})
	return url
}

// listeningURL returns the URL from the first complete line of out that starts
// with prefix followed by http://, or "".
func listeningURL(out, prefix string) string {
	for {
		line, rest, complete := strings.Cut(out, "\n")
		if !complete {
			return ""
		}
		if u, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), prefix); ok && strings.HasPrefix(u, "http://") {
			return u
		}
		out = rest
	}
}

// capture collects a process's output and wakes waiters on every write.
type capture struct {
	mu      sync.Mutex
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	all     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newCapture() *capture { return &capture{changed: make(chan struct{})} }

func (c *capture) get(b *bytes.Buffer) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return b.String()
}

// check evaluates cond on the output so far and returns a channel that is
// closed at the next write.
func (c *capture) check(cond func(stdout, stderr string) bool) (bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cond(c.stdout.String(), c.stderr.String()), c.changed
}

// streamWriter writes one of a capture's streams (and the interleaved copy).
type streamWriter struct {
	c      *capture
	stream *bytes.Buffer
}

func (w streamWriter) Write(b []byte) (int, error) {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	w.stream.Write(b)
	w.c.all.Write(b)
	close(w.c.changed)
	w.c.changed = make(chan struct{})
	return len(b), nil
}

// Serve is a running "gatelab serve" process and the addresses it printed.
type Serve struct {
	*Proc
	Traffic string // host:port of the traffic listener
	Admin   string // host:port of the admin listener
}

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
	s := &Serve{Proc: Start(t, full...)}
	s.waitFor(`print its "gatelab serving on" line`, 30*time.Second, func(_, stderr string) bool {
		s.Traffic, s.Admin = servingAddrs(stderr)
		return s.Traffic != ""
	})
	return s
}

// servingAddrs parses "gatelab serving on http://T (admin http://A) ...".
func servingAddrs(out string) (traffic, admin string) {
	const prefix = "gatelab serving on http://"
	i := strings.Index(out, prefix)
	if i < 0 {
		return "", ""
	}
	line, _, complete := strings.Cut(out[i+len(prefix):], "\n")
	if !complete {
		return "", ""
	}
	traffic, rest, ok := strings.Cut(line, " (admin http://")
	if !ok {
		return "", ""
	}
	admin, _, ok = strings.Cut(rest, ")")
	if !ok {
		return "", ""
	}
	return traffic, admin
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Freeze stops the process with SIGSTOP and returns once the kernel reports
// it stopped (a hung backend: connections are accepted by the kernel,
// nothing answers). Signal delivery is asynchronous, so without the wait a
// request sent just after the signal could still be answered.
func (p *Proc) Freeze() error {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	stat := fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(stat)
		if err != nil {
			return nil // no procfs: nothing better to wait on
		}
		// pid (comm) state ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("pid %d not stopped 5s after SIGSTOP", p.cmd.Process.Pid)
}

// Thaw resumes a process stopped by Freeze.
func (p *Proc) Thaw() error { return p.cmd.Process.Signal(syscall.SIGCONT) }
