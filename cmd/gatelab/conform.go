package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/suites"
	"github.com/gatelab/gatelab/suites/targets"
)

func init() {
	register("conform", "run the conformance suites against the reference gateway, nginx, haproxy or your gateway", cmdConform)
}

// conformTarget is one target of a conform run: how to start it, whether
// it is the reference gateway, and what it becomes.
type conformTarget struct {
	name      string
	reference bool // a gatelab engine combination
	start     func(ctx context.Context) (suites.Target, func(), error)

	rep *suites.Report // after the run
}

// startFailure is the report of a target that did not start: one failed
// core case, "target/start", so the YAML, JUnit and the exit code say so.
func startFailure(name string, err error, version string) *suites.Report {
	ref := suites.CaseRef{ID: "target/start", Reason: "did not start: " + err.Error()}
	return &suites.Report{APIVersion: "gatelab.dev/v1alpha1", Kind: "ConformanceReport", Target: name,
		Implementation: suites.Implementation{Name: name}, GatelabVersion: version, Date: time.Now().UTC().Format(time.RFC3339),
		Profiles: []suites.ProfileReport{{Level: suites.Core, Result: suites.Failure, Failed: 1, Fails: []suites.CaseRef{ref}}},
		Cases:    []suites.CaseResult{{ID: ref.ID, Level: suites.Core, Outcome: suites.Failed, Reason: ref.Reason}}}
}

func cmdConform(args []string, stdout, stderr io.Writer) error {
	f := newFlags("conform", `usage: gatelab conform [-engines all|SERVER-ROUTER-LIMITER,...] [-peers nginx,haproxy] [flags]
       gatelab conform -target URL -capabilities FILE [-admin URL] [flags]
Runs the conformance cases (suites/: routing, authentication, headers, rate
limits, upstream errors, limits; core and extended) against gateways that
front the fixture's echo upstreams, and checks both what the client got and
what the backend received.
Without -target: the reference gateway in every engine combination (or those
of -engines), then nginx and haproxy configured from the same routes by the
lab's renderer, when installed (GATELAB_REQUIRE_NGINX=1 or
GATELAB_REQUIRE_HAPROXY=1 make a missing one an error; the redis limiter
needs a Redis, GATELAB_REQUIRE_REDIS=1 likewise).
With -target: your gateway at URL, configured by you from the fixture's
routes; the capabilities file names it, lists its features (cases needing
others are skipped with the reason) and the addresses of its upstreams,
where conform starts the echo upstreams. See README.md, "Conformance".
Writes <report>/<target>.yaml per target and <report>/junit.xml, and prints a
summary per target. Exit 0: every core case passed on every reference
target (or on the only target); 1: one failed, or a target did not start;
2: bad input.
`)
	target := f.String("target", "", "traffic `URL` of your gateway (http://HOST:PORT); needs -capabilities")
	admin := f.String("admin", "", "admin `URL` of your gateway: when it is gatelab, the config reload cases replace its config there")
	capsFile := f.String("capabilities", "", "capabilities `file` of the -target gateway (YAML: implementation, features, upstreams)")
	engineList := f.String("engines", "all", "engine `combinations` of the reference gateway: all, none, or SERVER-ROUTER-LIMITER,... (e.g. fasthttp-trie-local)")
	peerList := f.String("peers", strings.Join(peers.Kinds(), ","), "peer `gateways` to run too when installed: nginx, haproxy, or none")
	featureList := f.String("features", "", "run only cases whose features are all in this comma-separated `list` (e.g. routing.prefix,headers.forwarded)")
	caseList := f.String("cases", "", "run only cases whose id begins with one of these comma-separated `prefixes` (e.g. routing/,auth/jwt-)")
	reportDir := f.String("report", "", "`directory` for the reports (default reports/out/conformance/<UTC time>/)")
	parallel := f.Int("parallel", 3, "targets run at `n` at once (each runs up to 8 cases at once)")
	timeout := f.Duration("timeout", 5*time.Minute, "bound on the whole run")
	bin := f.String("bin", "", "gatelab `binary` run as echo upstream and gateway (default: this executable)")
	root := f.String("root", os.Getenv(EnvRoot), "repository `root` holding fixtures/ (default: $"+EnvRoot+" if set, else found in the working directory or above)")
	if err := f.parse(args, stdout); err != nil {
		return err
	}

	// Bad input first, all of it before anything starts.
	if *parallel < 1 {
		return usageErrorf("-parallel %d: want 1 or more", *parallel)
	}
	if *timeout <= 0 {
		return usageErrorf("-timeout %v: want a positive duration", *timeout)
	}
	if *target == "" && (*admin != "" || *capsFile != "") {
		return usageErrorf("-admin and -capabilities go with -target")
	}
	if *target != "" && *capsFile == "" {
		return usageErrorf("-target needs -capabilities (what the gateway supports and where its upstreams are)")
	}
	if *target != "" && (f.isSet("engines") || f.isSet("peers")) {
		return usageErrorf("-engines and -peers choose the reference run; with -target only your gateway runs")
	}
	for _, u := range []struct{ flag, url string }{{"-target", *target}, {"-admin", *admin}} {
		if u.url == "" {
			continue
		}
		if _, err := targets.BaseURL(u.url); err != nil {
			return usageErrorf("%s: %v", u.flag, err)
		}
	}
	features, err := parseFeatures(*featureList)
	if err != nil {
		return usageError{err}
	}
	cases := suites.All()
	prefixes, err := parseCasePrefixes(*caseList, cases)
	if err != nil {
		return usageError{err}
	}
	var combos [][3]string
	var peerKinds []string
	var caps *suites.Capabilities
	if *target == "" {
		if combos, err = parseCombos(*engineList); err != nil {
			return usageError{err}
		}
		if peerKinds, err = parsePeers(*peerList); err != nil {
			return usageError{err}
		}
		if len(combos) == 0 && len(peerKinds) == 0 {
			return usageErrorf("nothing to run: -engines none and -peers none")
		}
	} else if caps, err = suites.LoadCapabilities(*capsFile); err != nil {
		fmt.Fprintf(stderr, "gatelab conform: %s:\n%v\n", *capsFile, err)
		return exitCode(2)
	}
	if *root == "" {
		if p := repoFile(filepath.Join("fixtures", "gateway.yaml")); fileExists(p) {
			*root = filepath.Dir(filepath.Dir(p))
		}
	}
	if !fileExists(filepath.Join(*root, "fixtures", "gateway.yaml")) {
		return usageErrorf("no fixtures/gateway.yaml under -root %q: run from the repository or set -root", *root)
	}
	if *root, err = filepath.Abs(*root); err != nil {
		return err
	}
	if *bin == "" {
		if *bin, err = os.Executable(); err != nil {
			return fmt.Errorf("finding this executable: %w", err)
		}
	}
	dir := *reportDir
	if dir == "" {
		dir = filepath.Join("reports", "out", "conformance", time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	began := time.Now()

	// The echo upstreams every target fronts: on free ports, or where the
	// capabilities file says the user's gateway sends its requests.
	var addrs map[string]string
	if caps != nil {
		addrs = caps.Upstreams
	}
	fx, err := targets.StartFixture(ctx, *bin, addrs)
	if err != nil {
		fmt.Fprintf(stderr, "gatelab conform: %v\n", err)
		return exitCode(1)
	}
	defer fx.Close()
	if caps != nil {
		if c, err := net.DialTimeout("tcp", fx.Backends[suites.BackendDead], time.Second); err == nil {
			c.Close()
			fmt.Fprintf(stdout, "notice: something accepts connections at the dead backend's address %s: the refused-upstream cases will fail\n", fx.Backends[suites.BackendDead])
		}
	}

	var ts []*conformTarget
	opts := suites.Options{Root: *root, Features: features, Cases: prefixes, Version: readBuildInfo().Version}
	if caps != nil {
		ext, err := targets.NewExternal(targets.ExternalOptions{URL: *target, Admin: *admin, Capabilities: caps, Root: *root, Fixture: fx})
		if err != nil {
			return err
		}
		if slices.Contains(caps.Features, suites.ConfigReload) && (*admin == "" || caps.Implementation.Name != "gatelab") {
			fmt.Fprintf(stdout, "notice: %s declares %s, but conform changes the config only of a gatelab given -admin: the reload cases will fail\n", caps.File, suites.ConfigReload)
		}
		ts = append(ts, &conformTarget{name: ext.Name(), start: func(context.Context) (suites.Target, func(), error) {
			return ext, func() {}, nil
		}})
	} else {
		var notices []string
		var cleanup func()
		ts, cleanup, notices, err = referenceTargets(ctx, combos, peerKinds, *bin, *root, fx, dir)
		defer cleanup()
		for _, n := range notices {
			fmt.Fprintln(stdout, "notice: "+n)
		}
		if err != nil {
			fmt.Fprintf(stderr, "gatelab conform: %v\n", err)
			return exitCode(1)
		}
	}
	if len(ts) == 0 {
		fmt.Fprintln(stderr, "gatelab conform: no target could run (see the notices above)")
		return exitCode(1)
	}

	// Run the targets, a few at once; print each summary as it ends.
	var mu sync.Mutex
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			tg, stopTarget, err := t.start(ctx)
			if err != nil {
				t.rep = startFailure(t.name, err, opts.Version)
				mu.Lock()
				fmt.Fprintf(stdout, "%s: did not start: %v\n", t.name, err)
				mu.Unlock()
				return
			}
			t.rep = suites.Run(ctx, tg, cases, opts)
			stopTarget()
			var b bytes.Buffer
			t.rep.Summary(&b)
			mu.Lock()
			stdout.Write(b.Bytes())
			mu.Unlock()
		}()
	}
	wg.Wait()

	// Reports: one YAML file per target, one JUnit file for all.
	var reps []*suites.Report
	for _, t := range ts {
		reps = append(reps, t.rep)
		if err := writeFile(filepath.Join(dir, fileName(t.rep.Target)+".yaml"), t.rep.WriteYAML); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "junit.xml"), func(w io.Writer) error { return suites.WriteJUnit(w, reps...) }); err != nil {
		return err
	}
	code, line := conformVerdict(ts)
	fmt.Fprintf(stdout, "%s; %d target(s) in %.0fs; reports in %s\n", line, len(ts), time.Since(began).Seconds(), dir)
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// conformVerdict decides the exit code: 1 when a core case failed, or a
// target did not start, on a reference target; third-party targets count
// only when no reference target ran.
func conformVerdict(ts []*conformTarget) (int, string) {
	anyRef := slices.ContainsFunc(ts, func(t *conformTarget) bool { return t.reference })
	var bad, thirdBad []string
	for _, t := range ts {
		failed := t.rep.Failed(suites.Core)
		switch {
		case !failed:
		case t.reference || !anyRef:
			bad = append(bad, t.name)
		default:
			thirdBad = append(thirdBad, t.name)
		}
	}
	line := "conformance: every core case passed"
	if anyRef {
		line += " on every reference target"
	}
	if len(thirdBad) > 0 {
		line += fmt.Sprintf(" (third-party targets with core failures, not counted: %s)", strings.Join(thirdBad, ", "))
	}
	if len(bad) > 0 {
		return 1, "conformance: FAILED on " + strings.Join(bad, ", ")
	}
	return 0, line
}

// referenceTargets lists the gatelab engine combinations and the installed
// peers, and returns what stops the dependencies it started. A redis
// combination needs a Redis (started here); without one the redis
// combinations are left out with a notice, or the run fails when
// GATELAB_REQUIRE_REDIS=1. A peer not installed likewise.
func referenceTargets(ctx context.Context, combos [][3]string, peerKinds []string, bin, root string, fx *targets.Fixture, dir string) ([]*conformTarget, func(), []string, error) {
	var ts []*conformTarget
	var notices []string
	cleanup := func() {}
	redisAddr := ""
	if slices.ContainsFunc(combos, func(c [3]string) bool { return c[2] == "redis" }) {
		r, err := deps.StartRedis(ctx, targets.RedisOptions())
		switch {
		case err == nil:
			redisAddr, cleanup = r.Addr(), func() { r.Close() }
		case os.Getenv("GATELAB_REQUIRE_REDIS") == "1":
			return nil, cleanup, notices, fmt.Errorf("GATELAB_REQUIRE_REDIS=1 and no Redis: %w", err)
		default:
			var left []string
			for _, c := range combos {
				if c[2] == "redis" {
					left = append(left, strings.Join(c[:], "-"))
				}
			}
			notices = append(notices, fmt.Sprintf("not run: %s (no Redis for the redis limiter: %v)", strings.Join(left, ", "), err))
		}
	}
	for _, c := range combos {
		if c[2] == "redis" && redisAddr == "" {
			continue
		}
		ts = append(ts, &conformTarget{name: "gatelab-" + strings.Join(c[:], "-"), reference: true,
			start: func(ctx context.Context) (suites.Target, func(), error) {
				g, err := targets.StartGatelab(ctx, targets.GatelabOptions{Bin: bin, Root: root,
					Server: c[0], Router: c[1], Limiter: c[2], Redis: redisAddr, Fixture: fx, Dir: filepath.Join(dir, "config")})
				if err != nil {
					return nil, nil, err
				}
				return g, g.Close, nil
			}})
	}
	for _, k := range peerKinds {
		if _, err := peers.Find(k); err != nil {
			if os.Getenv("GATELAB_REQUIRE_"+strings.ToUpper(k)) == "1" {
				cleanup()
				return nil, func() {}, notices, fmt.Errorf("GATELAB_REQUIRE_%s=1: %w", strings.ToUpper(k), err)
			}
			notices = append(notices, fmt.Sprintf("not run: %s (%v)", k, err))
			continue
		}
		ts = append(ts, &conformTarget{name: k, start: func(ctx context.Context) (suites.Target, func(), error) {
			p, err := targets.StartPeer(ctx, targets.PeerOptions{Kind: k, Fixture: fx})
			if err != nil {
				return nil, nil, err
			}
			// Keep the rendered config next to the reports before its
			// temporary directory goes.
			if b, err := os.ReadFile(p.ConfigPath()); err == nil {
				os.WriteFile(filepath.Join(dir, "config", filepath.Base(p.ConfigPath())), b, 0o644)
			}
			return p, p.Close, nil
		}})
	}
	return ts, cleanup, notices, nil
}

// parseCombos reads -engines: all, none, or SERVER-ROUTER-LIMITER names
// from the engine registry.
func parseCombos(s string) ([][3]string, error) {
	kinds := []engines.Kind{engines.KindServer, engines.KindRouter, engines.KindLimiter}
	var combos [][3]string
	switch s = strings.TrimSpace(s); s {
	case "none":
		return nil, nil
	case "all", "":
		for _, sv := range engines.Names(engines.KindServer) {
			for _, r := range engines.Names(engines.KindRouter) {
				for _, l := range engines.Names(engines.KindLimiter) {
					combos = append(combos, [3]string{sv, r, l})
				}
			}
		}
		return combos, nil
	}
	var probs []string
	for _, c := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(c), "-")
		if len(parts) != 3 {
			probs = append(probs, fmt.Sprintf("%q: want SERVER-ROUTER-LIMITER", c))
			continue
		}
		ok := true
		for i, k := range kinds {
			if names := engines.Names(k); !slices.Contains(names, parts[i]) {
				probs = append(probs, fmt.Sprintf("%q: no %s engine is named %q (known: %s)", c, k, parts[i], strings.Join(names, ", ")))
				ok = false
			}
		}
		if ok && !slices.Contains(combos, [3]string(parts)) {
			combos = append(combos, [3]string(parts))
		}
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("-engines: %s", strings.Join(probs, "; "))
	}
	return combos, nil
}

// parsePeers reads -peers: none, or peer kinds.
func parsePeers(s string) ([]string, error) {
	if s = strings.TrimSpace(s); s == "none" || s == "" {
		return nil, nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(peers.Kinds(), k) {
			return nil, fmt.Errorf("-peers: unknown peer %q (known: %s, or none)", k, strings.Join(peers.Kinds(), ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// parseFeatures reads -features: known feature names.
func parseFeatures(s string) ([]suites.Feature, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []suites.Feature
	var bad []string
	for _, x := range strings.Split(s, ",") {
		f := suites.Feature(strings.TrimSpace(x))
		if !slices.Contains(suites.KnownFeatures, f) {
			bad = append(bad, strconv.Quote(string(f)))
			continue
		}
		out = append(out, f)
	}
	if len(bad) > 0 {
		known := make([]string, len(suites.KnownFeatures))
		for i, f := range suites.KnownFeatures {
			known[i] = string(f)
		}
		return nil, fmt.Errorf("-features: unknown %s (known: %s)", strings.Join(bad, ", "), strings.Join(known, ", "))
	}
	return out, nil
}

// parseCasePrefixes reads -cases: each prefix must select a case, so a
// typo is an error rather than a run of nothing.
func parseCasePrefixes(s string, cases []suites.Case) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out, bad []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.ContainsFunc(cases, func(c suites.Case) bool { return strings.HasPrefix(c.ID, p) }) {
			bad = append(bad, strconv.Quote(p))
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("-cases: no case id begins with %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// fileNameRE is what a report file name keeps of a target name.
var fileNameRE = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func fileName(target string) string { return fileNameRE.ReplaceAllString(target, "_") }

// writeFile writes what write produces to path.
func writeFile(path string, write func(io.Writer) error) error {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
