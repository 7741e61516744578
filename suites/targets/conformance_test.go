package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/internal/testproc"
	"github.com/gatelab/gatelab/suites"
)

func TestMain(m *testing.M) { testproc.Main(m) }

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fixtures", "gateway.yaml")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// engineCombos are the reference gateway's engine combinations. The
// harness never imports the engine registry; these are the names it has
// (cmd/gatelab's conform takes them from the registry).
func engineCombos() [][3]string {
	var out [][3]string
	for _, s := range []string{"nethttp", "fasthttp"} {
		for _, r := range []string{"trie", "regex", "mux"} {
			for _, l := range []string{"local", "redis", "crdt"} {
				out = append(out, [3]string{s, r, l})
			}
		}
	}
	return out
}

// TestConformance runs every case against the reference gateway in every
// engine combination: every core and extended case it declares must pass.
// The redis combinations need a Redis (skipped with the reason without one,
// unless GATELAB_REQUIRE_REDIS=1).
func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, root := testproc.Binary(t), repoRoot(t)
	fx, err := StartFixture(ctx, bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	var redisAddr, redisWhy string
	if r, err := deps.StartRedis(ctx, RedisOptions()); err != nil {
		if os.Getenv("GATELAB_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis: %v", err)
		}
		redisWhy = err.Error()
	} else {
		defer r.Close()
		redisAddr = r.Addr()
	}
	cases := suites.All()
	sem := make(chan struct{}, 3) // gateways at once: 2 cores
	var mu sync.Mutex
	var summary strings.Builder
	var wg sync.WaitGroup
	for _, c := range engineCombos() {
		name := fmt.Sprintf("gatelab-%s-%s-%s", c[0], c[1], c[2])
		if c[2] == "redis" && redisAddr == "" {
			t.Logf("SKIP %s: no Redis (%s)", name, redisWhy)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			g, err := StartGatelab(ctx, GatelabOptions{Bin: bin, Root: root, Server: c[0], Router: c[1], Limiter: c[2], Redis: redisAddr, Fixture: fx})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			defer g.Close()
			rep := suites.Run(ctx, g, cases, suites.Options{Root: root})
			mu.Lock()
			defer mu.Unlock()
			rep.Summary(&summary)
			for _, cr := range rep.Cases {
				if cr.Outcome == suites.Failed {
					t.Errorf("%s: %s failed: %s", name, cr.ID, cr.Reason)
				}
			}
			for _, p := range rep.Profiles {
				if p.Level == suites.Core && p.Passed == 0 {
					t.Errorf("%s: no core case passed", name)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("conformance:\n%s", summary.String())
}
