package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gatelab/gatelab/reports"
)

// collectManifest fills what can be known before anything starts. Every
// command it runs is bounded; a missing fact is left empty.
func collectManifest(ctx context.Context, root string, args []string) reports.Manifest {
	host, _ := os.Hostname()
	m := reports.Manifest{
		GoVersion:  runtime.Version(),
		Cores:      runtime.NumCPU(),
		CPUModel:   cpuModel(),
		Kernel:     kernelRelease(),
		Hostname:   host,
		LoadBefore: loadAvg(),
		Args:       append([]string{}, args...),
	}
	if out, err := runShort(ctx, root, "git", "rev-parse", "HEAD"); err == nil {
		m.GitSHA = strings.TrimSpace(out)
		if st, err := runShort(ctx, root, "git", "status", "--porcelain", "--untracked-files=no"); err == nil {
			m.GitDirty = strings.TrimSpace(st) != ""
		}
	}
	return m
}

// runShort runs a command for at most 10 seconds and returns its combined
// output.
func runShort(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	b, err := cmd.CombinedOutput()
	return string(b), err
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() [3]float64 {
	var l [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return l
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
