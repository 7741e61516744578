package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The bench command's input handling: help exits 0, bad input exits 2 with
// every problem and its line, the built-in set validates and lists every
// profile's scenarios, and the registry's engines reach the matrix.
func TestBenchCommandInput(t *testing.T) {
	if code, stdout, _ := runCLI("bench", "-h"); code != 0 || !strings.Contains(stdout, "usage: gatelab bench") {
		t.Errorf("-h: code %d stdout %q", code, stdout)
	}
	if code, _, stderr := runCLI("bench", "-profile", "nightly"); code != 2 || !strings.Contains(stderr, `unknown profile "nightly" (known: quick, ci, full)`) {
		t.Errorf("unknown profile: code %d stderr %q", code, stderr)
	}
	if code, _, _ := runCLI("bench", "-reps"); code != 2 {
		t.Errorf("a flag without its value: code %d", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`name: bad
upstreams: [{name: u}]
routes: [{id: r, prefix: /a/, upstream: u, request: GET /a/b}]
load: {stages: [{duration: 2s, rate: 10}]}
budgets:
  - availability >= 99.9%
  - latency.p99{rout:r} < 5ms
  - overhead.p99 < 5%
`), 0o644)
	code, _, stderr := runCLI("bench", "-scenario", bad, "-validate")
	if code != 2 || !strings.Contains(stderr, "bad.yaml:7: budgets[1]:") || !strings.Contains(stderr, "bad.yaml:8: budgets[2]:") {
		t.Errorf("bad scenario: code %d stderr %q", code, stderr)
	}
	code, out, stderr := runCLI("bench", "-profile", "full", "-validate")
	if code != 0 || strings.Count(out, "ok: ") < 13 {
		t.Errorf("built-in scenarios: code %d out %q stderr %q", code, out, stderr)
	}
	code, out, _ = runCLI("bench", "-list")
	for _, want := range []string{"profile quick", "profile ci", "profile full", "scenario steady", "scenario steady-5k", "scenario crdt-partition"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("-list lacks %q (code %d):\n%s", want, code, out)
		}
	}
}
