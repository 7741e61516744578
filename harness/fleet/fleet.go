package fleet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults and bounds of the process lifecycle.
const (
	DefaultReadyTimeout = 30 * time.Second // Spec.ReadyTimeout when zero
	DefaultRingLines    = 200              // Spec.RingLines when zero

	// KillWait bounds the wait for a process to exit after SIGKILL.
	KillWait = 10 * time.Second
	// DrainWait bounds the wait for the output pipes to close after the
	// process exited (a descendant outside the group may hold them).
	DrainWait = 2 * time.Second
	// stateWait bounds Freeze's and Thaw's wait for /proc to show the change.
	stateWait = 5 * time.Second
	// tailLines is how many of the last output lines errors carry.
	tailLines = 40
	// maxLine is the longest line kept whole; longer ones are split.
	maxLine = 64 << 10
)

// Sentinel errors, wrapped by Start and WaitLine.
var (
	// ErrExited: the process exited before printing the awaited line (or
	// before the operation).
	ErrExited = errors.New("process exited")
	// ErrTimeout: the awaited line did not come within the timeout.
	ErrTimeout = errors.New("timed out")
)

// Spec describes a process to run.
type Spec struct {
	Name         string         // for messages and log file names (default: the binary's base name)
	Path         string         // binary
	Args         []string       // arguments, without the program name
	Env          []string       // appended to os.Environ()
	Dir          string         // working directory ("" = the current one)
	Ready        *regexp.Regexp // a line of stdout/stderr matching it = ready (nil: ready at once)
	ReadyTimeout time.Duration  // default DefaultReadyTimeout
	LogFile      string         // optional: every output line is also appended here
	RingLines    int            // lines kept in memory (default DefaultRingLines)
}

// Proc is a process started by Start.
type Proc struct {
	spec  Spec
	cmd   *exec.Cmd
	pid   int
	out   *output
	ready []string

	done    chan struct{} // closed after exit and output drained
	exitErr error         // set before done is closed

	stopMu  sync.Mutex
	stopped bool
	stopErr error
}

// Start runs s and waits for its ready line. The process gets its own
// process group and the parent-death signal SIGKILL. If it exits before the
// ready line, the ready timeout passes or ctx ends, Start kills the group and
// returns an error with the last lines of output (wrapping ErrExited,
// ErrTimeout or ctx's error). ctx bounds only the start.
func Start(ctx context.Context, s Spec) (*Proc, error) {
	if s.Path == "" {
		return nil, errors.New("starting a process: Spec.Path is empty")
	}
	if s.Name == "" {
		s.Name = filepath.Base(s.Path)
	}
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = DefaultReadyTimeout
	}
	if s.RingLines <= 0 {
		s.RingLines = DefaultRingLines
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}

	var log *os.File
	if s.LogFile != "" {
		f, err := os.OpenFile(s.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("starting %s: opening its log file: %w", s.Name, err)
		}
		log = f
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(log)
		return nil, fmt.Errorf("starting %s: making a pipe: %w", s.Name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(log, outR, outW)
		return nil, fmt.Errorf("starting %s: making a pipe: %w", s.Name, err)
	}

	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env = append(os.Environ(), s.Env...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = sysProcAttr()

	out := newOutput(s.RingLines, log)
	var readyW *waiter
	if s.Ready != nil {
		readyW = out.watch(s.Ready) // before the first line can arrive
	}
	if err := cmd.Start(); err != nil {
		closeAll(log, outR, outW, errR, errW)
		return nil, fmt.Errorf("starting %s (%s): %w", s.Name, s.Path, err)
	}
	closeAll(outW, errW) // the child holds them now; EOF when it (and its descendants) exit

	p := &Proc{spec: s, cmd: cmd, pid: cmd.Process.Pid, out: out, done: make(chan struct{})}
	var readers sync.WaitGroup
	readers.Add(2)
	go p.read(outR, false, &readers)
	go p.read(errR, true, &readers)
	go p.wait(&readers, outR, errR)

	if readyW == nil {
		return p, nil
	}
	m, err := p.await(ctx, readyW, s.ReadyTimeout, fmt.Sprintf("its ready line (matching %q)", s.Ready))
	if err != nil {
		_ = p.Kill()
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	p.ready = m
	return p, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// read feeds one output stream into the ring, line by line.
func (p *Proc) read(f *os.File, stderr bool, wg *sync.WaitGroup) {
	defer wg.Done()
	r := bufio.NewReaderSize(f, maxLine)
	for {
		b, err := r.ReadSlice('\n')
		if len(b) > 0 {
			line := string(b)
			if strings.HasSuffix(line, "\n") {
				line = strings.TrimSuffix(line[:len(line)-1], "\r")
			}
			p.out.add(line, stderr)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // an over-long line: its next chunk is the next line
		}
		if err != nil {
			return
		}
	}
}

// wait reaps the process, kills what is left of its group, lets the readers
// drain (cutting them off after DrainWait), then closes done.
func (p *Proc) wait(readers *sync.WaitGroup, pipes ...*os.File) {
	err := p.cmd.Wait()
	// Descendants left in the group (a daemonised child, workers of a
	// crashed master) go with the process.
	_ = signalGroup(p.pid, syscall.SIGKILL)
	drained := make(chan struct{})
	go func() {
		readers.Wait()
		close(drained)
	}()
	t := time.NewTimer(DrainWait)
	select {
	case <-drained:
	case <-t.C:
		closeAll(pipes...) // a process outside the group holds the pipes: stop reading
		<-drained
	}
	t.Stop()
	closeAll(pipes...)
	p.out.finish()
	p.exitErr = err
	close(p.done)
}

// await waits for w's line, the process's exit, timeout (<= 0: none) or ctx.
func (p *Proc) await(ctx context.Context, w *waiter, timeout time.Duration, what string) ([]string, error) {
	defer p.out.unwatch(w)
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case <-w.hit:
		return w.match, nil
	case <-p.done:
		select {
		case <-w.hit: // the line was among the last ones drained
			return w.match, nil
		default:
		}
		_, how := p.Exited()
		return nil, fmt.Errorf("%s (pid %d) %s before printing %s: %w; last output:\n%s",
			p.spec.Name, p.pid, how, what, ErrExited, p.tail())
	case <-expire:
		return nil, fmt.Errorf("%s (pid %d) did not print %s within %v: %w; last output:\n%s",
			p.spec.Name, p.pid, what, timeout, ErrTimeout, p.tail())
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for %s (pid %d) to print %s: %w; last output:\n%s", p.spec.Name, p.pid, what, ctx.Err(), p.tail())
	}
}

func (p *Proc) tail() string {
	s := p.out.last(tailLines)
	if strings.TrimSpace(s) == "" {
		return "(none)"
	}
	return s
}

// Spec returns the Spec the process was started with, defaults filled in.
func (p *Proc) Spec() Spec { return p.spec }

// Name is Spec.Name.
func (p *Proc) Name() string { return p.spec.Name }

// Ready returns the submatches of the ready line (nil without Spec.Ready).
func (p *Proc) Ready() []string { return p.ready }

// PID is the process id, which is also its process group id.
func (p *Proc) PID() int { return p.pid }

// PIDs returns the process and all its living descendants (nginx workers,
// a shell's children), the process first; nil once it has exited.
func (p *Proc) PIDs() []int {
	select {
	case <-p.done:
		return nil
	default:
	}
	return descendants(p.pid)
}

// Output returns the lines kept in the ring, stdout and stderr interleaved
// in arrival order, joined with "\n".
func (p *Proc) Output() string { return p.out.text(both) }

// Stdout is Output restricted to the lines from stdout.
func (p *Proc) Stdout() string { return p.out.text(onlyStdout) }

// Stderr is Output restricted to the lines from stderr.
func (p *Proc) Stderr() string { return p.out.text(onlyStderr) }

// Lines returns how many lines the process has written so far (kept or
// not): a mark for WaitLineFrom.
func (p *Proc) Lines() uint64 { return p.out.count() }

// WaitLine waits for a line matching re, among the lines kept in the ring or
// the ones still to come, and returns its submatches. It wakes on each new
// line (no polling) and fails when the process exits first (ErrExited),
// after timeout (ErrTimeout; timeout <= 0: no timeout) or when ctx ends.
func (p *Proc) WaitLine(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return p.WaitLineFrom(ctx, 0, re, timeout)
}

// WaitLineFrom is WaitLine considering only the lines numbered from (as
// counted by Lines) onward: mark := p.Lines(); act; p.WaitLineFrom(ctx,
// mark, re, d) ignores a matching line printed before the action.
func (p *Proc) WaitLineFrom(ctx context.Context, from uint64, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	m, w := p.out.find(from, re)
	if m != nil {
		return m, nil
	}
	return p.await(ctx, w, timeout, fmt.Sprintf("a line matching %q", re))
}

// Done is closed after the process has exited and its output is drained.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited (and its output is
// drained), and how: "exited with status 0", "exit status 3", "signal:
// killed".
func (p *Proc) Exited() (bool, string) {
	select {
	case <-p.done:
		if p.exitErr == nil {
			return true, "exited with status 0"
		}
		return true, p.exitErr.Error()
	default:
		return false, ""
	}
}

// ExitErr returns how the process exited as exec.Cmd.Wait does (nil for
// status 0, an *exec.ExitError otherwise); nil while it runs.
func (p *Proc) ExitErr() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
		return nil
	}
}

// Signal sends sig to the process itself (not its group).
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signalling %s (pid %d): %w", p.spec.Name, p.pid, err)
	}
	return nil
}

// Stop sends SIGTERM to the process (and SIGCONT to its group, so a frozen
// process can act on it), waits up to grace for it to exit, then SIGKILLs
// the group and waits up to KillWait. grace <= 0 kills at once. It returns
// nil once the process is gone, whatever its exit status (see ExitErr), and
// an error only if it could not be stopped. Idempotent: later calls return
// the first call's result.
func (p *Proc) Stop(grace time.Duration) error {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	if !p.stopped {
		p.stopErr = p.stop(grace)
		p.stopped = true
	}
	return p.stopErr
}

func (p *Proc) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if grace > 0 && p.cmd.Process.Signal(syscall.SIGTERM) == nil {
		_ = signalGroup(p.pid, syscall.SIGCONT)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			return nil
		case <-t.C:
		}
	}
	return p.Kill()
}

// Kill sends SIGKILL to the process group and waits up to KillWait for the
// process to exit and its output to drain. Safe to call more than once.
func (p *Proc) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := signalGroup(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.cmd.Process.Kill()
	}
	t := time.NewTimer(KillWait)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("killing %s (pid %d): still running %v after SIGKILL", p.spec.Name, p.pid, KillWait)
	}
}

// Freeze sends SIGSTOP to the process group and returns once /proc reports
// every thread of the group's processes stopped (state T): from then on the
// kernel still accepts connections for it but nothing answers.
func (p *Proc) Freeze() error {
	return p.setStopped(true)
}

// Thaw sends SIGCONT to the process group and returns once /proc reports no
// thread of the group stopped.
func (p *Proc) Thaw() error {
	return p.setStopped(false)
}

func (p *Proc) setStopped(stop bool) error {
	verb, sig := "thawing", syscall.SIGCONT
	if stop {
		verb, sig = "freezing", syscall.SIGSTOP
	}
	select {
	case <-p.done:
		return fmt.Errorf("%s %s (pid %d): %w", verb, p.spec.Name, p.pid, ErrExited)
	default:
	}
	if err := signalGroup(p.pid, sig); err != nil {
		return fmt.Errorf("%s %s (pid %d): %w", verb, p.spec.Name, p.pid, err)
	}
	deadline := time.Now().Add(stateWait)
	for {
		ok, err := groupStopped(p.pid, stop)
		if err != nil {
			if errors.Is(err, errors.ErrUnsupported) {
				return nil // no /proc: nothing better to wait on
			}
			return fmt.Errorf("%s %s (pid %d): %w", verb, p.spec.Name, p.pid, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s (pid %d): /proc does not show the change %v after the signal", verb, p.spec.Name, p.pid, stateWait)
		}
		// /proc offers no notification of a state change: re-read shortly.
		t := time.NewTimer(time.Millisecond)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
			return fmt.Errorf("%s %s (pid %d): %w", verb, p.spec.Name, p.pid, ErrExited)
		}
	}
}

// Usage is a process tree's resource use.
type Usage struct {
	CPU     time.Duration // user+system time of the process and its descendants (living, and reaped ones)
	RSS     int64         // resident bytes now, summed over the processes (shared pages count in each)
	PeakRSS int64         // bytes, sum of each process's VmHWM (its peak resident set)
}

// Usage samples the resource use of the process and its living descendants
// from /proc now: CPU is utime+stime of each, plus cutime+cstime (the
// children they already reaped, so CPU never goes down when a worker exits);
// RSS sums VmRSS, PeakRSS sums VmHWM. After the process exited it returns
// what wait reported: its own and its reaped descendants' CPU, and as
// PeakRSS the largest of their peaks; RSS is 0.
func (p *Proc) Usage() Usage {
	select {
	case <-p.done:
		return exitUsage(p.cmd.ProcessState)
	default:
	}
	var u Usage
	for _, pid := range descendants(p.pid) {
		s, err := sample(pid)
		if err != nil {
			continue // exited meanwhile
		}
		u.CPU += s.CPU
		u.RSS += s.RSS
		u.PeakRSS += s.PeakRSS
	}
	return u
}

// Restart kills the process (if it still runs) and starts the same Spec
// again, returning the new process.
func (p *Proc) Restart(ctx context.Context) (*Proc, error) {
	if err := p.Kill(); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", p.spec.Name, err)
	}
	np, err := Start(ctx, p.spec)
	if err != nil {
		return nil, fmt.Errorf("restarting %s: %w", p.spec.Name, err)
	}
	return np, nil
}

// FreePort returns a port on 127.0.0.1 that nothing listened on a moment
// ago, picked below the kernel's ephemeral range so that no outgoing
// connection can be holding it when a server (re)binds it. Prefer letting the
// server bind port 0 and print its address when it can.
func FreePort() (int, error) {
	lo, hi := 20000, ephemeralLow()
	if hi-lo < 1000 {
		lo, hi = 10000, 20000
	}
	var err error
	for range 100 {
		port := lo + rand.IntN(hi-lo)
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("finding a free port in [%d, %d): %w", lo, hi, err)
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
