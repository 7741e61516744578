package deps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// ErrUnavailable means a dependency cannot be started on this machine at
// all (no binary, no Docker, no image): the caller skips what needs it. The
// error wrapping it says why.
var ErrUnavailable = errors.New("dependency unavailable")

// unavailable wraps ErrUnavailable with the reason.
func unavailable(what, why string) error {
	return fmt.Errorf("starting %s: %w: %s", what, ErrUnavailable, why)
}

// Redis environment variables.
const (
	// EnvRedisMode chooses the strategy when RedisOptions.Mode is empty:
	// "auto" (or unset), "docker" or "process".
	EnvRedisMode = "GATELAB_REDIS_MODE"
	// EnvRedisImage names the Redis image when RedisOptions.Image is empty.
	EnvRedisImage = "GATELAB_REDIS_IMAGE"
)

// DefaultRedisImage is the Redis image unless RedisOptions.Image or
// EnvRedisImage say otherwise.
const DefaultRedisImage = "redis:7.2"

// RedisLocalImage is the image RedisImage builds from the host's
// redis-server, used when the configured image is neither present nor
// pullable.
const RedisLocalImage = "gatelab-redis:local"

// Strategy modes and the values Redis.Kind returns.
const (
	ModeAuto    = "auto"
	ModeDocker  = "docker"
	ModeProcess = "process"

	KindTestcontainers = "testcontainers"
	KindLocalProcess   = "local-process"
)

// Redis timeouts.
const (
	redisStartTimeout = 60 * time.Second // a new container or process is ready
	redisReadyTimeout = 15 * time.Second // a restarted server answers PING
	redisStopGrace    = 2 * time.Second  // Close: SIGTERM, then SIGKILL
	dockerOpTimeout   = 30 * time.Second // one Docker API operation without a caller deadline
)

// redisArgs are the server's options besides the port: no persistence, no
// protected mode (the server listens on loopback or in a container).
var redisArgs = []string{"--protected-mode", "no", "--save", "", "--appendonly", "no"}

// RedisOptions choose how StartRedis runs the server.
type RedisOptions struct {
	// Mode is ModeAuto, ModeDocker or ModeProcess; "" means the value of
	// EnvRedisMode, or ModeAuto.
	Mode string
	// Image is the Docker strategy's image; "" means the value of
	// EnvRedisImage, or DefaultRedisImage.
	Image string
	// Log, if set, receives progress messages (testcontainers' included).
	Log func(format string, args ...any)
}

// Redis is a running Redis server. Its methods are safe for concurrent use;
// the operations (Freeze, Thaw, Kill, Restart, Close) are serialized.
type Redis struct {
	kind, note, version string
	port                int

	mu     sync.Mutex
	frozen bool
	killed bool
	closed bool
	b      redisBackend
}

// redisBackend is what a strategy implements.
type redisBackend interface {
	freeze(ctx context.Context) error
	thaw(ctx context.Context) error
	kill(ctx context.Context) error    // stop hard; the server must not answer afterwards
	restart(ctx context.Context) error // start again on the same port (after kill)
	close() error
	logs() string // recent server output
}

// RedisBinary returns the redis-server the process strategy and the local
// image use, or why there is none.
func RedisBinary() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("no redis-server on PATH: %w", err)
	}
	return bin, nil
}

// RedisImage describes RedisLocalImage: the host's redis-server with its
// libraries, ENTRYPOINT redis-server, CMD the server options on port 6379,
// EXPOSE 6379.
func RedisImage() (*Image, error) {
	bin, err := RedisBinary()
	if err != nil {
		return nil, err
	}
	return &Image{
		Ref:        RedisLocalImage,
		Binaries:   []string{bin},
		Entrypoint: []string{bin},
		Cmd:        append([]string{"--port", "6379"}, redisArgs...),
		Expose:     []string{"6379/tcp"},
		Labels:     map[string]string{"org.gatelab.image": "host redis-server"},
	}, nil
}

// StartRedis starts a Redis server and returns once it answers PING.
//
// ModeAuto: in a container if Docker is reachable and an image is usable
// (see the package documentation), else as a redis-server process; an
// error wrapping ErrUnavailable when neither is possible. A container that
// fails to start is an error, not a reason to fall back. ModeDocker and
// ModeProcess force a strategy (ErrUnavailable when it is not possible).
func StartRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	ctx, cancel := bound(ctx, startBound)
	defer cancel()
	mode := o.Mode
	if mode == "" {
		mode = os.Getenv(EnvRedisMode)
	}
	img := o.Image
	if img == "" {
		img = os.Getenv(EnvRedisImage)
	}
	if img == "" {
		img = DefaultRedisImage
	}
	switch mode {
	case ModeProcess:
		bin, err := RedisBinary()
		if err != nil {
			return nil, unavailable("Redis", err.Error())
		}
		return startRedisProcess(ctx, bin, "redis-server process (forced)", o.Log)
	case ModeDocker:
		if err := DockerAvailable(); err != nil {
			return nil, unavailable("Redis", "Docker not reachable: "+err.Error())
		}
		res, err := resolveImage(ctx, img, RedisImage)
		if err != nil {
			return nil, unavailable("Redis", "Docker is reachable but no Redis image is usable: "+err.Error())
		}
		return startRedisDocker(ctx, res, o.Log)
	case "", ModeAuto:
	default:
		return nil, fmt.Errorf("starting Redis: mode %q: want %q, %q or %q", mode, ModeAuto, ModeDocker, ModeProcess)
	}
	dockerErr := DockerAvailable()
	var why string
	if dockerErr == nil {
		res, err := resolveImage(ctx, img, RedisImage)
		if err == nil {
			return startRedisDocker(ctx, res, o.Log)
		}
		why = "Docker is reachable but no Redis image is usable: " + err.Error()
	} else {
		why = "Docker not reachable: " + dockerErr.Error()
	}
	bin, err := RedisBinary()
	if err != nil {
		return nil, unavailable("Redis", why+"; and "+err.Error())
	}
	return startRedisProcess(ctx, bin, "redis-server process ("+why+")", o.Log)
}

// finishStart reads the server's version; on failure the server is closed.
func (r *Redis) finishStart(ctx context.Context) error {
	v, err := redisVersion(ctx, r.Addr())
	if err != nil {
		err = fmt.Errorf("starting Redis: reading its version: %w\n%s", err, r.b.logs())
		r.b.close()
		return err
	}
	r.version = v
	return nil
}

func redisVersion(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := RedisDo(ctx, addr, "INFO", "server")
	if err != nil {
		return "", err
	}
	info, _ := v.(string)
	ver := InfoField(info, "redis_version")
	if ver == "" {
		return "", fmt.Errorf("INFO server has no redis_version: %.200q", info)
	}
	return ver, nil
}

// Addr is the server's host:port on 127.0.0.1. It does not change across
// Restart.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the server's go-redis URL, redis://127.0.0.1:PORT/0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Kind is the strategy: KindTestcontainers or KindLocalProcess.
func (r *Redis) Kind() string { return r.kind }

// Note says how the strategy and image were chosen, for logs and results.
func (r *Redis) Note() string { return r.note }

// Version is the redis_version the running server reports in INFO.
func (r *Redis) Version() string { return r.version }

// Ping sends one PING on a new connection, bounded by ctx.
func (r *Redis) Ping(ctx context.Context) error { return RedisPing(ctx, r.Addr()) }

// opCtx bounds an operation whose caller gave no deadline.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return bound(ctx, dockerOpTimeout)
}

// bound gives ctx the timeout d unless it has a deadline already.
func bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// startBound bounds a start whose caller gave no deadline (pulls and image
// builds have their own, shorter, bounds).
const startBound = 10 * time.Minute

var errClosed = errors.New("already closed")

// Freeze suspends the server (SIGSTOP to the process group, or docker
// pause): connections are still accepted but nothing is answered, and its
// data is kept. Freezing a frozen server does nothing.
func (r *Redis) Freeze(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return fmt.Errorf("freezing Redis: %w", errClosed)
	case r.killed:
		return errors.New("freezing Redis: the server is killed")
	case r.frozen:
		return nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.b.freeze(ctx); err != nil {
		return fmt.Errorf("freezing Redis: %w", err)
	}
	r.frozen = true
	return nil
}

// Thaw resumes a frozen server.
func (r *Redis) Thaw(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("thawing Redis: %w", errClosed)
	}
	if !r.frozen {
		return nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.b.thaw(ctx); err != nil {
		return fmt.Errorf("thawing Redis: %w", err)
	}
	r.frozen = false
	return nil
}

// Kill stops the server at once (SIGKILL; a frozen container is unpaused
// first, as Docker cannot kill a paused one): connections are refused
// afterwards. Killing a killed server does nothing.
func (r *Redis) Kill(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killLocked(ctx)
}

func (r *Redis) killLocked(ctx context.Context) error {
	if r.closed {
		return fmt.Errorf("killing Redis: %w", errClosed)
	}
	if r.killed {
		return nil
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if err := r.b.kill(ctx); err != nil {
		return fmt.Errorf("killing Redis: %w", err)
	}
	r.frozen, r.killed = false, true
	return nil
}

// Restart starts the server again on the same address, killing it first if
// it runs, and returns once it answers PING. The new server is empty.
func (r *Redis) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := bound(ctx, dockerOpTimeout+redisStartTimeout+redisReadyTimeout)
	defer cancel()
	if err := r.killLocked(ctx); err != nil {
		return fmt.Errorf("restarting Redis: %w", err)
	}
	if err := r.b.restart(ctx); err != nil {
		return fmt.Errorf("restarting Redis: %w\n%s", err, r.b.logs())
	}
	r.killed = false
	if err := waitPing(ctx, r.Addr(), redisReadyTimeout); err != nil {
		return fmt.Errorf("restarting Redis: %w\n%s", err, r.b.logs())
	}
	return nil
}

// Close stops the server and removes what it used (container, data
// directory). Later calls return nil.
func (r *Redis) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if err := r.b.close(); err != nil {
		return fmt.Errorf("closing Redis: %w", err)
	}
	return nil
}

// Logs returns the server's recent output (all of its runs).
func (r *Redis) Logs() string { return r.b.logs() }
