package redistest

import (
	"testing"
	"time"
)

// TestStart checks that Start gives a usable server with whatever strategy
// the environment selects (it skips, or fails under GATELAB_REQUIRE_REDIS=1,
// when there is none).
func TestStart(t *testing.T) {
	r := Start(t)
	t.Logf("strategy %s at %s", r.Kind(), r.URL())
	if err := r.Ping(time.Second); err != nil {
		t.Fatalf("PING: %v", err)
	}
}

// TestStrategies runs the lifecycle on each strategy available here.
func TestStrategies(t *testing.T) {
	t.Run(KindLocalProcess, func(t *testing.T) {
		if _, err := ProcessAvailable(); err != nil {
			t.Skip(err)
		}
		lifecycle(t, StartProcess(t), KindLocalProcess)
	})
	t.Run(KindTestcontainers, func(t *testing.T) {
		if err := DockerAvailable(); err != nil {
			t.Skipf("Docker not reachable: %v", err)
		}
		lifecycle(t, StartDocker(t), KindTestcontainers)
	})
}

func lifecycle(t *testing.T, r *Redis, kind string) {
	if r.Kind() != kind {
		t.Fatalf("Kind() = %q, want %q", r.Kind(), kind)
	}
	url := r.URL()
	if err := r.Ping(time.Second); err != nil {
		t.Fatalf("PING after start: %v", err)
	}

	r.Freeze()
	began := time.Now()
	if err := r.Ping(50 * time.Millisecond); err == nil {
		t.Fatal("PING with a 50ms timeout answered while frozen")
	} else {
		t.Logf("frozen: PING failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
	}
	r.Thaw()
	if err := r.Ping(time.Second); err != nil {
		t.Fatalf("PING after thaw: %v", err)
	}

	r.Kill()
	began = time.Now()
	if err := r.Ping(time.Second); err == nil {
		t.Fatal("PING answered after Kill")
	} else {
		t.Logf("killed: PING failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
	}
	began = time.Now()
	r.Restart()
	t.Logf("restart took %v", time.Since(began).Round(time.Millisecond))
	if r.URL() != url {
		t.Fatalf("URL changed across Restart: %s -> %s", url, r.URL())
	}
	if err := r.Ping(time.Second); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}

	// Freeze then Kill (Docker must unpause first), then Restart again.
	r.Freeze()
	r.Restart()
	if err := r.Ping(time.Second); err != nil {
		t.Fatalf("PING after freeze+restart: %v", err)
	}
}
