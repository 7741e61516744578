package compare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of the process lifecycle. Every wait is bounded by one of them.
const (
	startTimeout = 30 * time.Second // until a process says (or shows) it is ready
	stopGrace    = 5 * time.Second  // SIGTERM to SIGKILL
	killWait     = 5 * time.Second  // SIGKILL to giving up on Wait
	outputCap    = 1 << 20          // bytes of console output kept per process
)

// proc is one child process with its console output captured.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *console

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
}

// startProc starts bin with args. The child gets its own process group (so a
// terminal's Ctrl-C reaches only the compare process, which then stops its
// children in order) and is killed by the kernel if this process dies.
func startProc(name, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, out: newConsole(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out.stream(&p.out.stdout)
	p.cmd.Stderr = p.out.stream(&p.out.stderr)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p.cmd.WaitDelay = killWait
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited, and how.
func (p *proc) exited() (bool, string) {
	select {
	case <-p.done:
		if p.waitErr == nil {
			return true, "exited with status 0"
		}
		return true, p.waitErr.Error()
	default:
		return false, ""
	}
}

// stop sends SIGTERM, waits up to stopGrace, then SIGKILLs the process group.
// Safe to call more than once.
func (p *proc) stop() {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			// The whole group: nginx workers go with their master.
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			k := time.NewTimer(killWait)
			defer k.Stop()
			select {
			case <-p.done:
			case <-k.C:
			}
		}
	})
}

// waitOutput waits until re matches a complete line of the process's stdout
// or stderr, and returns the submatches. It fails when the process exits
// first, when timeout passes, or when ctx ends.
func (p *proc) waitOutput(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		m, changed := p.out.find(re)
		if m != nil {
			return m, nil
		}
		select {
		case <-changed:
		case <-p.done:
			if m, _ := p.out.find(re); m != nil {
				return m, nil
			}
			_, how := p.exited()
			return nil, fmt.Errorf("%s %s before printing a line matching %q; output:\n%s", p.name, how, re, p.out.tail(4096))
		case <-t.C:
			return nil, fmt.Errorf("%s printed no line matching %q within %v; output:\n%s", p.name, re, timeout, p.out.tail(4096))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waitHTTP polls url with GET until it answers with want (0: any status), the
// process exits, timeout passes or ctx ends. Polling backs off from 5ms to
// 100ms.
func (p *proc) waitHTTP(ctx context.Context, url string, want int, timeout time.Duration) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}, Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	interval := 5 * time.Millisecond
	var last string
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if want == 0 || resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s from %s within %v (last: %s); output:\n%s",
				p.name, statusWord(want), url, timeout, last, p.out.tail(4096))
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			_, how := p.exited()
			return fmt.Errorf("%s %s while waiting for %s (last: %s); output:\n%s", p.name, how, url, last, p.out.tail(4096))
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		interval = min(interval*2, 100*time.Millisecond)
	}
}

func statusWord(want int) string {
	if want == 0 {
		return "HTTP response"
	}
	return fmt.Sprintf("%d answer", want)
}

// freeAddr returns a 127.0.0.1 address that was free a moment ago. Only for
// nginx, which cannot report a port it picked itself.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// console keeps a process's output (up to outputCap bytes per stream) and
// wakes waiters on every write.
type console struct {
	mu      sync.Mutex
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	all     bytes.Buffer
	dropped int
	changed chan struct{}
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

type consoleStream struct {
	c   *console
	buf *bytes.Buffer
}

func (c *console) stream(buf *bytes.Buffer) consoleStream { return consoleStream{c, buf} }

func (w consoleStream) Write(b []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := b
	if room := outputCap - w.buf.Len(); room < len(keep) {
		keep = keep[:max(room, 0)]
		c.dropped += len(b) - len(keep)
	}
	w.buf.Write(keep)
	if c.all.Len() < 2*outputCap {
		c.all.Write(keep)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return len(b), nil
}

// find matches re against every complete line of stdout and stderr.
func (c *console) find(re *regexp.Regexp) ([]string, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range []*bytes.Buffer{&c.stdout, &c.stderr} {
		s := b.String()
		i := strings.LastIndexByte(s, '\n')
		if i < 0 {
			continue // no complete line yet
		}
		for _, line := range strings.Split(s[:i], "\n") {
			if m := re.FindStringSubmatch(strings.TrimSuffix(line, "\r")); m != nil {
				return m, c.changed
			}
		}
	}
	return nil, c.changed
}

// text returns everything captured, stdout and stderr interleaved.
func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.all.String()
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[gatelab compare: %d more bytes of output not kept]\n", c.dropped)
	}
	return s
}

// tail returns the last n bytes of the output.
func (c *console) tail(n int) string {
	s := c.text()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}

// errNotInstalled marks a target whose program is missing.
var errNotInstalled = errors.New("not installed")

// findNginx returns the nginx binary to use.
func findNginx(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("nginx %s: %w", flag, errNotInstalled)
		}
		return flag, nil
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("nginx: not on PATH nor in /usr/sbin: %w", errNotInstalled)
}
