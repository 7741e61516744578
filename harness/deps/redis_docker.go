package deps

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"
)

// redisDocker is the testcontainers strategy.
type redisDocker struct{ d *dockerCtr }

func startRedisDocker(ctx context.Context, img resolved, log func(string, ...any)) (*Redis, error) {
	cmd := append([]string{"--port", "6379"}, redisArgs...)
	if !img.local {
		// Official-style images: the entrypoint script runs the command given.
		cmd = append([]string{"redis-server"}, cmd...)
	}
	d, err := startContainer(ctx, containerSpec{
		image: img.ref,
		port:  "6379/tcp",
		cmd:   func(int) []string { return cmd },
		// Only the log line: the module's port wait probes the address
		// testcontainers infers for the daemon (from inside a container,
		// the bridge gateway), while the port is published on 127.0.0.1
		// only. The PING below checks the published address.
		wait: wait.ForLog("* Ready to accept connections").WithStartupTimeout(redisStartTimeout),
		log:  log,
		run: func(ctx context.Context, ref string, opts ...testcontainers.ContainerCustomizer) (testcontainers.Container, error) {
			c, err := tcredis.Run(ctx, ref, opts...)
			if c == nil {
				return nil, err
			}
			return c, err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("starting Redis with %s: %w", img.note, err)
	}
	r := &Redis{kind: KindTestcontainers, note: "testcontainers with " + img.note, port: d.port, b: &redisDocker{d: d}}
	if err := waitPing(ctx, r.Addr(), redisReadyTimeout); err != nil {
		err = fmt.Errorf("starting Redis: the container started but %w\n%s", err, r.b.logs())
		r.b.close()
		return nil, err
	}
	if err := r.finishStart(ctx); err != nil {
		return nil, err
	}
	if log != nil {
		log("deps: Redis %s at %s: %s", r.version, r.Addr(), r.note)
	}
	return r, nil
}

func (b *redisDocker) freeze(ctx context.Context) error { return b.d.pause(ctx) }
func (b *redisDocker) thaw(ctx context.Context) error   { return b.d.unpause(ctx) }
func (b *redisDocker) kill(ctx context.Context) error   { return b.d.stop(ctx, 0) }

func (b *redisDocker) restart(ctx context.Context) error { return b.d.start(ctx) }
func (b *redisDocker) close() error                      { return b.d.terminate() }

func (b *redisDocker) logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.d.logs(ctx)
}
