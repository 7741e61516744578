package redistest

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/internal/testproc"
)

// Environment variables.
const (
	// EnvMode forces a strategy: "process" or "docker".
	EnvMode = deps.EnvRedisMode
	// EnvRequire=1 turns "no Redis available" from a skip into a failure.
	EnvRequire = "GATELAB_REQUIRE_REDIS"
	// EnvImage names the Redis image of the Docker strategy.
	EnvImage = deps.EnvRedisImage
)

// DefaultImage is the Docker strategy's image unless EnvImage says otherwise.
const DefaultImage = deps.DefaultRedisImage

// LocalImage is the image built from the host's redis-server when the
// configured image is neither present nor pullable.
const LocalImage = deps.RedisLocalImage

// The values Kind returns.
const (
	KindTestcontainers = deps.KindTestcontainers
	KindLocalProcess   = deps.KindLocalProcess
)

// startTimeout bounds a start, image build included.
const startTimeout = 5 * time.Minute

// Redis is a running Redis server owned by one test.
type Redis struct {
	t testing.TB
	r *deps.Redis
}

// Start returns a running Redis for t using the first available strategy
// (see the package documentation). It is stopped when the test ends.
func Start(t testing.TB) *Redis {
	t.Helper()
	return start(t, "")
}

// StartProcess returns a Redis run as a local redis-server process.
func StartProcess(t testing.TB) *Redis {
	t.Helper()
	return start(t, deps.ModeProcess)
}

// StartDocker returns a Redis run in a container by testcontainers-go.
func StartDocker(t testing.TB) *Redis {
	t.Helper()
	return start(t, deps.ModeDocker)
}

// ProcessAvailable returns the redis-server binary the local-process strategy
// would run, or why there is none.
func ProcessAvailable() (string, error) { return deps.RedisBinary() }

// DockerAvailable reports whether the Docker daemon answers testcontainers-go's
// provider health check (nil) or why not. It is checked once per process.
func DockerAvailable() error { return deps.DockerAvailable() }

func start(t testing.TB, mode string) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	l := testproc.NewLog(t)
	r, err := deps.StartRedis(ctx, deps.RedisOptions{Mode: mode, Log: l.Logf})
	if errors.Is(err, deps.ErrUnavailable) {
		l.Stop()
		unavailable(t, err.Error())
	}
	if err != nil {
		l.Stop()
		t.Fatalf("redistest: %v (%s=process uses the local binary)", err, EnvMode)
	}
	t.Cleanup(func() {
		defer l.Stop()
		if t.Failed() {
			if out := r.Logs(); out != "" {
				t.Logf("redistest: %s server output:\n%s", r.Kind(), out)
			}
		}
		if err := r.Close(); err != nil {
			t.Errorf("redistest: %v", err)
		}
	})
	return &Redis{t: t, r: r}
}

// unavailable skips t, or fails it when EnvRequire is 1.
func unavailable(t testing.TB, why string) {
	t.Helper()
	msg := "redistest: NO REDIS AVAILABLE, test not run: " + why +
		" (install redis-server or start Docker; " + EnvRequire + "=1 makes this a failure)"
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// URL is the server's go-redis URL, redis://127.0.0.1:PORT/0. It does not
// change across Restart.
func (r *Redis) URL() string { return r.r.URL() }

// Addr is the server's host:port.
func (r *Redis) Addr() string { return r.r.Addr() }

// Kind is the strategy: KindTestcontainers or KindLocalProcess.
func (r *Redis) Kind() string { return r.r.Kind() }

// Version is the redis_version the server reports.
func (r *Redis) Version() string { return r.r.Version() }

// Deps is the underlying harness/deps server.
func (r *Redis) Deps() *deps.Redis { return r.r }

// Ping sends one PING on a new connection and waits at most timeout (dial
// included) for PONG.
func (r *Redis) Ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.r.Ping(ctx)
}

// Freeze suspends the server: it stops answering but keeps its state.
func (r *Redis) Freeze() {
	r.t.Helper()
	if err := r.r.Freeze(context.Background()); err != nil {
		r.t.Fatalf("redistest: %v", err)
	}
}

// Thaw resumes a frozen server.
func (r *Redis) Thaw() {
	r.t.Helper()
	if err := r.r.Thaw(context.Background()); err != nil {
		r.t.Fatalf("redistest: %v", err)
	}
}

// Kill stops the server at once; connections to it are refused afterwards.
func (r *Redis) Kill() {
	r.t.Helper()
	if err := r.r.Kill(context.Background()); err != nil {
		r.t.Fatalf("redistest: %v", err)
	}
}

// Restart starts the server again on the same address (killing it first if
// it runs) and returns once it answers PING. The new server is empty.
func (r *Redis) Restart() {
	r.t.Helper()
	if err := r.r.Restart(context.Background()); err != nil {
		r.t.Fatalf("redistest: %v", err)
	}
}
