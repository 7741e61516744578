package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/serverproc"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// EnvRequire=1 turns "no etcd available" from a skip into a failure.
const EnvRequire = "GATELAB_REQUIRE_ETCD"

// Timeouts.
const (
	// ReadyTimeout bounds the wait for a started server to answer a Get.
	ReadyTimeout = 10 * time.Second
	// StopGrace is how long the server gets to exit after SIGTERM before
	// SIGKILL.
	StopGrace = 5 * time.Second
)

// pollTimeout bounds each readiness Get.
const pollTimeout = 250 * time.Millisecond

// Available returns the etcd binary Start would run, or why there is none.
func Available() (string, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("no etcd on PATH: %w", err)
	}
	return bin, nil
}

// Etcd is a running single-member etcd owned by one test.
type Etcd struct {
	t          testing.TB
	bin, dir   string
	clientPort int
	peerPort   int
	out        *serverproc.RingLog

	cmd  *exec.Cmd
	done <-chan struct{} // closed once cmd has exited and its output is read
}

// Start returns a running etcd for t; see the package documentation. It is
// stopped when the test ends.
func Start(t testing.TB) *Etcd {
	t.Helper()
	bin, err := Available()
	if err != nil {
		unavailable(t, err.Error())
	}
	e := &Etcd{t: t, bin: bin, dir: t.TempDir(), out: &serverproc.RingLog{Max: 200}}
	// etcd warns about a data directory others can read.
	if err := os.Chmod(e.dir, 0o700); err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	// Ports picked as free can be taken before etcd binds them: retry with
	// others.
	for range 5 {
		if e.clientPort, err = serverproc.FreePort(); err != nil {
			break
		}
		if e.peerPort, err = serverproc.FreePort(); err != nil {
			break
		}
		if e.peerPort == e.clientPort {
			continue
		}
		if err = e.start(); err == nil || !strings.Contains(err.Error(), "in use") {
			break
		}
		// A failed first start may leave a partial member directory.
		os.RemoveAll(e.dir)
		os.Mkdir(e.dir, 0o700)
	}
	if err != nil {
		t.Fatalf("etcdtest: starting %s: %v\n%s", bin, err, e.out)
	}
	t.Cleanup(e.cleanup)
	return e
}

// unavailable skips t, or fails it when EnvRequire is 1.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "etcdtest: NO ETCD AVAILABLE, test not run: " + why +
		" (install etcd-server, which provides /usr/bin/etcd; " + EnvRequire + "=1 makes this a failure)"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Endpoints are the client URLs, http://127.0.0.1:PORT. They do not change
// across Restart.
func (e *Etcd) Endpoints() []string {
	return []string{"http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))}
}

// Client returns a client of the server, closed when t ends. Its logger is
// silent (retries during an outage are expected).
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := e.newClient()
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func (e *Etcd) newClient() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   e.Endpoints(),
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Stop stops the server (SIGTERM, then SIGKILL after StopGrace) and waits
// until it has exited. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	e.t.Helper()
	if err := e.stop(); err != nil {
		e.t.Fatalf("etcdtest: stop: %v\n%s", err, e.out)
	}
}

// Restart starts the server again on the same ports with the same data
// directory (stopping it first if it runs) and returns once it answers.
func (e *Etcd) Restart() {
	e.t.Helper()
	if err := e.stop(); err != nil {
		e.t.Fatalf("etcdtest: stop before restart: %v\n%s", err, e.out)
	}
	e.out.Add("---- restart ----")
	if err := e.start(); err != nil {
		e.t.Fatalf("etcdtest: restart: %v\n%s", err, e.out)
	}
}

func (e *Etcd) cleanup() {
	err := e.stop()
	if err != nil {
		e.t.Errorf("etcdtest: stopping the server: %v", err)
	}
	if e.t.Failed() || err != nil {
		e.t.Logf("etcdtest: server output (last lines):\n%s", e.out)
	}
}

func (e *Etcd) args() []string {
	client := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))
	peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.peerPort))
	return []string{
		"--name", "etcdtest",
		"--data-dir", e.dir,
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "etcdtest=" + peer,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "etcdtest",
		// A single member elects itself after one election timeout: keep
		// it short so that Start and Restart are quick (loopback only).
		"--heartbeat-interval", "20",
		"--election-timeout", "200",
		"--logger", "zap",
		"--log-outputs", "stderr",
		"--log-level", "warn",
	}
}

// start runs the server and waits until a Get succeeds.
func (e *Etcd) start() error {
	cmd := exec.Command(e.bin, e.args()...)
	if runtimeNeedsArchFlag() {
		cmd.Env = append(os.Environ(), "ETCD_UNSUPPORTED_ARCH="+archName())
	}
	run, err := serverproc.Run(cmd, e.out, "")
	if err != nil {
		return err
	}
	done := run.Done
	e.cmd, e.done = cmd, done

	if err := e.waitReady(); err != nil {
		select {
		case <-done:
			if strings.Contains(e.out.String(), "address already in use") {
				return fmt.Errorf("port %d or %d in use", e.clientPort, e.peerPort)
			}
			return fmt.Errorf("etcd exited before it was ready: %v", cmd.ProcessState)
		default:
		}
		e.kill()
		return err
	}
	return nil
}

// waitReady waits until the client port accepts connections, then polls a
// Get until it succeeds; it gives up when the process exits or ReadyTimeout
// passes. The port comes first because a gRPC connection refused once backs
// off for a second before it tries again.
func (e *Etcd) waitReady() error {
	deadline := time.Now().Add(ReadyTimeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))
	for {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, pollTimeout)
		if err == nil {
			c.Close()
			break
		}
		if err := e.pace(start, deadline, err); err != nil {
			return err
		}
	}
	cli, err := e.newClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
		_, err = cli.Get(ctx, "etcdtest-ready")
		cancel()
		if err == nil {
			return nil
		}
		if err := e.pace(start, deadline, err); err != nil {
			return err
		}
	}
}

// pace ends one readiness attempt that began at start and failed with err:
// it returns an error if the deadline has passed or the process is gone,
// otherwise it returns at least 5ms after start (a refused connection fails
// at once; the loop must not spin).
func (e *Etcd) pace(start, deadline time.Time, err error) error {
	if time.Now().After(deadline) {
		return fmt.Errorf("no answer from %s within %v: %w", e.Endpoints()[0], ReadyTimeout, err)
	}
	t := time.NewTimer(5*time.Millisecond - time.Since(start))
	defer t.Stop()
	select {
	case <-e.done:
		return errors.New("etcd exited")
	case <-t.C:
		return nil
	}
}

// stop sends SIGTERM, waits StopGrace, then SIGKILLs.
func (e *Etcd) stop() error {
	if !e.running() {
		return nil
	}
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	timer := time.NewTimer(StopGrace)
	defer timer.Stop()
	select {
	case <-e.done:
		return nil
	case <-timer.C:
		e.out.Add(fmt.Sprintf("etcdtest: no exit %v after SIGTERM, sending SIGKILL", StopGrace))
		return e.kill()
	}
}

func (e *Etcd) running() bool {
	if e.cmd == nil {
		return false
	}
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

func (e *Etcd) kill() error {
	if !e.running() {
		return nil
	}
	return serverproc.Kill(e.cmd, e.done, "etcd")
}
