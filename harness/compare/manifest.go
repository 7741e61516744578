package compare

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Manifest records where and how a run was taken.
type Manifest struct {
	Tool      string    `json:"tool"`
	Start     time.Time `json:"start"`
	GitSHA    string    `json:"git_sha,omitempty"`
	GitDirty  bool      `json:"git_dirty,omitempty"` // uncommitted changes in the work tree
	GoVersion string    `json:"go_version"`          // of the compare process (the gatelab binary is built by the same toolchain in make)
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	CPUModel  string    `json:"cpu_model,omitempty"`
	Cores     int       `json:"cores"`
	Kernel    string    `json:"kernel,omitempty"`
	// GOMAXPROCS of the load generator.
	GOMAXPROCS   int    `json:"gomaxprocs"`
	GatelabBin   string `json:"gatelab_bin"`
	Nginx        string `json:"nginx,omitempty"`         // binary
	NginxVersion string `json:"nginx_version,omitempty"` // "nginx/1.22.1"
	// NginxWorkerProcesses is the worker_processes setting and
	// NginxWorkers the number of workers seen running.
	NginxWorkerProcesses string `json:"nginx_worker_processes,omitempty"`
	NginxWorkers         int    `json:"nginx_workers,omitempty"`
	// LoadAvgStart and LoadAvgEnd are the host's 1, 5 and 15 minute load
	// averages when the run started and ended: other work on the host
	// shows here.
	LoadAvgStart string `json:"load_avg_start,omitempty"`
	LoadAvgEnd   string `json:"load_avg_end,omitempty"`
	// Args is the command line after "gatelab compare".
	Args []string `json:"args"`
	// ConfigSHA256 maps each rendered config file to its SHA-256.
	ConfigSHA256 map[string]string `json:"config_sha256,omitempty"`
}

// collectManifest fills what can be known before anything starts. Every
// command it runs is bounded by a short timeout; a missing fact is left empty.
func collectManifest(ctx context.Context, root string, args []string) Manifest {
	m := Manifest{
		Tool:         "gatelab compare",
		Start:        time.Now().UTC(),
		GoVersion:    runtime.Version(),
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		Cores:        runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		CPUModel:     cpuModel(),
		Kernel:       kernelRelease(),
		LoadAvgStart: loadAvg(),
		Args:         append([]string{}, args...),
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

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// nginxVersion runs "nginx -v", which prints "nginx version: nginx/1.22.1"
// on stderr.
func nginxVersion(ctx context.Context, bin string) string {
	out, err := runShort(ctx, "", bin, "-v")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "nginx version:"))
}
