package deps

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

const requireRedis = "GATELAB_REQUIRE_REDIS"

// TestRedisStrategies runs the lifecycle on each strategy.
func TestRedisStrategies(t *testing.T) {
	t.Run(ModeProcess, func(t *testing.T) {
		needBinary(t, "redis-server", requireRedis)
		redisLifecycle(t, ModeProcess, KindLocalProcess)
	})
	t.Run(ModeDocker, func(t *testing.T) {
		needDocker(t)
		redisLifecycle(t, ModeDocker, KindTestcontainers)
	})
}

func redisLifecycle(t *testing.T, mode, kind string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := StartRedis(ctx, RedisOptions{Mode: mode, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", r.Logs())
		}
		if !closed {
			r.Close()
		}
	})
	t.Logf("%s: %s at %s, redis %s", r.Kind(), r.Note(), r.URL(), r.Version())
	if r.Kind() != kind {
		t.Fatalf("Kind() = %q, want %q", r.Kind(), kind)
	}
	if r.Version() == "" {
		t.Fatal("Version() is empty")
	}
	if strings.Contains(r.Note(), RedisLocalImage) || kind == KindLocalProcess {
		// The server runs the host's binary: its version is the host's.
		if hv := hostRedisVersion(t); hv != "" && hv != r.Version() {
			t.Errorf("Version() = %s, the host's redis-server is %s", r.Version(), hv)
		}
	}
	addr, url := r.Addr(), r.URL()
	ping := func(d time.Duration) error {
		c, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return r.Ping(c)
	}
	if err := ping(time.Second); err != nil {
		t.Fatalf("PING after start: %v", err)
	}
	if _, err := RedisDo(ctx, addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}

	if err := r.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	err = ping(100 * time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("PING while frozen: %v, want a timeout", err)
	}
	if err := r.Freeze(ctx); err != nil {
		t.Fatalf("second Freeze: %v", err)
	}
	if err := r.Thaw(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ping(time.Second); err != nil {
		t.Fatalf("PING after Thaw: %v", err)
	}
	if v, err := RedisDo(ctx, addr, "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k after Thaw: %v, %v; want the data kept", v, err)
	}

	if err := r.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ping(time.Second); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if err := r.Freeze(ctx); err == nil {
		t.Fatal("Freeze of a killed server succeeded")
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Addr() != addr || r.URL() != url {
		t.Fatalf("address changed across Restart: %s -> %s", url, r.URL())
	}
	if err := ping(time.Second); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if v, err := RedisDo(ctx, addr, "GET", "k"); err != nil || v != "" {
		t.Fatalf("GET k after Restart: %q, %v; want an empty server", v, err)
	}

	// Restart of a frozen server (Docker must unpause before it kills).
	if err := r.Freeze(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ping(time.Second); err != nil {
		t.Fatalf("PING after Freeze and Restart: %v", err)
	}
	if !strings.Contains(r.Logs(), "Ready to accept connections") {
		t.Errorf("Logs() lacks the ready line:\n%s", r.Logs())
	}

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := ping(time.Second); err == nil {
		t.Fatal("PING answered after Close")
	}
	if err := r.Kill(ctx); err == nil {
		t.Fatal("Kill after Close succeeded")
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// hostRedisVersion is the version `redis-server --version` prints, "" if
// unknown.
func hostRedisVersion(t *testing.T) string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`v=(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Logf("cannot read the version in %q", out)
		return ""
	}
	return string(m[1])
}

// TestStartRedisAuto: the automatic choice prefers Docker when it answers.
func TestStartRedisAuto(t *testing.T) {
	t.Setenv(EnvRedisMode, "")
	dockerErr := DockerAvailable()
	if dockerErr != nil {
		needBinary(t, "redis-server", requireRedis)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := StartRedis(ctx, RedisOptions{Log: t.Logf})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			t.Skipf("no Redis here: %v", err)
		}
		t.Fatal(err)
	}
	defer r.Close()
	want := KindTestcontainers
	if dockerErr != nil {
		want = KindLocalProcess
	}
	if r.Kind() != want {
		t.Errorf("Kind() = %s (%s), want %s", r.Kind(), r.Note(), want)
	}
	c, cancelPing := context.WithTimeout(ctx, time.Second)
	defer cancelPing()
	if err := r.Ping(c); err != nil {
		t.Fatal(err)
	}
}

// TestRedisUnavailable: no binary and a forced process strategy is
// ErrUnavailable; a bad mode is another error.
func TestRedisUnavailable(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis(context.Background(), RedisOptions{Mode: ModeProcess})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "redis-server") {
		t.Errorf("no redis-server on PATH: %v, want ErrUnavailable naming redis-server", err)
	}
	_, err = StartRedis(context.Background(), RedisOptions{Mode: "podman"})
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("mode podman: %v, want an error other than ErrUnavailable", err)
	}
}

// TestReadReply decodes each RESP2 type.
func TestReadReply(t *testing.T) {
	for _, c := range []struct {
		in   string
		want any
	}{
		{"+PONG\r\n", "PONG"},
		{"-ERR bad\r\n", RedisError("ERR bad")},
		{":42\r\n", int64(42)},
		{"$5\r\nhe\r\no\r\n", "he\r\no"},
		{"$-1\r\n", ""},
		{"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", []any{"a", []any{int64(1)}}},
	} {
		got, err := readReply(bufio.NewReader(strings.NewReader(c.in)), 0)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("readReply(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	if _, err := readReply(bufio.NewReader(strings.NewReader("?x\r\n")), 0); err == nil {
		t.Error("an unknown reply type was accepted")
	}
}
