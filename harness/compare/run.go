package compare

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/upstream"
)

const (
	upstreamName = backendName // the upstream process is the user-service backend
	tokenSubject = "bench-user"
	// settle is the pause between trials, so one target's closing
	// connections do not overlap the next one's warm-up.
	settle = 250 * time.Millisecond
	// parityWait bounds how long a target may take to give its first good
	// answer after it reported ready.
	parityWait = 5 * time.Second
	readyWait  = 10 * time.Second
)

var (
	upstreamReady = regexp.MustCompile(`^upstream ` + regexp.QuoteMeta(upstreamName) + ` listening on (http://\S+)$`)
	gatelabReady  = regexp.MustCompile(`^gatelab serving on http://(\S+) \(admin http://(\S+)\)`)
)

// run is the state of one Run: the processes to stop and what to report.
type run struct {
	o       Options
	root    string
	tmp     string
	nginx   string
	procs   []*proc
	logs    map[*proc]string // process -> log file name in the run dir
	rep     *Report
	skipped map[string]string
	invalid map[string]string
	urls    map[string]string // target -> load URL
	pids    map[string]func() []int
	up      *proc
	logFile map[string]string // target -> its access log in tmp
	token   string
	ngxErr  string // nginx's error.log
	out     io.Writer
}

// Run performs a compare run and writes its files. The error is non-nil only
// when no measurement could be made (bad options, a process that would not
// start); it is an *InputError for bad options. Otherwise the Report says how
// the run went, including when ctx was cancelled mid-run (the report is then
// marked invalid). Every process started is stopped before Run returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	r := &run{
		o: o, out: o.Progress,
		logs: map[*proc]string{}, skipped: map[string]string{}, invalid: map[string]string{},
		urls: map[string]string{}, pids: map[string]func() []int{}, logFile: map[string]string{},
	}
	if r.out == nil {
		r.out = io.Discard
	}
	defer func() {
		r.stopAll() // before the files they use go
		if r.tmp != "" {
			os.RemoveAll(r.tmp)
		}
	}()
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		r.stopAll()
		r.saveLogs()
		return nil, fmt.Errorf("%w\n(process output saved in %s)", err, r.rep.Dir)
	}
	r.measure(ctx)
	r.stopAll()
	r.saveLogs()
	r.finish()
	if err := r.rep.writeFiles(); err != nil {
		return r.rep, fmt.Errorf("writing results: %w", err)
	}
	return r.rep, nil
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

// prepare resolves paths, creates the run and temp directories, handles a
// missing nginx and collects the manifest.
func (r *run) prepare(ctx context.Context) error {
	o := &r.o
	bin, err := filepath.Abs(o.Bin)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		return badInput("-bin %s: %v", o.Bin, err)
	}
	o.Bin = bin
	if r.root, err = findRoot(o.Root, bin); err != nil {
		return badInput("%v", err)
	}

	if slices.Contains(o.Targets, TargetNginx) {
		r.nginx, err = findNginx(o.Nginx)
		if err != nil {
			if o.RequireNginx {
				return fmt.Errorf("%v, and %s=1 makes that an error", err, EnvRequireNginx)
			}
			r.skipped[TargetNginx] = "nginx is not installed (" + err.Error() + ")"
			r.logf("NOTICE: *** nginx is not installed: the nginx target is SKIPPED and the checks against nginx cannot be evaluated. ***")
			r.logf("NOTICE: *** Install it (Debian: apt-get install nginx-light), pass -nginx PATH, or set %s=1 to make this an error. ***", EnvRequireNginx)
		}
	}

	start := time.Now().UTC()
	id := o.RunID
	if id == "" {
		id = start.Format("20060102T150405Z")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.Out, err)
	}
	dir := ""
	for i := 1; i <= 100; i++ {
		name := id
		if i > 1 {
			name = fmt.Sprintf("%s-%d", id, i)
		}
		err := os.Mkdir(filepath.Join(o.Out, name), 0o755)
		if err == nil {
			id, dir = name, filepath.Join(o.Out, name)
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating the run directory: %w", err)
		}
	}
	if dir == "" {
		return fmt.Errorf("no free run directory name for %s in %s", id, o.Out)
	}
	if r.tmp, err = os.MkdirTemp("", "gatelab-compare-"); err != nil {
		return err
	}
	// nginx workers run as an unprivileged user when started by root; let
	// them reach their temp directories.
	_ = os.Chmod(r.tmp, 0o755)

	m := collectManifest(ctx, r.root, o.Args)
	m.Start = start
	m.GatelabBin = bin
	m.ConfigSHA256 = map[string]string{}
	if r.nginx != "" {
		m.Nginx = r.nginx
		m.NginxVersion = nginxVersion(ctx, r.nginx)
	}
	r.rep = &Report{
		RunID:    id,
		Mode:     Mode,
		Manifest: m,
		Dir:      dir,
		Plan: Plan{
			Duration: o.Duration.String(),
			Warmup:   o.Warmup.String(),
			Workers:  o.Workers,
			Reps:     o.Reps,
			Targets:  o.Targets,
			Order:    "interleaved: each repetition runs every target once, in order " + strings.Join(o.Targets, ", "),
			Load: fmt.Sprintf("vegeta in-process, %d workers each sending its next request when the previous one returned (unpaced), %d keep-alive connections, HTTP/1.1",
				o.Workers, o.Workers),
		},
		Notes: []string{
			fmt.Sprintf("this machine has %d cores, shared by the load generator, the proxy under test and the upstream: absolute numbers are low and noisy, the ratios within this run are what count", m.Cores),
			"latency is service time at saturation (closed loop: no intended schedule, no coordinated-omission correction); rank by throughput",
		},
	}
	r.logf("gatelab compare: run %s -> %s", id, dir)
	return nil
}

// findRoot returns the repository root holding fixtures/gateway.yaml: flag,
// else $GATELAB_ROOT, else the first directory above the working directory,
// then above the binary, that holds it.
func findRoot(flag, bin string) (string, error) {
	has := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "fixtures", "gateway.yaml"))
		return err == nil
	}
	for _, d := range []string{flag, os.Getenv("GATELAB_ROOT")} {
		if d == "" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil || !has(abs) {
			return "", fmt.Errorf("root %s: no fixtures/gateway.yaml there", d)
		}
		return abs, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	starts = append(starts, filepath.Dir(bin))
	for _, dir := range starts {
		for i := 0; i < 64; i++ { // bounded walk up
			if has(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("cannot find the repository root (fixtures/gateway.yaml) above the working directory or the binary: pass -root or set GATELAB_ROOT")
}

func (r *run) startProc(name string, args ...string) (*proc, error) {
	return r.startBin(name, r.o.Bin, args...)
}

func (r *run) startBin(name, bin string, args ...string) (*proc, error) {
	p, err := startProc(name, bin, args...)
	if err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	r.logs[p] = name + ".log"
	return p, nil
}

// stopAll stops every process, proxies first and the upstream last. Safe to
// call more than once.
func (r *run) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop()
	}
}

// saveLogs writes each process's console output into the run directory.
func (r *run) saveLogs() {
	if r.rep == nil {
		return
	}
	for _, p := range r.procs {
		name := r.logs[p]
		if err := os.WriteFile(filepath.Join(r.rep.Dir, name), []byte(p.out.text()), 0o644); err == nil {
			r.rep.Files = appendUnique(r.rep.Files, name)
		}
	}
	if r.ngxErr != "" {
		if b, err := os.ReadFile(r.ngxErr); err == nil {
			if os.WriteFile(filepath.Join(r.rep.Dir, "nginx-error.log"), b, 0o644) == nil {
				r.rep.Files = appendUnique(r.rep.Files, "nginx-error.log")
			}
		}
	}
}

// saveConfig writes a rendered config next to the results and records its hash.
func (r *run) saveConfig(name, text string) {
	sum := sha256.Sum256([]byte(text))
	r.rep.Manifest.ConfigSHA256[name] = hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(r.rep.Dir, name), []byte(text), 0o644); err == nil {
		r.rep.Files = appendUnique(r.rep.Files, name)
	}
}

// start runs the upstream, mints the token and starts every selected proxy.
func (r *run) start(ctx context.Context) error {
	up, err := r.startProc("upstream", "upstream", "-listen", "127.0.0.1:0", "-name", upstreamName)
	if err != nil {
		return err
	}
	m, err := up.waitOutput(ctx, upstreamReady, startTimeout)
	if err != nil {
		return err
	}
	r.up = up
	upURL := m[1]
	upAddr := strings.TrimPrefix(upURL, "http://")
	r.logf("upstream %s on %s", upstreamName, upURL)

	token, err := r.mintToken(ctx)
	if err != nil {
		return err
	}

	fixture, err := config.Load(filepath.Join(r.root, "fixtures", "gateway.yaml"))
	if err != nil {
		return fmt.Errorf("loading fixtures/gateway.yaml (the auth section and tiers are copied from it): %w", err)
	}

	for _, name := range r.o.Targets {
		info := TargetInfo{Name: name, Skipped: r.skipped[name]}
		switch server, gl := isGatelab(name); {
		case info.Skipped != "":
		case name == TargetDirect:
			info.URL = upURL + directPath
			info.Command = []string{"gatelab", "upstream", "-listen", upAddr, "-name", upstreamName}
			r.pids[name] = func() []int { return nil }
		case gl:
			if err := r.startGatelab(ctx, &info, server, fixture, upURL); err != nil {
				return err
			}
		case name == TargetNginx:
			if err := r.startNginx(ctx, &info, upAddr); err != nil {
				return err
			}
		}
		r.urls[name] = info.URL
		r.rep.Targets = append(r.rep.Targets, info)
	}
	r.token = token
	return nil
}

// mintToken runs "gatelab token" for a JWT signed with the fixture RSA key,
// valid well past the end of the run.
func (r *run) mintToken(ctx context.Context) (string, error) {
	perTrial := r.o.Warmup + r.o.Duration + settle + 2*time.Second
	ttl := time.Hour + 2*time.Duration(r.o.Reps*len(r.o.Targets))*perTrial
	key := filepath.Join(r.root, "fixtures", "keys", "rsa.pem")
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.o.Bin, "token", "-sub", tokenSubject, "-exp", ttl.Round(time.Second).String(), "-key", key)
	cmd.WaitDelay = time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("gatelab token: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	tok := strings.TrimSpace(string(out))
	if strings.Count(tok, ".") != 2 {
		return "", fmt.Errorf("gatelab token printed %q, not a JWT", tok)
	}
	return tok, nil
}

func (r *run) startGatelab(ctx context.Context, info *TargetInfo, server string, fixture *config.Config, upURL string) error {
	name := info.Name
	accessLog := filepath.Join(r.tmp, name+"-access.log")
	text, err := RenderGatelab(GatelabParams{
		Fixture: fixture, Server: server, Instance: "compare-" + server,
		UpstreamURL: upURL, AccessLog: accessLog, RunID: r.rep.RunID,
	})
	if err != nil {
		return err
	}
	cfgName := name + ".yaml"
	path := filepath.Join(r.tmp, cfgName)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	r.saveConfig(cfgName, text)
	if _, err := config.Load(path); err != nil {
		return fmt.Errorf("the generated %s does not validate:\n%w", cfgName, err)
	}
	args := []string{"serve", "-config", path, "-server", server, "-router", "trie", "-limiter", "local",
		"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-drain", "2s"}
	p, err := r.startProc(name, args...)
	if err != nil {
		return err
	}
	m, err := p.waitOutput(ctx, gatelabReady, startTimeout)
	if err != nil {
		return err
	}
	addr, admin := m[1], m[2]
	if err := p.waitHTTP(ctx, "http://"+admin+"/readyz", http.StatusOK, readyWait); err != nil {
		return err
	}
	info.URL = "http://" + addr + proxyPath
	info.Command = append([]string{"gatelab"}, args...)
	info.Command[3] = cfgName
	info.Config = cfgName
	r.logFile[name] = accessLog
	r.pids[name] = func() []int { return []int{p.pid()} }
	r.logf("%s on http://%s (admin http://%s)", name, addr, admin)
	return nil
}

func (r *run) startNginx(ctx context.Context, info *TargetInfo, upAddr string) error {
	dir := filepath.Join(r.tmp, "nginx")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	text, err := RenderNginx(NginxParams{Dir: dir, Listen: addr, Upstream: upAddr, WorkerProcesses: "auto", Keepalive: 64, RunID: r.rep.RunID})
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	r.saveConfig("nginx.conf", text)
	r.rep.Manifest.NginxWorkerProcesses = "auto"
	errLog := filepath.Join(dir, "error.log")
	base := []string{"-p", dir + "/", "-c", conf, "-e", errLog}
	if out, err := runShort(ctx, dir, r.nginx, append([]string{"-t", "-q"}, base...)...); err != nil {
		return fmt.Errorf("nginx -t rejects the rendered nginx.conf: %v\n%s%s", err, out, readTail(errLog))
	}
	p, err := r.startBin(TargetNginx, r.nginx, base...)
	if err != nil {
		return err
	}
	// Any answer on the route means nginx is up (the probe checks the rest).
	if err := p.waitHTTP(ctx, "http://"+addr+proxyPath, 0, readyWait); err != nil {
		return fmt.Errorf("%w\nnginx error.log:\n%s", err, readTail(errLog))
	}
	info.URL = "http://" + addr + proxyPath
	info.Command = []string{filepath.Base(r.nginx), "-p", "RUNDIR/", "-c", "RUNDIR/nginx.conf", "-e", "RUNDIR/error.log"}
	info.Config = "nginx.conf"
	r.logFile[TargetNginx] = filepath.Join(dir, "access.log")
	r.pids[TargetNginx] = func() []int { return withChildren(p.pid()) }
	r.ngxErr = errLog
	r.logf("nginx on http://%s", addr)
	return nil
}

// readTail returns the last 4 KiB of a file, for error messages.
func readTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// probe sends one GET through a target and checks that the upstream received
// GET /users/me. Until parityWait passes it retries on anything but a good
// answer; the last answer is what is recorded.
func (r *run) probe(ctx context.Context, target string) *Parity {
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(parityWait)
	for attempts := 1; ; attempts++ {
		p := probeOnce(ctx, client, r.urls[target], r.token)
		p.Attempts = attempts
		if p.OK || time.Now().After(deadline) || ctx.Err() != nil {
			return p
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
}

func probeOnce(ctx context.Context, client *http.Client, url, token string) *Parity {
	p := &Parity{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		p.Problem = err.Error()
		return p
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		p.Problem = "no answer: " + err.Error()
		return p
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	p.Status = resp.StatusCode
	var echo upstream.Echo
	switch {
	case resp.StatusCode != http.StatusOK:
		p.Problem = fmt.Sprintf("status %d, want 200", resp.StatusCode)
	case json.Unmarshal(body, &echo) != nil:
		p.Problem = "the answer is not the upstream's JSON echo"
	case echo.Name != upstreamName || echo.Method != http.MethodGet || echo.Path != directPath:
		p.Problem = fmt.Sprintf("the upstream %q received %s %s, want %s GET %s", echo.Name, echo.Method, echo.Path, upstreamName, directPath)
	default:
		p.OK = true
	}
	p.UpstreamName, p.UpstreamMethod, p.UpstreamPath = echo.Name, echo.Method, echo.Path
	for h := range echo.Headers {
		p.UpstreamHdrs = append(p.UpstreamHdrs, h)
	}
	slices.Sort(p.UpstreamHdrs)
	if !p.OK {
		b := string(body)
		if len(b) > 1024 {
			b = b[:1024] + "..."
		}
		p.Body = b
	}
	return p
}

// measure runs the parity probes, then the interleaved trials.
func (r *run) measure(ctx context.Context) {
	var direct *Parity
	for i := range r.rep.Targets {
		t := &r.rep.Targets[i]
		if t.Skipped != "" {
			continue
		}
		t.Parity = r.probe(ctx, t.Name)
		if t.Name == TargetDirect {
			direct = t.Parity
		}
		if !t.Parity.OK {
			r.invalid[t.Name] = "parity probe failed: " + t.Parity.Problem + bodyNote(t.Parity.Body)
			r.logf("PARITY FAILED %s: %s%s", t.Name, t.Parity.Problem, bodyNote(t.Parity.Body))
			continue
		}
		r.logf("parity ok %s: upstream received %s %s", t.Name, t.Parity.UpstreamMethod, t.Parity.UpstreamPath)
	}
	if direct != nil && direct.OK {
		for i := range r.rep.Targets {
			if p := r.rep.Targets[i].Parity; p != nil && p.OK && r.rep.Targets[i].Name != TargetDirect {
				p.HeadersAdded, p.HeadersDropped = diffNames(p.UpstreamHdrs, direct.UpstreamHdrs)
			}
		}
	}

	byName := map[string]*proc{}
	for _, p := range r.procs {
		byName[p.name] = p
	}
	for rep := 1; rep <= r.o.Reps; rep++ {
		for _, name := range r.o.Targets {
			if ctx.Err() != nil {
				r.rep.Invalid = appendUnique(r.rep.Invalid, "interrupted before every trial ran")
				return
			}
			if r.skipped[name] != "" || r.invalid[name] != "" {
				continue
			}
			if why := r.dead(byName, name); why != "" {
				r.invalid[name] = why
				r.logf("INVALID %s: %s", name, why)
				continue
			}
			t := runLoad(ctx, loadSpec{
				Name: name, URL: r.urls[name], Token: r.token, Workers: r.o.Workers,
				Warmup: r.o.Warmup, Duration: r.o.Duration,
				TargetPIDs: r.pids[name], UpstreamPID: r.up.pid(),
			})
			t.Rep = rep
			if ctx.Err() != nil {
				t.Valid, t.Invalid = false, "interrupted"
				r.rep.Invalid = appendUnique(r.rep.Invalid, "interrupted before every trial ran")
			}
			r.rep.Trials = append(r.rep.Trials, t)
			line := fmt.Sprintf("rep %d/%d %-16s %8.0f req/s  2xx %6.2f%%  p50 %s  p99 %s  cpu gen/target/up %.2f/%.2f/%.2f",
				rep, r.o.Reps, name, t.RPS, t.SuccessRatio*100, ms(t.Latency.P50), ms(t.Latency.P99), t.CPU.Generator, t.CPU.Target, t.CPU.Upstream)
			if !t.Valid {
				line += "  INVALID: " + t.Invalid
			}
			r.logf("%s", line)
			sleepCtx(ctx, settle)
		}
	}
	if p := byName[TargetNginx]; p != nil {
		r.rep.Manifest.NginxWorkers = len(withChildren(p.pid())) - 1
	}
}

// dead reports why a target (or the upstream) can no longer be measured.
func (r *run) dead(byName map[string]*proc, target string) string {
	if ok, how := r.up.exited(); ok {
		return "the upstream " + how
	}
	if p := byName[target]; p != nil {
		if ok, how := p.exited(); ok {
			return "the process " + how + "; last output: " + p.out.tail(512)
		}
	}
	return ""
}

func bodyNote(body string) string {
	if body == "" {
		return ""
	}
	return "; body: " + strings.TrimSpace(body)
}

// diffNames returns the names in got but not in base, and in base but not in
// got.
func diffNames(got, base []string) (added, dropped []string) {
	in := func(list []string, s string) bool { return slices.Contains(list, s) }
	for _, h := range got {
		if !in(base, h) {
			added = append(added, h)
		}
	}
	for _, h := range base {
		if !in(got, h) {
			dropped = append(dropped, h)
		}
	}
	return added, dropped
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// finish counts the access logs and computes the summary, ratios, checks and
// exit code.
func (r *run) finish() {
	r.rep.Manifest.LoadAvgEnd = loadAvg()
	for i := range r.rep.Targets {
		if f := r.logFile[r.rep.Targets[i].Name]; f != "" {
			r.rep.Targets[i].AccessLogLines = countLines(f)
		}
	}
	r.rep.Summary = summarize(r.o.Targets, r.rep.Trials, r.skipped, r.invalid)
	r.rep.Ratios = ratios(r.rep.Summary, r.rep.Trials)
	if w := spreadWarning(r.rep.Summary); w != "" {
		r.rep.Warnings = append(r.rep.Warnings, w)
	}
	r.rep.Checks = evaluate(DefaultChecks, r.rep.Summary)
	r.rep.Checks = notOnInvalidRun(r.rep.Checks, runInvalidity(r.rep.Invalid, r.rep.Summary))
	r.rep.ExitCode = exitCodeFor(r.rep.Invalid, r.rep.Summary, r.rep.Checks)
}

// countLines counts newlines in a file (reading at most 4 GiB).
func countLines(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.LimitReader(f, 4<<30), 1<<16)
	var n int64
	buf := make([]byte, 1<<16)
	for {
		k, err := br.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				n++
			}
		}
		if err != nil {
			return n
		}
	}
}
