package compare

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestCompareSmoke runs the whole compare with tiny trials: real upstream,
// gatelab (fasthttp) and, when installed, nginx processes on loopback.
func TestCompareSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and sends load; skipped with -short")
	}
	targets := []string{TargetDirect, TargetFasthttp}
	if _, err := findNginx(""); err != nil {
		if os.Getenv(EnvRequireNginx) == "1" {
			t.Fatalf("%v, and %s=1", err, EnvRequireNginx)
		}
		t.Logf("NOTICE: %v: the nginx target is not part of this smoke test (set %s=1 to make this a failure)", err, EnvRequireNginx)
	} else {
		targets = []string{TargetDirect, TargetNginx, TargetFasthttp}
	}

	o := DefaultOptions()
	o.Bin = testproc.Binary(t)
	o.Root = repoRoot(t)
	o.Duration = 300 * time.Millisecond
	o.Warmup = 100 * time.Millisecond
	o.Reps = 1
	o.Workers = 4
	o.Targets = targets
	o.Out = t.TempDir()
	o.Progress = logWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var console strings.Builder
	rep.WriteConsole(&console)
	t.Logf("report:\n%s", console.String())

	if len(rep.Summary) != len(targets) {
		t.Fatalf("%d summaries, want %d", len(rep.Summary), len(targets))
	}
	for _, s := range rep.Summary {
		if !s.Valid || s.MedianRPS <= 0 || s.Requests == 0 || s.SuccessRatio != 1 {
			t.Errorf("%s: valid %v, %.0f req/s, %d requests, 2xx %.4f%% (%v); want > 0 req/s, all 2xx",
				s.Target, s.Valid, s.MedianRPS, s.Requests, s.SuccessRatio*100, s.Invalid)
		}
	}
	if len(rep.Trials) != len(targets) {
		t.Errorf("%d trials, want %d (1 rep)", len(rep.Trials), len(targets))
	}
	for i, tr := range rep.Trials {
		if tr.Target != targets[i] || tr.Rep != 1 {
			t.Errorf("trial %d is %s rep %d, want %s rep 1", i, tr.Target, tr.Rep, targets[i])
		}
		if tr.WarmupRequests == 0 {
			t.Errorf("%s: no warm-up requests", tr.Target)
		}
		if tr.Histogram == "" {
			t.Errorf("%s: no histogram kept", tr.Target)
		}
	}
	for _, ti := range rep.Targets {
		if ti.Parity == nil || !ti.Parity.OK {
			t.Errorf("%s: parity probe %+v", ti.Name, ti.Parity)
		}
		if ti.Name != TargetDirect && ti.AccessLogLines == 0 {
			t.Errorf("%s: the access log is empty", ti.Name)
		}
	}
	// nethttp was not selected: its check is skipped; fasthttp/nginx is
	// evaluated when nginx ran (the verdict itself depends on the machine).
	for _, c := range rep.Checks {
		want := []string{Skip}
		if c.Num == TargetFasthttp && len(targets) == 3 {
			want = []string{Pass, Fail}
		}
		if !strings.Contains(strings.Join(want, " "), c.Verdict) {
			t.Errorf("check %s: %s, want one of %v", c.Expr, c, want)
		}
	}
	if rep.ExitCode == 2 {
		t.Errorf("exit code 2 (invalid run): %v", rep.Invalid)
	}

	// The files next to the results.
	want := []string{"compare.json", "compare.md", "gatelab-fasthttp.yaml", "upstream.log"}
	if len(targets) == 3 {
		want = append(want, "nginx.conf")
	}
	for _, f := range want {
		if _, err := os.Stat(filepath.Join(rep.Dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	var back Report
	b, err := os.ReadFile(filepath.Join(rep.Dir, "compare.json"))
	if err == nil {
		err = json.Unmarshal(b, &back)
	}
	if err != nil || back.RunID != rep.RunID || len(back.Trials) != len(rep.Trials) || back.Manifest.Cores == 0 {
		t.Errorf("compare.json does not hold the report (err %v)", err)
	}

	// Every process is stopped: nothing answers on the targets' addresses.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for _, ti := range rep.Targets {
		if resp, err := client.Get(ti.URL); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers on %s after Run returned", ti.Name, ti.URL)
		}
	}
}
