package etcdtest

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestStopRestartKeepsData checks Start, that Stop really takes the server
// away, and that Restart brings the same data back on the same endpoints.
func TestStopRestartKeepsData(t *testing.T) {
	start := time.Now()
	e := Start(t)
	t.Logf("etcd ready after %v at %v", time.Since(start), e.Endpoints())
	cli := e.Client(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	put, err := cli.Put(ctx, "k", "v1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	endpoints := e.Endpoints()[0]

	e.Stop()
	e.Stop() // a second Stop does nothing
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = cli.Get(short, "k")
	cancelShort()
	if err == nil {
		t.Fatal("Get succeeded while the server is stopped")
	}

	start = time.Now()
	e.Restart()
	t.Logf("etcd restarted in %v", time.Since(start))
	if got := e.Endpoints()[0]; got != endpoints {
		t.Errorf("endpoint changed across Restart: %s -> %s", endpoints, got)
	}
	// The client made before the outage reconnects by itself.
	resp, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" || resp.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("after restart k = %v, want v1 at revision %d", resp.Kvs, put.Header.Revision)
	}
}

// TestRestartWhileRunning restarts a running server.
func TestRestartWhileRunning(t *testing.T) {
	e := Start(t)
	e.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}

// TestUnavailableSkipsOrFails checks the message and the GATELAB_REQUIRE_ETCD switch.
func TestUnavailableSkipsOrFails(t *testing.T) {
	for _, require := range []string{"", "1"} {
		t.Setenv(EnvRequire, require)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			unavailable(r, "no etcd on PATH")
		}()
		<-done
		if require == "1" && !r.fatal || require == "" && !r.skipped {
			t.Errorf("%s=%q: fatal=%v skipped=%v", EnvRequire, require, r.fatal, r.skipped)
		}
		if r.msg == "" {
			t.Errorf("no message")
		}
	}
}

// recorder notes Fatal and Skip instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.fatal, r.msg = true, args[0].(string)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, args[0].(string)
	runtime.Goexit()
}
