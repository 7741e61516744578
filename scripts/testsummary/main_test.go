package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module writes a throwaway module with the given files and makes it the
// working directory: the real go test runs on it.
func module(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.22\n"
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

const passingPkg = `package a

import "testing"

func TestPass(t *testing.T) { t.Log("chatter of a passing test") }
func TestNeedsRedis(t *testing.T) { t.Skip("no redis-server on PATH") }
func TestAlsoNeedsRedis(t *testing.T) { t.Log("before"); t.Skip("no redis-server on PATH") }
func TestSilentSkip(t *testing.T) { t.SkipNow() }
func TestSub(t *testing.T) {
	t.Run("skipped", func(t *testing.T) { t.Skipf("sub %d", 1) })
	t.Run("runs", func(t *testing.T) {})
}
`

const failingPkg = `package b

import "testing"

func TestBoom(t *testing.T) { t.Log("context"); t.Error("boom") }
func TestFine(t *testing.T) { t.Log("chatter of a passing test") }
`

// Failures and skips, each skip grouped under its reason; the output of
// failing tests shown, the chatter of passing ones not; exit 1.
func TestSummaryFailuresAndSkips(t *testing.T) {
	module(t, map[string]string{"a/a_test.go": passingPkg, "b/b_test.go": failingPkg})
	var out, errb bytes.Buffer
	code := run([]string{"-count=1", "./..."}, nil, &out, &errb)
	got := out.String()
	if code != 1 {
		t.Errorf("exit %d, want 1\n%s%s", code, got, errb.String())
	}
	for _, want := range []string{
		"ok  \texample.com/m/a",
		"--- FAIL: TestBoom", "boom", "FAIL\texample.com/m/b",
		"=== summary: 4 passed, 1 failed, 4 skipped; 2 packages, 1 failed",
		"  no redis-server on PATH\n      example.com/m/a TestAlsoNeedsRedis\n      example.com/m/a TestNeedsRedis\n",
		"  (no reason given)\n      example.com/m/a TestSilentSkip\n",
		"  sub 1\n      example.com/m/a TestSub/skipped\n",
		"FAILED (1):\n  example.com/m/b TestBoom\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"chatter of a passing test", "=== RUN"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("output holds %q:\n%s", unwanted, got)
		}
	}
}

// Only passes and skips: exit 0, the skips still listed. The same stream
// read from stdin gives the same summary.
func TestSummaryPassWithSkips(t *testing.T) {
	module(t, map[string]string{"a/a_test.go": passingPkg})
	var out bytes.Buffer
	if code := run([]string{"-count=1", "./..."}, nil, &out, os.Stderr); code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "SKIPPED (4), by reason:") || !strings.HasSuffix(out.String(), "\nPASS\n") {
		t.Errorf("output:\n%s", out.String())
	}
	stream, err := exec.Command("go", "test", "-json", "-count=1", "./...").Output()
	if err != nil {
		t.Fatalf("go test -json: %v", err)
	}
	var piped bytes.Buffer
	code := run(nil, bytes.NewReader(stream), &piped, os.Stderr)
	// The same from "=== summary" on (the "ok" line holds a duration).
	_, want, _ := strings.Cut(out.String(), "=== summary")
	_, got, _ := strings.Cut(piped.String(), "=== summary")
	if code != 0 || got != want {
		t.Errorf("from stdin: exit %d, output:\n%s\nwant:\n%s", code, piped.String(), out.String())
	}
}

// A build failure is a failure, with the compiler's message shown.
func TestSummaryBuildFailure(t *testing.T) {
	module(t, map[string]string{"c/c_test.go": "package c\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) { undefinedThing() }\n"})
	var out bytes.Buffer
	if code := run([]string{"./..."}, nil, &out, os.Stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"undefined: undefinedThing", "FAILED PACKAGES (1):\n  example.com/m/c\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// An empty stream (go test never ran) is not a pass.
func TestSummaryEmptyStream(t *testing.T) {
	var out bytes.Buffer
	if code := run(nil, strings.NewReader(""), &out, os.Stderr); code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out.String())
	}
}
