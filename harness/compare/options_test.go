package compare

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOptionsCheck(t *testing.T) {
	good := DefaultOptions()
	good.Bin = "/bin/true"
	if err := good.Check(); err != nil {
		t.Fatalf("defaults with a binary: %v", err)
	}
	bad := good
	bad.Bin = ""
	bad.Duration = 0
	bad.Workers = 0
	bad.Reps = 1000
	bad.Warmup = -time.Second
	bad.Targets = []string{"direct", "haproxy", "direct"}
	err := bad.Check()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("Check = %v, want an *InputError", err)
	}
	for _, want := range []string{"-bin", "-duration", "-warmup", "-workers", "-reps", `unknown target "haproxy"`, `"direct" given twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}

func TestParseTargets(t *testing.T) {
	got := ParseTargets(" direct, ,gatelab-fasthttp,")
	if strings.Join(got, "|") != "direct|gatelab-fasthttp" {
		t.Errorf("ParseTargets = %q", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// utime 150 and stime 50 ticks; the command name holds ") (" to make
	// sure fields are counted from the last parenthesis.
	stat := "4242 (we) (ird name) S 1 4242 4242 0 -1 4194304 100 0 0 0 150 50 0 0 20 0 5 0 1000 1000000 200 18446744073709551615"
	if got, want := parseStatCPU(stat), 2*time.Second; got != want {
		t.Errorf("parseStatCPU = %v, want %v", got, want)
	}
	if got := parseStatCPU("garbage"); got != 0 {
		t.Errorf("parseStatCPU(garbage) = %v, want 0", got)
	}
}
