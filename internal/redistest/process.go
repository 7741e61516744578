package redistest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gatelab/gatelab/internal/serverproc"
)

// ProcessAvailable returns the redis-server binary the local-process strategy
// would run, or why there is none.
func ProcessAvailable() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("no redis-server on PATH: %w", err)
	}
	return bin, nil
}

func startProcess(t testing.TB, bin string) *Redis {
	t.Helper()
	p := &proc{bin: bin, dir: t.TempDir(), out: &serverproc.RingLog{Max: 200}}
	var err error
	// A port picked as free can be taken before redis-server binds it: retry
	// with another one.
	for range 5 {
		if p.port, err = serverproc.FreePort(); err != nil {
			break
		}
		if err = p.start(); err == nil || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: starting %s: %v\n%s", bin, err, p.logs())
	}
	r := &Redis{t: t, kind: KindLocalProcess, port: p.port, b: p}
	t.Cleanup(r.cleanup)
	return r
}

// proc is the local-process backend.
type proc struct {
	bin, dir string
	port     int
	out      *serverproc.RingLog

	cmd  *exec.Cmd
	done <-chan struct{} // closed once cmd has exited and its output is read
}

func (p *proc) start() error {
	args := append([]string{"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--dir", p.dir, "--daemonize", "no", "--logfile", ""}, serverArgs...)
	return p.startArgs(args, "Ready to accept connections")
}

func net127(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (p *proc) signal(s os.Signal) error {
	if p.cmd == nil {
		return errors.New("no process")
	}
	return p.cmd.Process.Signal(s)
}

func (p *proc) freeze() error { return p.signal(syscall.SIGSTOP) }
func (p *proc) thaw() error   { return p.signal(syscall.SIGCONT) }

func (p *proc) kill() error { return serverproc.Kill(p.cmd, p.done, "redis-server") }

func (p *proc) restart() error {
	if err := p.kill(); err != nil {
		return err
	}
	p.out.Add("---- restart ----")
	return p.start()
}

func (p *proc) close() error { return p.kill() }

func (p *proc) logs() string { return p.out.String() }
