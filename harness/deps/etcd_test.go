package deps

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const requireEtcd = "GATELAB_REQUIRE_ETCD"

// TestEtcdStrategies: put, get, Stop takes the server away, Restart brings
// the same data back on the same endpoint; on each strategy.
func TestEtcdStrategies(t *testing.T) {
	t.Run(ModeProcess, func(t *testing.T) {
		needBinary(t, "etcd", requireEtcd)
		etcdLifecycle(t, ModeProcess, KindLocalProcess)
	})
	t.Run(ModeDocker, func(t *testing.T) {
		needDocker(t)
		needBinary(t, "etcd", requireEtcd) // no registry: the image is built from it
		etcdLifecycle(t, ModeDocker, KindTestcontainers)
	})
}

func etcdLifecycle(t *testing.T, mode, kind string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e, err := StartEtcd(ctx, EtcdOptions{Mode: mode, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", e.Logs())
		}
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%s: %s at %v, etcd %s", e.Kind(), e.Note(), e.Endpoints(), e.Version())
	if e.Kind() != kind {
		t.Fatalf("Kind() = %q, want %q", e.Kind(), kind)
	}
	if hv := hostEtcdVersion(); hv != "" && e.Version() != hv {
		t.Errorf("Version() = %q, the host's etcd is %q", e.Version(), hv)
	}
	cli, err := e.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	put, err := cli.Put(ctx, "k", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	endpoint := e.Endpoints()[0]

	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = cli.Get(short, "k")
	cancelShort()
	if err == nil {
		t.Fatal("Get succeeded while the server is stopped")
	}

	if err := e.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Endpoints()[0]; got != endpoint {
		t.Errorf("endpoint changed across Restart: %s -> %s", endpoint, got)
	}
	// The client made before the outage reconnects by itself.
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatalf("get after Restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" || resp.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("after Restart k = %v, want v1 at revision %d", resp.Kvs, put.Header.Revision)
	}

	// Restart while running.
	if err := e.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "k2", "v"); err != nil {
		t.Fatalf("put after a second Restart: %v", err)
	}
}

// hostEtcdVersion is the version `etcd --version` prints, "" if unknown.
func hostEtcdVersion() string {
	out, err := exec.Command("etcd", "--version").Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "etcd Version: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestEtcdUnavailable: no etcd and a forced process strategy is
// ErrUnavailable.
func TestEtcdUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartEtcd(context.Background(), EtcdOptions{Mode: ModeProcess})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("no etcd on PATH: %v, want ErrUnavailable", err)
	}
}
