package deps

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"sync"

	"github.com/gatelab/gatelab/harness/fleet"
)

// RedisReady matches the line redis-server prints once it serves.
var RedisReady = regexp.MustCompile(`Ready to accept connections`)

// RedisServerArgs is the command line of a redis-server process on port
// with data directory dir: loopback only, foreground, logging to stdout, no
// persistence, no protected mode.
func RedisServerArgs(port int, dir string) []string {
	return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--daemonize", "no", "--logfile", ""}, redisArgs...)
}

// redisProc is the process strategy.
type redisProc struct {
	dir string

	mu   sync.Mutex
	p    *fleet.Proc
	past string // output of earlier runs
}

func startRedisProcess(ctx context.Context, bin, note string, log func(string, ...any)) (*Redis, error) {
	dir, err := os.MkdirTemp("", "gatelab-redis-")
	if err != nil {
		return nil, fmt.Errorf("starting Redis: %w", err)
	}
	spec := fleet.Spec{Name: "redis-server", Path: bin, Dir: dir, Ready: RedisReady, ReadyTimeout: redisStartTimeout}
	p, ports, err := StartOnFreePorts(ctx, spec, 1, func(ports []int) ([]string, error) { return RedisServerArgs(ports[0], dir), nil })
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting Redis (%s): %w", bin, err)
	}
	b := &redisProc{dir: dir, p: p}
	r := &Redis{kind: KindLocalProcess, note: note, port: ports[0], b: b}
	if err := r.finishStart(ctx); err != nil {
		return nil, err
	}
	if log != nil {
		log("deps: Redis %s at %s: %s", r.version, r.Addr(), r.note)
	}
	return r, nil
}

func (b *redisProc) proc() *fleet.Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.p
}

func (b *redisProc) freeze(context.Context) error { return b.proc().Freeze() }
func (b *redisProc) thaw(context.Context) error   { return b.proc().Thaw() }
func (b *redisProc) kill(context.Context) error   { return b.proc().Kill() }

func (b *redisProc) restart(ctx context.Context) error {
	old := b.proc()
	np, err := old.Restart(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.past += old.Output() + "\n---- restart ----\n"
	b.p = np
	return nil
}

func (b *redisProc) close() error {
	err := b.proc().Stop(redisStopGrace)
	if rerr := os.RemoveAll(b.dir); err == nil {
		err = rerr
	}
	return err
}

func (b *redisProc) logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.past + b.p.Output()
}
