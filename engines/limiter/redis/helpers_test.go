package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
	"github.com/gatelab/gatelab/internal/redistest"
)

// stubbedTime is the one line clockScript replaces.
const stubbedTime = "redis.call('TIME')"

// clockScript is the production decision script with TIME replaced by the
// two extra arguments Allow passes when Limiter.now is set, so the exact Lua
// code of every decision can run under a fake clock.
func clockScript(t testing.TB) *goredis.Script {
	t.Helper()
	if strings.Count(decideLua, stubbedTime) != 1 {
		t.Fatalf("decideLua must call %s exactly once", stubbedTime)
	}
	return goredis.NewScript(helpersLua + strings.Replace(decideLua, stubbedTime, "{ARGV[5], ARGV[6]}", 1))
}

// newTestLimiter builds a limiter on url, closed when the test ends.
func newTestLimiter(t testing.TB, url string, mod func(*engines.LimiterOptions)) *Limiter {
	t.Helper()
	return newTestLimiterSettings(t, Settings{URL: url}, mod)
}

// newTestLimiterSettings builds a limiter with settings s, closed when the
// test ends.
func newTestLimiterSettings(t testing.TB, s Settings, mod func(*engines.LimiterOptions)) *Limiter {
	t.Helper()
	var opts engines.LimiterOptions
	if mod != nil {
		mod(&opts)
	}
	l, err := newLimiter(opts, s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// fakeClockLimiter runs the clock-stubbed script with now as its clock.
func fakeClockLimiter(t testing.TB, url string, now func() time.Time) *Limiter {
	l := newTestLimiter(t, url, nil)
	l.script, l.now = clockScript(t), now
	return l
}

// rawClient is a plain client on r for inspecting the server.
func rawClient(t testing.TB, r *redistest.Redis) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// mustAllow calls Allow and fails the test on an error.
func mustAllow(t testing.TB, l pipeline.Limiter, key string, p pipeline.Policy) pipeline.LimitDecision {
	t.Helper()
	d, err := l.Allow(context.Background(), key, p)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

// section is s as the config's limiter.redis section, for engines.NewLimiter.
func section(t testing.TB, s Settings) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := n.Encode(s); err != nil {
		t.Fatal(err)
	}
	return &n
}
