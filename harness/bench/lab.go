package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/faults"
	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/harness/load"
	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/harness/scenario"
	"github.com/gatelab/gatelab/reports"
)

// Target kinds.
const (
	kindDirect  = "direct"
	kindGatelab = "gatelab"
	kindPeer    = "peer"
)

var (
	upstreamReady = regexp.MustCompile(`^upstream \S+ listening on (http://\S+)$`)
	gatelabReady  = regexp.MustCompile(`^gatelab serving on http://(\S+) \(admin http://(\S+)\)`)
)

// lab is the state of one Run.
type lab struct {
	o   Options
	fx  *config.Config
	dir string
	res *reports.Results

	redis    *deps.Redis
	redisErr error
	etcd     *deps.Etcd
	etcdErr  error
	toxi     *faults.Toxiproxy
	prom     *labPrometheus // with Options.Prometheus
}

func (l *lab) logf(format string, args ...any) {
	fmt.Fprintf(l.o.Progress, format+"\n", args...)
}

// ensureEtcd starts etcd once per run, or remembers why it cannot.
func (l *lab) ensureEtcd(ctx context.Context) error {
	if l.etcd != nil || l.etcdErr != nil {
		return l.etcdErr
	}
	l.logf("  starting etcd ...")
	e, err := deps.StartEtcd(ctx, deps.EtcdOptions{})
	if err != nil {
		l.etcdErr = err
		return err
	}
	l.etcd = e
	l.res.Manifest.Deps["etcd"] = e.Version() + " (" + e.Kind() + ")"
	l.logf("  etcd %s via %s on %s", e.Version(), e.Kind(), strings.Join(e.Endpoints(), ","))
	return nil
}

func (l *lab) close() {
	if l.prom != nil {
		if err := l.prom.close(); err != nil {
			l.logf("  prometheus: the target file could not be rewritten: %v", err)
		}
	}
	if l.etcd != nil {
		l.etcd.Close()
	}
	if l.toxi != nil {
		l.toxi.Close()
	}
	if l.redis != nil {
		l.redis.Close()
	}
}

// scenarioRun is one scenario's state while it runs.
type scenarioRun struct {
	reports.ScenarioResult
	aborted      bool
	abortBudgets []reports.Budget

	l       *lab
	s       *scenario.Scenario
	targets []*target
	ups     map[string][]*fleet.Proc // upstream name -> instances
	upURLs  map[string][]string      // what gateways, peers and direct send to (the proxy, when there is one)
	upPx    map[string][]*faults.Proxy
	redisPx *faults.Proxy
	etcdPx  *faults.Proxy
	trials  []*trial
	tmp     string
}

// target is one thing measured in a scenario.
type target struct {
	reports.Target
	skip string
}

// ensureRedis starts Redis once per run (and a toxiproxy in front of it per
// scenario), or remembers why it cannot.
func (l *lab) ensureRedis(ctx context.Context) error {
	if l.redis != nil || l.redisErr != nil {
		return l.redisErr
	}
	l.logf("  starting Redis ...")
	r, err := deps.StartRedis(ctx, deps.RedisOptions{Mode: os.Getenv("GATELAB_REDIS_MODE")})
	if err != nil {
		l.redisErr = err
		return err
	}
	l.redis = r
	l.res.Manifest.Deps["redis"] = r.Version() + " (" + r.Kind() + ")"
	l.logf("  Redis %s via %s on %s", r.Version(), r.Kind(), r.Addr())
	return nil
}

// toxiproxy is the run's in-process toxiproxy, started on first use.
func (l *lab) toxiproxy() *faults.Toxiproxy {
	if l.toxi == nil {
		l.toxi = faults.NewToxiproxy()
		l.res.Manifest.Deps["toxiproxy"] = "github.com/Shopify/toxiproxy/v2 v2.5.0 (in process)"
	}
	return l.toxi
}

// expandTargets lists the scenario's targets: direct, every selected
// engine combination, peers; the ones that cannot run carry the reason.
func (l *lab) expandTargets(s *scenario.Scenario) ([]*target, error) {
	pick := func(kind string, want []string) ([]string, error) {
		known := l.o.Engines[kind]
		if len(want) == 0 || slices.Contains(want, "all") {
			return known, nil
		}
		for _, w := range want {
			if !slices.Contains(known, w) {
				return nil, badInput("scenario %s: unknown %s engine %q (registered: %s)", s.Name, kind, w, strings.Join(known, ", "))
			}
		}
		return want, nil
	}
	servers, err := pick("server", s.Targets.Server)
	if err != nil {
		return nil, err
	}
	routers, err := pick("router", s.Targets.Router)
	if err != nil {
		return nil, err
	}
	limiters, err := pick("limiter", s.Targets.Limiter)
	if err != nil {
		return nil, err
	}
	var ts []*target
	if s.Targets.WantDirect() {
		ts = append(ts, &target{Target: reports.Target{Name: "direct", Kind: kindDirect}})
	}
	for _, p := range s.Targets.Peers {
		ts = append(ts, &target{Target: reports.Target{Name: p, Kind: kindPeer}})
	}
	for _, lim := range limiters {
		for _, sv := range servers {
			for _, rt := range routers {
				name := "gatelab-" + sv + "-" + rt + "-" + lim
				ts = append(ts, &target{Target: reports.Target{
					Name: name, Kind: kindGatelab, Server: sv, Router: rt, Limiter: lim, AccessLog: s.Targets.WantAccessLog()}})
				if s.Targets.AccessLogTwins && !s.Targets.WantAccessLog() {
					ts = append(ts, &target{Target: reports.Target{
						Name: name + "-accesslog", Kind: kindGatelab, Server: sv, Router: rt, Limiter: lim, AccessLog: true}})
				}
			}
		}
	}
	if len(l.o.Targets) > 0 {
		kept := ts[:0]
		for _, t := range ts {
			for _, g := range l.o.Targets {
				if budget.TagMatches(g, t.Name) || (t.Kind == kindDirect) {
					kept = append(kept, t)
					break
				}
			}
		}
		ts = kept
	}
	return ts, nil
}

func (l *lab) runScenario(ctx context.Context, p Planned) (sr *scenarioRun, err error) {
	s := p.S
	sr = &scenarioRun{l: l, s: s, ups: map[string][]*fleet.Proc{}, upURLs: map[string][]string{}, upPx: map[string][]*faults.Proxy{}}
	sr.Name, sr.File, sr.Description = s.Name, s.File, s.Description
	sr.Load = loadPlan(s)
	for _, w := range s.Windows() {
		kind := ""
		for _, f := range s.Faults {
			if f.PhaseName() == w.Name {
				kind = f.Kind
			}
		}
		sr.Windows = append(sr.Windows, reports.Window{Name: w.Name, Kind: kind, FromS: w.From.Seconds(), ToS: w.To.Seconds()})
	}
	ts, err := l.expandTargets(s)
	if err != nil {
		return sr, err
	}
	sr.targets = ts
	defer func() {
		if err != nil {
			// Every budget is reported, INVALID: the scenario never ran.
			sr.Error = err.Error()
			sr.evaluate()
		}
		for _, t := range sr.targets {
			sr.Targets = append(sr.Targets, t.Target)
		}
	}()
	if sr.tmp, err = os.MkdirTemp("", "gatelab-bench-"); err != nil {
		return sr, err
	}
	_ = os.Chmod(sr.tmp, 0o755) // nginx workers run unprivileged
	defer os.RemoveAll(sr.tmp)
	defer sr.stopUpstreams()

	// Dependencies: a missing one skips the targets that need it.
	needRedis := false
	for _, t := range ts {
		if t.Limiter == "redis" {
			needRedis = true
		}
	}
	if needRedis {
		if err := l.ensureRedis(ctx); err != nil {
			if l.o.Require["redis"] {
				return sr, &requiredError{fmt.Sprintf("Redis is required (GATELAB_REQUIRE_REDIS=1) but could not be started: %v", err)}
			}
			why := "Redis unavailable: " + err.Error()
			l.logf("  NOTICE: *** %s: the redis rows are SKIPPED ***", why)
			for _, t := range ts {
				if t.Limiter == "redis" {
					t.skip = why
				}
			}
		} else {
			px, err := l.toxiproxy().Proxy("redis-"+s.Name, l.redis.Addr())
			if err != nil {
				return sr, err
			}
			sr.redisPx = px
			if s.Redis.Latency > 0 {
				if err := px.Latency(s.Redis.Latency, 0); err != nil {
					return sr, err
				}
			}
		}
	}
	for _, t := range ts {
		if t.Kind != kindPeer {
			continue
		}
		bin, err := peers.Find(t.Name)
		if err != nil {
			if l.o.Require[t.Name] {
				return sr, &requiredError{fmt.Sprintf("%s is required (GATELAB_REQUIRE_%s=1) but not installed: %v", t.Name, strings.ToUpper(t.Name), err)}
			}
			t.skip = t.Name + " is not installed (" + err.Error() + "; Debian: apt-get install " + map[string]string{"nginx": "nginx-light", "haproxy": "haproxy"}[t.Name] + ")"
			l.logf("  NOTICE: *** %s: SKIPPED ***", t.skip)
			continue
		}
		t.Version, _ = peers.Version(ctx, t.Name, bin)
		l.res.Manifest.Deps[t.Name] = t.Version
	}
	if s.Targets.ConfigSource == "etcd" {
		if err := l.ensureEtcd(ctx); err != nil {
			if l.o.Require["etcd"] {
				return sr, &requiredError{fmt.Sprintf("etcd is required (GATELAB_REQUIRE_ETCD=1) but could not be started: %v", err)}
			}
			l.logf("  NOTICE: *** etcd unavailable (%v): the gatelab rows of %s are SKIPPED ***", err, s.Name)
			for _, t := range ts {
				if t.Kind == kindGatelab {
					t.skip = "etcd unavailable: " + err.Error()
				}
			}
		} else {
			ep := strings.TrimPrefix(strings.TrimPrefix(l.etcd.Endpoints()[0], "http://"), "https://")
			if sr.etcdPx, err = l.toxiproxy().Proxy("etcd-"+s.Name, ep); err != nil {
				return sr, err
			}
		}
	}
	if s.Targets.Containers {
		for _, t := range ts {
			if t.Limiter == "redis" {
				t.skip = "the redis limiter is not run in containers (its Redis is on the host's loopback)"
			}
		}
		if err := deps.DockerAvailable(); err != nil {
			if l.o.Require["docker"] {
				return sr, &requiredError{fmt.Sprintf("Docker is required (GATELAB_REQUIRE_DOCKER=1) but unavailable: %v", err)}
			}
			l.logf("  NOTICE: *** Docker unavailable (%v): the gatelab rows of %s are SKIPPED ***", err, s.Name)
			for _, t := range ts {
				if t.Kind == kindGatelab {
					t.skip = "Docker unavailable: " + err.Error()
				}
			}
		}
	}
	for _, t := range ts {
		if t.skip != "" {
			t.Skipped = t.skip
		}
	}

	if err := sr.startUpstreams(ctx); err != nil {
		return sr, err
	}
	if len(s.Targets.Peers) > 0 {
		sr.parity(ctx)
	}
	if s.Knee != nil {
		sr.knee(ctx, p.Reps)
	} else {
		for rep := 1; rep <= p.Reps && ctx.Err() == nil && !sr.aborted; rep++ {
			for _, t := range trialOrder(sr.targets, rep) {
				if t.skip != "" || ctx.Err() != nil || sr.aborted {
					continue
				}
				tr := sr.runTrial(ctx, t, rep, s.Load.Stages)
				if !tr.rec.Valid && tr.aborted == "" && ctx.Err() == nil {
					// One more attempt: a generator that lost the CPU
					// for a moment should not void the repetition. The
					// invalid attempt stays in the results.
					tr.rec.Superseded = true
					sr.trials = append(sr.trials, tr)
					sr.l.logf("  %-34s rep %d  running again after an invalid attempt", t.Name, rep)
					tr = sr.runTrial(ctx, t, rep, s.Load.Stages)
				}
				sr.trials = append(sr.trials, tr)
			}
		}
	}
	sr.computeOverhead()
	for _, tr := range sr.trials {
		sr.Records = append(sr.Records, *tr.rec)
	}
	sr.summarise()
	sr.evaluate()
	return sr, nil
}

// trialOrder is the order targets run in repetition rep: as listed in odd
// repetitions, reversed in even ones (A B C, C B A, A B C, ...). Targets
// run one after another on a shared machine, and whatever drifts during a
// run (heat, the page cache, other processes) would otherwise always
// favour the same positions; alternating the order cancels a steady drift
// over each pair of repetitions and gives every target the first and the
// last slot.
func trialOrder(ts []*target, rep int) []*target {
	if rep%2 == 1 {
		return ts
	}
	rev := slices.Clone(ts)
	slices.Reverse(rev)
	return rev
}

func loadPlan(s *scenario.Scenario) reports.LoadPlan {
	p := reports.LoadPlan{Mode: orDefault(s.Load.Mode, scenario.ModeOpen), WarmupS: s.Load.Warmup.Seconds(), Workers: s.Load.Workers, Duration: s.Load.Duration.Seconds()}
	for _, st := range s.Load.Stages {
		p.Stages = append(p.Stages, reports.Stage{DurationS: st.Duration.Seconds(), Rate: st.Rate, To: st.To})
	}
	return p
}

// startUpstreams starts every upstream instance on a fixed free port (so a
// killed one restarts on the same one): a "gatelab upstream" process, or
// for mode nginx an nginx static responder (harness/peers), falling back
// to "gatelab upstream -static" with the same keep-alive limits when nginx
// is not installed and not required.
func (sr *scenarioRun) startUpstreams(ctx context.Context) error {
	for _, u := range sr.s.Upstreams {
		nginx := false
		if u.Mode == scenario.UpstreamNginx {
			var err error
			if nginx, err = sr.nginxUpstream(ctx, u); err != nil {
				return err
			}
		}
		n := max(u.Instances, 1)
		sr.Upstreams = append(sr.Upstreams, upstreamServer(u, nginx, sr.l.res.Manifest.Deps[peers.KindNginx]))
		for i := 0; i < n; i++ {
			port, err := fleet.FreePort()
			if err != nil {
				return err
			}
			listen := "127.0.0.1:" + strconv.Itoa(port)
			var p *fleet.Proc
			var url string
			if nginx {
				p, url, err = sr.startNginxUpstream(ctx, u, i, listen)
			} else {
				p, url, err = sr.startGatelabUpstream(ctx, u, i, listen)
			}
			if err != nil {
				return err
			}
			sr.ups[u.Name] = append(sr.ups[u.Name], p)
			if u.Proxy {
				px, err := sr.l.toxiproxy().Proxy(fmt.Sprintf("%s-%s-%d", sr.s.Name, u.Name, i), strings.TrimPrefix(url, "http://"))
				if err != nil {
					return err
				}
				sr.upPx[u.Name] = append(sr.upPx[u.Name], px)
				url = "http://" + px.Addr()
			}
			sr.upURLs[u.Name] = append(sr.upURLs[u.Name], url)
		}
	}
	return nil
}

// upstreamServer describes what answers upstream u: nginx (of version
// ver) when onNginx, else a gatelab upstream process.
func upstreamServer(u scenario.Upstream, onNginx bool, ver string) reports.UpstreamServer {
	out := reports.UpstreamServer{Name: u.Name, Server: "gatelab upstream", Mode: scenario.UpstreamStatic,
		Instances: max(u.Instances, 1), MaxConnRequests: u.MaxConnRequests, IdleTimeoutS: u.IdleTimeout.Seconds(), Proxied: u.Proxy}
	switch {
	case u.Mode == scenario.UpstreamEcho:
		out.Mode = scenario.UpstreamEcho
	case u.Mode == scenario.UpstreamNginx:
		reqs, idle := nginxKeepAlive(u)
		out.MaxConnRequests, out.IdleTimeoutS = reqs, idle.Seconds()
		if onNginx {
			out.Server, out.Version = peers.KindNginx, ver
		} else {
			out.Fallback = true
		}
	}
	return out
}

// findNginx finds the nginx of mode nginx upstreams (tests replace it to
// see the fallback).
var findNginx = peers.Find

// nginxKeepAlive is a mode nginx upstream's keep-alive limits, nginx's
// defaults filled in; the Go fallback gets the same.
func nginxKeepAlive(u scenario.Upstream) (requests int, idle time.Duration) {
	requests, idle = u.MaxConnRequests, u.IdleTimeout
	if requests == 0 {
		requests = peers.DefaultStaticKeepAliveRequests
	}
	if idle == 0 {
		idle = peers.DefaultStaticKeepAliveTimeout
	}
	return requests, idle
}

// nginxUpstream decides whether a mode nginx upstream runs on nginx: yes
// when it is installed; when it is not, an error if nginx is required,
// else false with a notice in the progress output and the scenario's
// notes. Either way the notes say which server answers.
func (sr *scenarioRun) nginxUpstream(ctx context.Context, u scenario.Upstream) (bool, error) {
	reqs, idle := nginxKeepAlive(u)
	bin, err := findNginx(peers.KindNginx)
	if err == nil {
		var ver string
		if ver, err = peers.Version(ctx, peers.KindNginx, bin); err == nil {
			sr.l.res.Manifest.Deps[peers.KindNginx] = ver
			note := fmt.Sprintf("upstream %s: nginx %s static responder (%s), %d instance(s) of 1 worker, keepalive_requests %d, keepalive_timeout %v",
				u.Name, ver, bin, max(u.Instances, 1), reqs, idle)
			sr.Notes = append(sr.Notes, note)
			sr.l.logf("  %s", note)
			return true, nil
		}
	}
	if sr.l.o.Require[peers.KindNginx] {
		return false, &requiredError{fmt.Sprintf("nginx is required (GATELAB_REQUIRE_NGINX=1) for upstream %s (mode nginx) of scenario %s but cannot run: %v", u.Name, sr.s.Name, err)}
	}
	note := fmt.Sprintf("upstream %s: nginx unavailable (%v; Debian: apt-get install nginx-light), FALLBACK to gatelab upstream -static with max_conn_requests %d and idle_timeout %v: a slower upstream, the direct row is not nginx's",
		u.Name, err, reqs, idle)
	sr.Notes = append(sr.Notes, note)
	sr.l.logf("  NOTICE: *** %s ***", note)
	return false, nil
}

// startNginxUpstream starts instance i of a mode nginx upstream and keeps
// its config with the run's.
func (sr *scenarioRun) startNginxUpstream(ctx context.Context, u scenario.Upstream, i int, listen string) (*fleet.Proc, string, error) {
	reqs, idle := nginxKeepAlive(u)
	p, err := peers.StartStatic(ctx, peers.StaticConfig{Listen: listen, Name: u.Name, Workers: 1,
		Dir: filepath.Join(sr.tmp, fmt.Sprintf("upstream-%s-%d", u.Name, i)), KeepAliveRequests: reqs, KeepAliveTimeout: idle})
	if err != nil {
		return nil, "", fmt.Errorf("starting upstream %s: %w", u.Name, err)
	}
	if i == 0 {
		sr.keepFile("upstream-"+u.Name+".conf", p.ConfigPath)
	}
	return p.Proc, p.URL, nil
}

// startGatelabUpstream starts instance i of an upstream as a "gatelab
// upstream" process: static (also the fallback of mode nginx) or echo.
func (sr *scenarioRun) startGatelabUpstream(ctx context.Context, u scenario.Upstream, i int, listen string) (*fleet.Proc, string, error) {
	args := []string{"upstream", "-listen", listen, "-name", u.Name}
	if u.Mode != scenario.UpstreamEcho {
		args = append(args, "-static")
	}
	maxReqs, idle := u.MaxConnRequests, u.IdleTimeout
	if u.Mode == scenario.UpstreamNginx {
		maxReqs, idle = nginxKeepAlive(u)
	}
	if u.Delay != "" {
		args = append(args, "-delay", u.Delay)
	}
	if u.ErrorRate > 0 {
		args = append(args, "-error-rate", strconv.FormatFloat(u.ErrorRate, 'f', -1, 64))
	}
	if u.ErrorStatus > 0 {
		args = append(args, "-error-status", strconv.Itoa(u.ErrorStatus))
	}
	if maxReqs > 0 {
		args = append(args, "-max-conn-requests", strconv.Itoa(maxReqs))
	}
	if idle > 0 {
		args = append(args, "-idle-timeout", idle.String())
	}
	p, err := fleet.Start(ctx, fleet.Spec{Name: fmt.Sprintf("upstream-%s-%d", u.Name, i), Path: sr.l.o.Bin, Args: args,
		Ready: upstreamReady, ReadyTimeout: 15 * time.Second})
	if err != nil {
		return nil, "", fmt.Errorf("starting upstream %s: %w", u.Name, err)
	}
	return p, p.Ready()[1], nil
}

func (sr *scenarioRun) stopUpstreams() {
	for _, ps := range sr.upPx {
		for _, p := range ps {
			p.Down()
		}
	}
	for _, ps := range sr.ups {
		for _, p := range ps {
			p.Stop(5 * time.Second)
		}
	}
}

// upstreamCPU is the CPU all upstream processes have used so far.
func (sr *scenarioRun) upstreamCPU() time.Duration {
	var d time.Duration
	for _, ps := range sr.ups {
		for _, p := range ps {
			d += p.Usage().CPU
		}
	}
	return d
}

// running is a started target: where to send load and what to sample.
type running struct {
	bases   []string // traffic base URLs (one per node); direct: per route below
	admins  []string
	procs   []*fleet.Proc
	peer    *peers.Peer
	cluster *deps.GatelabNodes // gatelab nodes in containers
	config  string
	// fileRef maps fixture files to the paths the gateway reads them from.
	fileRef func(string) string
}

func (r *running) stop() {
	if r.peer != nil {
		r.peer.Stop()
	}
	if r.cluster != nil {
		r.cluster.Close()
	}
	for _, p := range r.procs {
		p.Stop(5 * time.Second)
	}
}

func (r *running) usage() fleet.Usage {
	procs := r.procs
	if r.peer != nil && r.peer.Proc != nil {
		procs = append(procs[:len(procs):len(procs)], r.peer.Proc)
	}
	var u fleet.Usage
	for _, p := range procs {
		x := p.Usage()
		u.CPU += x.CPU
		u.RSS += x.RSS
		u.PeakRSS += x.PeakRSS
	}
	return u
}

// start starts a target for one trial.
func (sr *scenarioRun) start(ctx context.Context, t *target, rep int) (*running, error) {
	r := &running{}
	switch t.Kind {
	case kindDirect:
		return r, nil
	case kindPeer:
		port, err := fleet.FreePort()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(sr.tmp, fmt.Sprintf("%s-%d", t.Name, rep))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		p, err := peers.Start(ctx, t.Name, peers.Config{Listen: "127.0.0.1:" + strconv.Itoa(port), Routes: peerRoutes(sr.s, sr.upURLs), Workers: 1, Dir: dir, AccessLog: sr.s.Targets.WantAccessLog()})
		if err != nil {
			return nil, err
		}
		r.peer = p
		r.bases = []string{p.URL}
		sr.keepConfig(t, p.ConfigPath)
		return r, nil
	}
	if sr.s.Targets.Containers {
		return sr.startContainers(ctx, t, rep)
	}
	accessLog := ""
	if t.AccessLog {
		accessLog = filepath.Join(sr.tmp, t.Name+".access.log")
	}
	cfgText := gatelabConfig(sr.l.fx, sr.s, sr.upURLs, accessLog, nil, 0, nil)
	cfgPath := filepath.Join(sr.tmp, t.Name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return nil, err
	}
	r.config = cfgPath
	sr.keepConfig(t, cfgPath)
	nodes := max(sr.s.Targets.Nodes, 1)
	binds := make([]string, nodes)
	for i := range binds {
		port, err := fleet.FreePort()
		if err != nil {
			return nil, err
		}
		binds[i] = "127.0.0.1:" + strconv.Itoa(port)
	}
	// A fresh etcd prefix per trial, shared by its nodes: versions start
	// from the file's bootstrap (0) on every node.
	etcdPrefix := fmt.Sprintf("/gatelab-bench/%s/%s/%d-%d", sr.s.Name, t.Name, rep, trialSeq.Add(1))
	for i := 0; i < nodes; i++ {
		args := []string{"serve", "-config", cfgPath, "-server", t.Server, "-router", t.Router, "-limiter", t.Limiter,
			"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-watch=false"}
		if sr.etcdPx != nil {
			args = append(args, "-etcd", sr.etcdPx.Addr(), "-etcd-prefix", etcdPrefix)
		}
		switch t.Limiter {
		case "redis":
			args = append(args, "-redis", "redis://"+sr.redisPx.Addr()+"/0")
		case "crdt":
			args = append(args, "-node", fmt.Sprintf("n%d", i+1), "-bind", binds[i])
			var others []string
			for j, b := range binds {
				if j != i {
					others = append(others, b)
				}
			}
			if len(others) > 0 {
				args = append(args, "-peers", strings.Join(others, ","))
			}
		}
		p, err := fleet.Start(ctx, fleet.Spec{Name: fmt.Sprintf("%s-n%d", t.Name, i+1), Path: sr.l.o.Bin, Args: args,
			Ready: gatelabReady, ReadyTimeout: 20 * time.Second})
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("starting %s: %w", t.Name, err)
		}
		r.procs = append(r.procs, p)
		r.bases = append(r.bases, "http://"+p.Ready()[1])
		r.admins = append(r.admins, "http://"+p.Ready()[2])
	}
	return r, nil
}

// startContainers runs a gatelab target's nodes in Docker containers: the
// rendered config and the fixture files it names go to a directory mounted
// at /cfg; every node gets the others as crdt peers on the gossip network.
func (sr *scenarioRun) startContainers(ctx context.Context, t *target, rep int) (*running, error) {
	dir := filepath.Join(sr.tmp, fmt.Sprintf("%s-%d-cfg", t.Name, rep))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ref := func(rel string) string {
		name := filepath.Base(rel)
		b, err := os.ReadFile(sr.l.fx.Resolve(rel))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			return "/cfg/missing-" + name
		}
		return deps.GatelabConfigMount + "/" + name
	}
	cfg := gatelabConfig(sr.l.fx, sr.s, sr.upURLs, "", nil, 0, ref)
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	sr.keepConfig(t, filepath.Join(dir, "gateway.yaml"))
	c, err := deps.StartGatelabNodes(ctx, deps.GatelabNodesOptions{Bin: sr.l.o.Bin, N: max(sr.s.Targets.Nodes, 1), ConfigDir: dir,
		Args: []string{"-server", t.Server, "-router", t.Router, "-limiter", t.Limiter, "-watch=false"}})
	if err != nil {
		return nil, fmt.Errorf("starting %s in containers: %w", t.Name, err)
	}
	r := &running{cluster: c, fileRef: ref}
	for _, n := range c.Nodes {
		r.bases = append(r.bases, n.TrafficURL)
		r.admins = append(r.admins, n.AdminURL)
	}
	return r, nil
}

// keepConfig copies a target's rendered config into the run directory once
// per target and records its hash.
func (sr *scenarioRun) keepConfig(t *target, path string) {
	name := sr.keepFile(t.Name+filepath.Ext(path), path)
	if t.Config == "" && name != "" {
		t.Config = name
	}
}

// keepFile copies a rendered config to configs/<scenario>-<base> in the
// run directory and records its hash in the manifest, the first time only
// (later repetitions differ in their temporary paths and ports); it returns
// the name under the run directory, "" when it could not.
func (sr *scenarioRun) keepFile(base, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	name := filepath.Join("configs", sr.s.Name+"-"+base)
	if _, kept := sr.l.res.Manifest.Configs[name]; kept {
		return name
	}
	os.MkdirAll(filepath.Join(sr.l.dir, "configs"), 0o755)
	if os.WriteFile(filepath.Join(sr.l.dir, name), b, 0o644) != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	sr.l.res.Manifest.Configs[name] = hex.EncodeToString(sum[:]) // the hash of the file kept
	return name
}

// reqMeta is what the lab knows of one load request: its route and which
// of the route's users (token subjects) sends it.
type reqMeta struct {
	route string
	user  int
}

// requests builds the load's requests for a target: each route's request,
// weighted, through every node; direct requests go to the upstream with
// the prefix stripped. Every trial gets fresh token subjects, so limiter
// counters start empty.
func (sr *scenarioRun) requests(t *target, r *running, trialID string) ([]load.Request, []reqMeta, error) {
	var reqs []load.Request
	var meta []reqMeta
	keyFile := sr.l.fx.Resolve("keys/rsa.pem")
	for _, rt := range sr.s.Routes {
		method, path, _ := strings.Cut(rt.Request, " ")
		var bases []string
		switch t.Kind {
		case kindDirect:
			bases = []string{sr.upURLs[rt.Upstream][0]}
			path = strings.TrimPrefix(path, rt.StripPrefix)
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
		default:
			bases = r.bases
		}
		users := max(rt.Users, 1)
		tokens := make([]string, users)
		if orDefault(rt.Auth, "jwt") == "jwt" && t.Kind == kindGatelab {
			for i := range tokens {
				tok, err := authtest.Mint(authtest.Options{KeyFile: keyFile,
					Subject: fmt.Sprintf("%s-%s-%s-%d", trialID, sr.s.Name, rt.ID, i), Issuer: sr.l.fx.Auth.JWT.Issuers[0],
					Audience: sr.l.fx.Auth.JWT.Audiences, TTL: time.Hour})
				if err != nil {
					return nil, nil, fmt.Errorf("minting a token: %w", err)
				}
				tokens[i] = tok
			}
		}
		paths := []string{path}
		if rt.Copies > 0 && t.Kind != kindDirect {
			rest := strings.TrimPrefix(path, rt.Prefix)
			paths = paths[:0]
			for _, p := range rt.Instances() {
				paths = append(paths, p+rest)
			}
		}
		for w := 0; w < max(rt.Weight, 1); w++ {
			for _, b := range bases {
				for i, tok := range tokens {
					for j, p := range paths {
						if len(paths) > 1 && len(tokens) > 1 && j%len(tokens) != i {
							continue // copies x users: one user per copy, round robin
						}
						h := http.Header{}
						if tok != "" {
							h.Set("Authorization", "Bearer "+tok)
						}
						reqs = append(reqs, load.Request{Tag: rt.ID, Method: method, URL: b + p, Header: h})
						meta = append(meta, reqMeta{route: rt.ID, user: i})
					}
				}
			}
		}
	}
	if len(reqs) > 65535 {
		return nil, nil, errors.New("more than 65535 distinct requests (routes x weight x nodes x users)")
	}
	return reqs, meta, nil
}

// trialSeq numbers trials within the process (etcd prefixes).
var trialSeq atomic.Int64

// TargetNames lists the targets a scenario runs on with these registered
// engines, in run order (before any is skipped for a missing dependency).
func TargetNames(s *scenario.Scenario, engines map[string][]string) ([]string, error) {
	l := &lab{o: Options{Engines: engines}}
	ts, err := l.expandTargets(s)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return names, nil
}
