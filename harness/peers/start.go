package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gatelab/gatelab/harness/fleet"
)

// Bounds of Start and Stop.
const (
	StartTimeout  = 15 * time.Second // until the ready line
	AcceptTimeout = 5 * time.Second  // from the ready line until the listener accepts
	StopGrace     = 5 * time.Second  // SIGTERM to SIGKILL
	versionWait   = 10 * time.Second
)

// ErrNotInstalled is returned (wrapped) by Find when kind's binary is not
// on this machine.
var ErrNotInstalled = errors.New("not installed")

// searchDirs are looked in after PATH: Debian installs both peers in
// /usr/sbin, which is not on every user's PATH.
var searchDirs = []string{"/usr/sbin", "/usr/local/sbin"}

// Find returns the path of kind's binary: from PATH, else /usr/sbin or
// /usr/local/sbin. The error wraps ErrNotInstalled when there is none.
func Find(kind string) (string, error) {
	if err := checkKind(kind); err != nil {
		return "", fmt.Errorf("finding a peer binary: %w", err)
	}
	if p, err := exec.LookPath(kind); err == nil {
		return filepath.Abs(p)
	}
	for _, d := range searchDirs {
		p := filepath.Join(d, kind)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("finding %s: %w (not on PATH nor in %s; Debian: apt-get install %s)",
		kind, ErrNotInstalled, strings.Join(searchDirs, ", "), debianPackage(kind))
}

func debianPackage(kind string) string {
	if kind == KindNginx {
		return "nginx-light"
	}
	return kind
}

var versionRE = map[string]*regexp.Regexp{
	KindNginx:   regexp.MustCompile(`nginx version: nginx/(\S+)`),
	KindHAProxy: regexp.MustCompile(`HAProxy version (\S+)`),
}

// Version runs "BINARY -v" and returns the version it prints
// ("1.22.1", "2.6.12-1+deb12u4").
func Version(ctx context.Context, kind, binary string) (string, error) {
	if err := checkKind(kind); err != nil {
		return "", fmt.Errorf("reading a peer version: %w", err)
	}
	p, err := fleet.Start(ctx, fleet.Spec{Name: kind + "-version", Path: binary, Args: []string{"-v"}})
	if err != nil {
		return "", fmt.Errorf("running %s -v: %w", binary, err)
	}
	t := time.NewTimer(versionWait)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		p.Kill()
		return "", fmt.Errorf("running %s -v: no exit within %s", binary, versionWait)
	case <-ctx.Done():
		p.Kill()
		return "", fmt.Errorf("running %s -v: %w", binary, ctx.Err())
	}
	out := p.Output()
	m := versionRE[kind].FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("running %s -v: no version in its output %q", binary, out)
	}
	return m[1], nil
}

// Peer is a running nginx or haproxy.
type Peer struct {
	Kind       string
	URL        string // http://LISTEN
	ConfigPath string // the rendered file, in Config.Dir
	Config     string // its text, to record next to the results
	Version    string
	Binary     string
	Args       []string // the command line after Binary
	LogPath    string   // the process's stdout and stderr, in Config.Dir
	// AccessLogPath holds one line per request when Config.AccessLog is set:
	// Dir/access.log for nginx, LogPath for haproxy (which logs to stdout).
	AccessLogPath string
	Proc          *fleet.Proc
}

// Start renders kind's config from c, writes it to c.Dir (created if
// missing), starts the peer in the foreground through fleet (nginx with
// "daemon off", haproxy with -W -db: a master and its workers in one process
// group), and returns once the peer reported it started and its listener
// accepts a connection, within StartTimeout + AcceptTimeout. On error
// nothing is left running and the error carries the process's output.
func Start(ctx context.Context, kind string, c Config) (*Peer, error) {
	text, err := Render(kind, c)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", kind, err)
	}
	c = withDefaults(c)
	return launch(ctx, kind, kind, c.Dir, c.Listen, text, c.AccessLog)
}

// StartStatic starts an nginx static responder (see RenderStatic) as Start
// starts a peer: the config written to c.Dir, nginx in the foreground
// through fleet under the process name "nginx-upstream-NAME", returned once
// it accepts. Its Proc's Kill, Freeze and Restart act on the master and its
// workers (one process group).
func StartStatic(ctx context.Context, c StaticConfig) (*Peer, error) {
	text, err := RenderStatic(c)
	if err != nil {
		return nil, fmt.Errorf("starting the nginx upstream: %w", err)
	}
	c = c.withDefaults()
	return launch(ctx, KindNginx, "nginx-upstream-"+c.Name, c.Dir, c.Listen, text, false)
}

// launch writes a rendered config into dir and starts kind on it under the
// process name name.
func launch(ctx context.Context, kind, name, dir, listen, text string, accessLog bool) (*Peer, error) {
	bin, err := Find(kind)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	ver, err := Version(ctx, kind, bin)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("starting %s: creating its directory: %w", name, err)
	}
	conf := filepath.Join(dir, ConfigFile(kind))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("starting %s: writing its config: %w", name, err)
	}
	p := &Peer{
		Kind: kind, URL: "http://" + listen, ConfigPath: conf, Config: text,
		Version: ver, Binary: bin, LogPath: filepath.Join(dir, kind+".log"),
	}
	var ready *regexp.Regexp
	switch kind {
	case KindNginx:
		// -e stderr: messages from before the config is read go to the
		// console too, not to the package's default log file.
		p.Args = []string{"-p", dir + "/", "-c", conf, "-e", "stderr"}
		ready = regexp.MustCompile(`\[notice\] \d+#\d+: start worker process \d+`)
		if accessLog {
			p.AccessLogPath = filepath.Join(dir, "access.log")
		}
	case KindHAProxy:
		p.Args = []string{"-W", "-db", "-f", conf}
		ready = regexp.MustCompile(`\[NOTICE\].*Loading success`)
		if accessLog {
			p.AccessLogPath = p.LogPath
		}
	}
	p.Proc, err = fleet.Start(ctx, fleet.Spec{
		Name: name, Path: bin, Args: p.Args, Dir: dir,
		Ready: ready, ReadyTimeout: StartTimeout, LogFile: p.LogPath,
	})
	if err != nil {
		return nil, err // fleet's error already says "starting NAME" and has the output
	}
	if err := waitAccept(ctx, p.Proc, listen, AcceptTimeout); err != nil {
		p.Proc.Stop(StopGrace)
		return nil, fmt.Errorf("starting %s: %w\n%s", name, err, p.Proc.Output())
	}
	return p, nil
}

// waitAccept dials addr until it accepts, the process exits, ctx ends or
// timeout passes. A peer's listener is open before it logs its ready line,
// so the first dial normally succeeds; no signal says when it does.
func waitAccept(ctx context.Context, p *fleet.Proc, addr string, timeout time.Duration) error {
	const step = 20 * time.Millisecond
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	for i := 0; i <= int(timeout/step); i++ {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s to accept: %w", addr, err)
		}
		t := time.NewTimer(step)
		select {
		case <-t.C:
		case <-p.Done():
			t.Stop()
			_, how := p.Exited()
			return fmt.Errorf("waiting for %s to accept: the process exited (%s)", addr, how)
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s to accept: %w", addr, ctx.Err())
		}
	}
	return fmt.Errorf("waiting for %s to accept: not within %s", addr, timeout)
}

// Stop stops the peer and all its workers: SIGTERM (both stop at once on
// it), SIGKILL to the process group after StopGrace. Safe to call twice.
// The files in Config.Dir are left for the caller.
func (p *Peer) Stop() error {
	if p == nil || p.Proc == nil {
		return nil
	}
	if err := p.Proc.Stop(StopGrace); err != nil {
		return fmt.Errorf("stopping %s: %w", p.Kind, err)
	}
	return nil
}
