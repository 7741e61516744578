package fleet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests run this test binary again as the supervised process: with
// FLEET_HELPER set, TestMain runs helperMain instead of the tests.
const helperEnv = "FLEET_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		helperMain(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperSpec is a Spec running the helper in mode, with extra environment.
func helperSpec(t *testing.T, mode string, env ...string) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Name:         "helper-" + mode,
		Path:         exe,
		Env:          append([]string{helperEnv + "=" + mode}, env...),
		ReadyTimeout: time.Minute,
	}
}

// readyPID matches serve's last line, which follows its signal handlers.
func readyPID(pid int) *regexp.Regexp {
	return regexp.MustCompile(`^ready pid ` + strconv.Itoa(pid) + `$`)
}

// start starts s and stops it when the test ends.
func start(t *testing.T, s Spec) *Proc {
	t.Helper()
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(5 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name(), p.Output())
		}
	})
	return p
}

var listening = regexp.MustCompile(`^listening on (\S+)$`)

// helperMain is the supervised process. Modes:
//
//	ready     stderr "starting", $FLEET_LINES lines "line i" (stderr), a
//	          $FLEET_LONG-byte line (stdout), stdout "noise on stdout",
//	          stderr "listening on 127.0.0.1:4242"; then on SIGUSR1 prints
//	          "usr1 N" (stdout), on SIGTERM "terminating" and exits 0
//	          (ignores SIGTERM when $FLEET_IGNORE_TERM is set)
//	burn      as ready, but SIGUSR1 burns 200ms of CPU, then prints "burned N"
//	fail      stderr "boom: bad config", exit status 3
//	silent    prints "pid N" and waits for a signal
//	parent    starts "$FLEET_CHILD" as a child sharing its output, prints
//	          "child PID", then runs as ready
//	orphan    starts a silent child, prints "child PID" and exits 0
//	alloc     allocates and touches 64 MiB, prints "allocated", waits
func helperMain(mode string) {
	switch mode {
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: bad config")
		os.Exit(3)
	case "silent":
		fmt.Printf("pid %d\n", os.Getpid())
		waitForever()
	case "parent", "orphan":
		child := os.Getenv("FLEET_CHILD")
		if mode == "orphan" {
			child = "silent"
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), helperEnv+"="+child)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "starting the child:", err)
			os.Exit(1)
		}
		fmt.Printf("child %d\n", cmd.Process.Pid)
		if mode == "orphan" {
			os.Exit(0)
		}
		serve(false)
	case "ready":
		serve(false)
	case "burn":
		serve(true)
	case "alloc":
		b := make([]byte, 64<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated")
		waitForever()
		fmt.Println(b[0]) // keep b alive
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		os.Exit(2)
	}
}

func serve(burn bool) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM)
	if os.Getenv("FLEET_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	fmt.Fprintln(os.Stderr, "starting")
	n, _ := strconv.Atoi(os.Getenv("FLEET_LINES"))
	for i := range n {
		fmt.Fprintf(os.Stderr, "line %d\n", i)
	}
	if n, _ := strconv.Atoi(os.Getenv("FLEET_LONG")); n > 0 {
		fmt.Println(strings.Repeat("x", n))
	}
	fmt.Println("noise on stdout")
	fmt.Fprintln(os.Stderr, "listening on 127.0.0.1:4242")
	fmt.Printf("ready pid %d\n", os.Getpid())
	usr1 := 0
	for sig := range sigs {
		switch sig {
		case syscall.SIGTERM:
			fmt.Fprintln(os.Stderr, "terminating")
			os.Exit(0)
		case syscall.SIGUSR1:
			usr1++
			if burn {
				burnCPU(200 * time.Millisecond)
				fmt.Printf("burned %d\n", usr1)
			} else {
				fmt.Printf("usr1 %d\n", usr1)
			}
		}
	}
}

// burnCPU spins until this process has used d more CPU time.
func burnCPU(d time.Duration) {
	used := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	end := used() + d
	x := 0
	for used() < end {
		for i := range 100000 {
			x += i
		}
	}
	_ = x
}

func waitForever() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	<-sigs
	os.Exit(0)
}
