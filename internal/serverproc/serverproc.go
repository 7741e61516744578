package serverproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RingLog keeps the last Max lines of a server's output. Safe for
// concurrent use; the zero value keeps nothing (set Max).
type RingLog struct {
	Max   int
	mu    sync.Mutex
	lines []string
}

// Add appends a line, dropping the oldest beyond Max.
func (l *RingLog) Add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Max <= 0 {
		return
	}
	if len(l.lines) == l.Max {
		copy(l.lines, l.lines[1:])
		l.lines = l.lines[:l.Max-1]
	}
	l.lines = append(l.lines, s)
}

// String is the kept lines joined by newlines.
func (l *RingLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// FreePort returns a port on 127.0.0.1 that nothing listens on, taken below
// the kernel's ephemeral range so that no outgoing connection can be holding
// it when a server (re)binds it.
func FreePort() (int, error) {
	lo, hi := 20000, ephemeralLow()
	if hi-lo < 1000 {
		lo, hi = 10000, 20000
	}
	var err error
	for range 100 {
		p := lo + rand.IntN(hi-lo)
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in [%d, %d): %w", lo, hi, err)
}

// ephemeralLow is the lower bound of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

// Kill sends SIGKILL to cmd's process unless done (closed when the process
// has been waited for) is already closed, and waits up to 10 s for done.
func Kill(cmd *exec.Cmd, done <-chan struct{}, name string) error {
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		return fmt.Errorf("%s pid %d did not exit after SIGKILL", name, cmd.Process.Pid)
	}
}

// Running is a server started by Run.
type Running struct {
	Cmd *exec.Cmd
	// Done is closed once the process has exited and its output is read.
	Done <-chan struct{}
	// Ready is closed when a line containing the ready text appeared
	// (never, when that text is empty).
	Ready <-chan struct{}
}

// Run starts cmd with its stdout and stderr going, line by line, into out,
// with the parent-death signal set. ready is the text of the output line
// that says the server is ready ("" when readiness is checked otherwise).
func Run(cmd *exec.Cmd, out *RingLog, ready string) (*Running, error) {
	SetProcAttr(cmd)
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close()
	readyc := make(chan struct{})
	done := make(chan struct{})
	go func() {
		// Output ends when the process (the only other holder of w) exits.
		var once sync.Once
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			out.Add(line)
			if ready != "" && strings.Contains(line, ready) {
				once.Do(func() { close(readyc) })
			}
		}
		io.Copy(io.Discard, r) // an over-long line stops the scanner: keep draining
		r.Close()
		cmd.Wait()
		close(done)
	}()
	return &Running{Cmd: cmd, Done: done, Ready: readyc}, nil
}
