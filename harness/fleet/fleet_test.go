package fleet

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadyLineAndGracefulStop(t *testing.T) {
	s := helperSpec(t, "ready")
	s.Ready = listening
	p := start(t, s)
	if got := p.Ready(); len(got) != 2 || got[1] != "127.0.0.1:4242" {
		t.Fatalf("Ready() = %q", got)
	}
	if pids := p.PIDs(); len(pids) == 0 || pids[0] != p.PID() || p.PID() <= 0 {
		t.Errorf("PID %d, PIDs %v", p.PID(), pids)
	}
	if exited, how := p.Exited(); exited || how != "" {
		t.Errorf("Exited() = %v, %q while running", exited, how)
	}
	// The ready line is on stderr, the rest on stdout: both streams are read.
	if _, err := p.WaitLine(context.Background(), readyPID(p.PID()), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Stdout(), "noise on stdout\nready pid "+strconv.Itoa(p.PID()); got != want {
		t.Errorf("Stdout() = %q, want %q", got, want)
	}
	if got := p.Stderr(); got != "starting\nlistening on 127.0.0.1:4242" {
		t.Errorf("Stderr() = %q", got)
	}
	if out := p.Output(); len(strings.Split(out, "\n")) != 4 || !strings.Contains(out, "noise on stdout") {
		t.Errorf("Output() = %q", out)
	}

	if err := p.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if exited, how := p.Exited(); !exited || how != "exited with status 0" {
		t.Errorf("after SIGTERM: Exited() = %v, %q", exited, how)
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("ExitErr() = %v", err)
	}
	if !strings.Contains(p.Stderr(), "terminating") {
		t.Errorf("the process did not handle SIGTERM: %q", p.Stderr())
	}
	// Idempotent, and harmless once the process is gone.
	if err := p.Stop(time.Minute); err != nil {
		t.Error(err)
	}
	if err := p.Kill(); err != nil {
		t.Error(err)
	}
	if pids := p.PIDs(); pids != nil {
		t.Errorf("PIDs after exit: %v", pids)
	}
	if err := p.Freeze(); !errors.Is(err, ErrExited) {
		t.Errorf("Freeze after exit: %v", err)
	}
}

func TestNoReadyPatternAndExitStatus(t *testing.T) {
	p := start(t, helperSpec(t, "fail"))
	<-p.Done()
	exited, how := p.Exited()
	if !exited || how != "exit status 3" {
		t.Errorf("Exited() = %v, %q", exited, how)
	}
	var ee *exec.ExitError
	if !errors.As(p.ExitErr(), &ee) || ee.ExitCode() != 3 {
		t.Errorf("ExitErr() = %v", p.ExitErr())
	}
	if p.Output() != "boom: bad config" {
		t.Errorf("Output() = %q", p.Output())
	}
}

func TestExitBeforeReady(t *testing.T) {
	s := helperSpec(t, "fail")
	s.Ready = listening
	p, err := Start(context.Background(), s)
	if err == nil {
		p.Kill()
		t.Fatal("Start succeeded for a process that exits before its ready line")
	}
	if !errors.Is(err, ErrExited) {
		t.Errorf("error does not wrap ErrExited: %v", err)
	}
	for _, want := range []string{"starting helper-fail", "exit status 3", "boom: bad config"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// gone reports whether pid no longer runs: reaped, a zombie, or exiting.
// (A process killed while holding fleet's pipes closes them on its way out,
// before it turns zombie, but after the kernel marks it exiting.)
func gone(pid int) bool {
	s, err := readStat("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || s.state == 'Z' || s.state == 'X' || s.flags&pfExiting != 0
}

func TestReadyTimeoutKills(t *testing.T) {
	s := helperSpec(t, "silent")
	s.Ready = listening
	s.ReadyTimeout = 300 * time.Millisecond
	_, err := Start(context.Background(), s)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Start: %v, want ErrTimeout", err)
	}
	// The error names the process, which is dead.
	m := regexp.MustCompile(`\(pid (\d+)\)`).FindStringSubmatch(err.Error())
	if m == nil || !strings.Contains(err.Error(), "last output:") {
		t.Fatalf("no pid or output tail in %q", err)
	}
	pid, _ := strconv.Atoi(m[1])
	if !gone(pid) {
		t.Errorf("pid %d still runs after the ready timeout", pid)
	}
}

func TestStartContext(t *testing.T) {
	s := helperSpec(t, "silent")
	s.Ready = listening
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Start(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start with a context that ends: %v", err)
	}
	if _, err := Start(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start with an ended context: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(context.Background(), Spec{}); err == nil {
		t.Error("an empty Spec started")
	}
	_, err := Start(context.Background(), Spec{Path: filepath.Join(t.TempDir(), "no-such-binary")})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "starting no-such-binary") {
		t.Errorf("missing binary: %v", err)
	}
	_, err = Start(context.Background(), Spec{Path: "/bin/true", LogFile: filepath.Join(t.TempDir(), "no", "dir", "log")})
	if err == nil || !strings.Contains(err.Error(), "log file") {
		t.Errorf("unwritable log file: %v", err)
	}
}

func TestWaitLine(t *testing.T) {
	s := helperSpec(t, "ready")
	s.Ready = listening
	p := start(t, s)
	ctx := context.Background()

	// A line printed before the call counts.
	if m, err := p.WaitLine(ctx, regexp.MustCompile(`^(start)ing$`), time.Minute); err != nil || m[1] != "start" {
		t.Fatalf("WaitLine(starting) = %q, %v", m, err)
	}
	// A line printed after: signalled when it comes.
	usr1 := regexp.MustCompile(`^usr1 (\d+)$`)
	got := make(chan []string, 1)
	go func() {
		m, _ := p.WaitLine(ctx, regexp.MustCompile(`^usr1 2$`), time.Minute)
		got <- m
	}()
	for want := 1; want <= 2; want++ {
		mark := p.Lines()
		if err := p.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		m, err := p.WaitLineFrom(ctx, mark, usr1, time.Minute)
		if err != nil || m[1] != strconv.Itoa(want) {
			t.Fatalf("after SIGUSR1 #%d: %q, %v", want, m, err)
		}
	}
	if m := <-got; len(m) != 1 || m[0] != "usr1 2" {
		t.Errorf("concurrent WaitLine: %q", m)
	}
	// From a mark, earlier lines do not count.
	if _, err := p.WaitLineFrom(ctx, p.Lines(), usr1, 100*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitLineFrom(now): %v, want ErrTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.WaitLine(cctx, regexp.MustCompile(`never`), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitLine with a cancelled context: %v", err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(ctx, regexp.MustCompile(`never`), 0); !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "signal: killed") {
		t.Errorf("WaitLine after exit: %v, want ErrExited", err)
	}
	if _, err := p.WaitLine(ctx, usr1, 0); err != nil {
		t.Errorf("a kept line after exit: %v", err)
	}
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	s := helperSpec(t, "ready", "FLEET_IGNORE_TERM=1")
	s.Ready = listening
	p := start(t, s)
	if err := p.Stop(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, how := p.Exited(); how != "signal: killed" {
		t.Errorf("a process ignoring SIGTERM ended with %q", how)
	}
	if strings.Contains(p.Output(), "terminating") {
		t.Error("the process saw SIGTERM it ignores")
	}
}

func TestStopFrozenIsGraceful(t *testing.T) {
	s := helperSpec(t, "ready")
	s.Ready = listening
	p := start(t, s)
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("a frozen process stopped with %v, want a graceful exit", err)
	}
}

// parentWithChild starts the parent helper with a child in childMode and
// returns it and the child's pid.
func parentWithChild(t *testing.T, childMode string) (*Proc, int) {
	t.Helper()
	s := helperSpec(t, "parent", "FLEET_CHILD="+childMode)
	s.Ready = regexp.MustCompile(`^child (\d+)$`)
	p := start(t, s)
	child, _ := strconv.Atoi(p.Ready()[1])
	return p, child
}

func TestKillGroupWithGrandchild(t *testing.T) {
	p, child := parentWithChild(t, "silent")
	if pids := p.PIDs(); !slices.Contains(pids, child) {
		t.Errorf("PIDs %v lack the child %d", pids, child)
	}
	if st, err := readStat("/proc/" + strconv.Itoa(child) + "/stat"); err != nil || st.pgrp != p.PID() || st.ppid != p.PID() {
		t.Errorf("child %d: %+v, %v; want parent and group %d", child, st, err, p.PID())
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	// Done waits for the output pipes, which the child held: it is dead.
	if !gone(child) {
		t.Errorf("child %d survived Kill", child)
	}
}

func TestExitKillsStragglers(t *testing.T) {
	s := helperSpec(t, "orphan")
	s.Ready = regexp.MustCompile(`^child (\d+)$`)
	p := start(t, s)
	child, _ := strconv.Atoi(p.Ready()[1])
	<-p.Done()
	if _, how := p.Exited(); how != "exited with status 0" {
		t.Errorf("parent: %s", how)
	}
	if !gone(child) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
		t.Errorf("child %d outlived its exited parent: %s", child, b)
	}
}

// threadStates returns the states of every thread of pid.
func threadStates(t *testing.T, pid int) string {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tid := range tids {
		st, err := readStat(dir + "/" + tid.Name() + "/stat")
		if err == nil {
			b.WriteByte(st.state)
		}
	}
	return b.String()
}

func TestFreezeThaw(t *testing.T) {
	p, child := parentWithChild(t, "ready")
	for _, pid := range []int{p.PID(), child} {
		if _, err := p.WaitLine(context.Background(), readyPID(pid), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p.PID(), child} {
		if st := threadStates(t, pid); strings.Trim(st, "T") != "" {
			t.Errorf("pid %d frozen, thread states %q", pid, st)
		}
	}
	// Frozen, it does not act on a signal; thawed, it does.
	mark := p.Lines()
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	usr1 := regexp.MustCompile(`^usr1 1$`)
	if _, err := p.WaitLineFrom(context.Background(), mark, usr1, 200*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Errorf("a frozen process answered a signal: %v", err)
	}
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{p.PID(), child} {
		if st := threadStates(t, pid); strings.ContainsAny(st, "Tt") {
			t.Errorf("pid %d thawed, thread states %q", pid, st)
		}
	}
	if _, err := p.WaitLineFrom(context.Background(), mark, usr1, time.Minute); err != nil {
		t.Errorf("after Thaw: %v", err)
	}
}

func TestUsageCPU(t *testing.T) {
	ctx := context.Background()
	t.Run("process", func(t *testing.T) {
		s := helperSpec(t, "burn")
		s.Ready = listening
		p := start(t, s)
		before := p.Usage()
		if err := p.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if _, err := p.WaitLine(ctx, regexp.MustCompile(`^burned 1$`), time.Minute); err != nil {
			t.Fatal(err)
		}
		after := p.Usage()
		if d := after.CPU - before.CPU; d < 150*time.Millisecond {
			t.Errorf("CPU grew by %v over a 200ms burn (%v -> %v)", d, before.CPU, after.CPU)
		}
	})
	t.Run("descendant", func(t *testing.T) {
		p, child := parentWithChild(t, "burn")
		if _, err := p.WaitLine(ctx, readyPID(child), time.Minute); err != nil {
			t.Fatal(err)
		}
		before := p.Usage()
		if err := syscall.Kill(child, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		if _, err := p.WaitLine(ctx, regexp.MustCompile(`^burned 1$`), time.Minute); err != nil {
			t.Fatal(err)
		}
		after := p.Usage()
		if d := after.CPU - before.CPU; d < 150*time.Millisecond {
			t.Errorf("CPU grew by %v over the child's 200ms burn (%v -> %v)", d, before.CPU, after.CPU)
		}
	})
}

func TestPeakRSS(t *testing.T) {
	s := helperSpec(t, "alloc")
	s.Ready = regexp.MustCompile(`^allocated$`)
	p := start(t, s)
	u := p.Usage()
	if u.RSS <= 0 || u.PeakRSS < 64<<20 || u.PeakRSS < u.RSS {
		t.Errorf("after touching 64 MiB: %+v", u)
	}
	if err := p.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	if u := p.Usage(); u.CPU <= 0 || u.PeakRSS < 64<<20 || u.RSS != 0 {
		t.Errorf("after exit: %+v", u)
	}
}

func TestLogFileAndRestart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "helper.log")
	s := helperSpec(t, "ready")
	s.Ready = listening
	s.LogFile = log
	p := start(t, s)
	first := p.PID()
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(context.Background(), regexp.MustCompile(`^usr1 1$`), time.Minute); err != nil {
		t.Fatal(err)
	}
	q, err := p.Restart(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(5 * time.Second) })
	if _, how := p.Exited(); how != "signal: killed" {
		t.Errorf("the first run ended with %q", how)
	}
	if q.PID() == first || q.Ready()[1] != "127.0.0.1:4242" || q.Spec().LogFile != log {
		t.Errorf("restarted: pid %d (was %d), ready %q", q.PID(), first, q.Ready())
	}
	if strings.Contains(q.Output(), "usr1") {
		t.Errorf("the new run's output holds the old one's: %q", q.Output())
	}
	if err := q.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for line, n := range map[string]int{"starting": 2, "listening on 127.0.0.1:4242": 2, "noise on stdout": 2, "usr1 1": 1, "terminating": 1} {
		if got := strings.Count(text, line+"\n"); got != n {
			t.Errorf("log file has %q %d times, want %d:\n%s", line, got, n, text)
		}
	}
}

func TestRingLinesAndLongLines(t *testing.T) {
	s := helperSpec(t, "ready", "FLEET_LINES=50", "FLEET_LONG=150000")
	s.Ready = listening
	s.RingLines = 5
	p := start(t, s)
	if _, err := p.WaitLine(context.Background(), readyPID(p.PID()), time.Minute); err != nil {
		t.Fatal(err)
	}
	// starting, 50 lines, the long line in 3 chunks, noise, listening, ready.
	if n := p.Lines(); n != 1+50+3+1+1+1 {
		t.Errorf("Lines() = %d", n)
	}
	out := strings.Split(p.Output(), "\n")
	if len(out) != 5 {
		t.Fatalf("Output() kept %d lines, want 5: %q", len(out), out)
	}
	// The streams interleave in arrival order, each in its own order.
	stderr := strings.Split(p.Stderr(), "\n")
	want := []string{"line 46", "line 47", "line 48", "line 49", "listening on 127.0.0.1:4242"}
	if len(stderr) == 0 || !slices.Equal(stderr, want[len(want)-len(stderr):]) {
		t.Errorf("kept stderr lines %q", stderr)
	}
	var chunks []int
	for l := range strings.SplitSeq(p.Stdout(), "\n") {
		if strings.Trim(l, "x") == "" {
			chunks = append(chunks, len(l))
		}
	}
	if len(chunks) > 0 && chunks[len(chunks)-1] != 150000-2*maxLine {
		t.Errorf("long line chunks %v", chunks)
	}
}

func TestOutputRing(t *testing.T) {
	o := newOutput(3, nil)
	re := regexp.MustCompile(`^([a-z])$`)
	if m, w := o.find(0, re); m != nil || w == nil {
		t.Fatalf("find on empty output: %q, %v", m, w)
	} else {
		o.add("a", false)
		select {
		case <-w.hit:
			if w.match[1] != "a" {
				t.Errorf("waiter match %q", w.match)
			}
		default:
			t.Error("waiter not woken by a matching line")
		}
	}
	for _, s := range []string{"b", "c", "d", "e"} {
		o.add(s, s == "d")
	}
	if got := o.text(both); got != "c\nd\ne" {
		t.Errorf("text = %q", got)
	}
	if got, want := o.text(onlyStderr), "d"; got != want {
		t.Errorf("stderr = %q", got)
	}
	if got := o.last(2); got != "d\ne" {
		t.Errorf("last(2) = %q", got)
	}
	if got := o.last(10); got != "c\nd\ne" {
		t.Errorf("last(10) = %q", got)
	}
	if m, _ := o.find(3, re); m == nil || m[1] != "d" {
		t.Errorf("find from line 3: %q", m)
	}
	if m, w := o.find(5, re); m != nil {
		t.Errorf("find from the next line: %q", m)
	} else {
		o.unwatch(w)
	}
	if o.count() != 5 || len(o.waiters) != 0 {
		t.Errorf("count %d, waiters %d", o.count(), len(o.waiters))
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat([]byte("42 (a) b (c)) S 7 42 1 0 -1 4194304 97 0 0 0 12 34 5 6 20 0 1 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'S' || st.flags != 4194304 || st.ppid != 7 || st.pgrp != 42 || st.utime != 12 || st.stime != 34 || st.cutime != 5 || st.cstime != 6 {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseStat([]byte("42 (a) S 7")); err == nil {
		t.Error("a short stat line parsed")
	}
	if got := statusKB([]byte("Name:\tx\nVmHWM:\t  2068 kB\nVmRSS:\t 1000 kB\n"), "VmHWM:"); got != 2068 {
		t.Errorf("VmHWM = %d", got)
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port < 10000 || port >= ephemeralLow() {
		t.Errorf("port %d not below the ephemeral range (from %d)", port, ephemeralLow())
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listening on the free port: %v", err)
	}
	ln.Close()
}
