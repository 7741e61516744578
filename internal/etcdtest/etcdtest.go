package etcdtest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/internal/testproc"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EnvRequire=1 turns "no etcd available" from a skip into a failure.
const EnvRequire = "GATELAB_REQUIRE_ETCD"

// Timeouts.
const (
	// ReadyTimeout bounds the wait for a started server to answer a Get.
	ReadyTimeout = deps.EtcdReadyTimeout
	// StopGrace is how long the server gets to exit after SIGTERM before
	// SIGKILL.
	StopGrace = deps.EtcdStopGrace
)

// startTimeout bounds a start, an image build included.
const startTimeout = 5 * time.Minute

// Available returns the etcd binary Start would run, or why there is none.
func Available() (string, error) { return deps.EtcdBinary() }

// Etcd is a running single-member etcd owned by one test.
type Etcd struct {
	t testing.TB
	e *deps.Etcd
}

// Start returns a running etcd for t; see the package documentation. It is
// stopped when the test ends.
func Start(t testing.TB) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	l := testproc.NewLog(t)
	e, err := deps.StartEtcd(ctx, deps.EtcdOptions{Log: l.Logf})
	if errors.Is(err, deps.ErrUnavailable) {
		l.Stop()
		unavailable(t, err.Error())
	}
	if err != nil {
		l.Stop()
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() {
		defer l.Stop()
		err := e.Close()
		if err != nil {
			t.Errorf("etcdtest: %v", err)
		}
		if t.Failed() || err != nil {
			t.Logf("etcdtest: server output (last lines):\n%s", e.Logs())
		}
	})
	return &Etcd{t: t, e: e}
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
func (e *Etcd) Endpoints() []string { return e.e.Endpoints() }

// Version is the version the server reports.
func (e *Etcd) Version() string { return e.e.Version() }

// Deps is the underlying harness/deps server.
func (e *Etcd) Deps() *deps.Etcd { return e.e }

// Client returns a client of the server, closed when t ends. Its logger is
// silent (retries during an outage are expected).
func (e *Etcd) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := e.e.Client(context.Background())
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops the server (SIGTERM, then SIGKILL after StopGrace) and waits
// until it has exited. Stopping a stopped server does nothing.
func (e *Etcd) Stop() {
	e.t.Helper()
	if err := e.e.Stop(context.Background()); err != nil {
		e.t.Fatalf("etcdtest: %v\n%s", err, e.e.Logs())
	}
}

// Restart starts the server again on the same ports with the same data
// (stopping it first if it runs) and returns once it answers.
func (e *Etcd) Restart() {
	e.t.Helper()
	if err := e.e.Restart(context.Background()); err != nil {
		e.t.Fatalf("etcdtest: %v", err)
	}
}
