package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/node"
)

func init() {
	register("serve", "run the reference gateway", cmdServe)
}

// defaultConfig is the -config default of serve and validate (see repoFile).
const defaultConfig = "fixtures/gateway.yaml"

const serveIntro = `usage: gatelab serve [-config FILE] [flags]
Runs the reference gateway. Flags override the config file's settings; the
file is watched (-watch=false to stop) and SIGHUP re-reads it; SIGINT,
SIGTERM or POST /drain on the admin listener drain and stop. The line
"gatelab serving on http://ADDR (admin http://ADDR) ..." on stderr says it
serves; operational messages follow it as log/slog text records.
`

// serveGCPercent is the gateway's GOGC unless the GOGC environment variable
// says otherwise. A gateway's live heap is small (10 to 20 MB, most of it
// per-connection buffers) and, at Go's default of 100, a cold start under
// load collects every few megabytes while the connections arrive: four or
// five collections in the first second at 5,000 req/s, each taking a
// quarter of the CPU from requests, stretched the cold-start latency spike
// from about 0.5 s to over 1 s. At 400 that start sees 0 or 1 collection;
// the heap may grow to about five times the live data (50 to 100 MB), and
// GOMEMLIMIT still caps it where memory is tight.
const serveGCPercent = 400

func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveIntro)
	defaults := config.Default() // quoted in the help: one source
	cfgPath := fs.String("config", defaultConfig, "config `file` (YAML)"+repoFileHelp)
	server := fs.String("server", "", "server `engine`: "+strings.Join(engines.Names(engines.KindServer), " | ")+" (overrides engines.server)")
	router := fs.String("router", "", "router `engine`: "+strings.Join(engines.Names(engines.KindRouter), " | ")+" (overrides engines.router)")
	limiter := fs.String("limiter", "", "limiter engine: local | redis | crdt (overrides engines.limiter)")
	redisURL := fs.String("redis", "", "redis limiter: go-redis URL, e.g. redis://127.0.0.1:6379/0 (overrides limiter.redis.url)")
	crdtNode := fs.String("node", "", "crdt limiter: this node's unique name (overrides limiter.crdt.node)")
	crdtBind := fs.String("bind", "", "crdt limiter: memberlist bind address host:port (overrides limiter.crdt.bind)")
	crdtPeers := fs.String("peers", "", "crdt limiter: comma-separated seed peers host:port (overrides limiter.crdt.peers)")
	listen := fs.String("listen", "", "traffic `address` (overrides listen.traffic, default "+defaults.Listen.Traffic+")")
	admin := fs.String("admin", "", "admin/metrics `address` (overrides listen.admin, default "+defaults.Listen.Admin+")")
	withPprof := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	drain := fs.Duration("drain", 30*time.Second, "drain timeout: how long in-flight requests may take to finish on SIGTERM/SIGINT or POST /drain")
	drainDelay := fs.Duration("drain-delay", 0, "on drain, keep serving this long with /readyz answering 503 (and Connection: close) before the listeners close, so load balancers stop sending first")
	watch := fs.Bool("watch", true, "apply the config file when it is saved (file source)")
	etcd := fs.String("etcd", "", "etcd endpoints, comma-separated: the config source (watch PREFIX/config); the file is then only a bootstrap")
	etcdPrefix := fs.String("etcd-prefix", "/gatelab", "etcd key prefix")
	stateDir := fs.String("state-dir", "", "directory that keeps the last good config snapshot, served after a restart when the source is unreachable or invalid")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "operational log `level` on stderr: debug | info | warn | error (the access log is separate: access_log in the config)")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	for _, e := range []struct {
		flag, value string
		kind        engines.Kind
	}{{"server", *server, engines.KindServer}, {"router", *router, engines.KindRouter}, {"limiter", *limiter, engines.KindLimiter}} {
		if names := engines.Names(e.kind); e.value != "" && !slices.Contains(names, e.value) {
			return usageErrorf("-%s %q: want one of %s", e.flag, e.value, strings.Join(names, ", "))
		}
	}
	if !fs.isSet("config") {
		*cfgPath = repoFile(defaultConfig)
	}
	setGCPercent()
	// One operational logger for the whole process: the packages that log
	// (control plane, limiter engines, auth) use slog.Default() unless given
	// one, and the standard log package writes through it too.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	src := node.Sources{File: *cfgPath, Watch: *watch, EtcdPrefix: *etcdPrefix, StateDir: *stateDir}
	if *etcd != "" {
		src.Etcd = strings.Split(*etcd, ",")
	}
	st, err := node.LoadStartup(src, logger)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	cfg := st.Config
	// The limiter flags patch the engines' config sections.
	var set []node.LimiterSetting
	for _, f := range []struct {
		engine, key, value string
	}{{"redis", "url", *redisURL}, {"crdt", "node", *crdtNode}, {"crdt", "bind", *crdtBind}} {
		if f.value != "" {
			set = append(set, node.LimiterSetting{Engine: f.engine, Key: f.key, Value: f.value})
		}
	}
	if *crdtPeers != "" {
		set = append(set, node.LimiterSetting{Engine: "crdt", Key: "peers", Value: strings.Split(*crdtPeers, ",")})
	}
	n, err := node.Start(cfg, node.Options{Server: *server, Router: *router, Limiter: *limiter, Listen: *listen, Admin: *admin, Pprof: *withPprof,
		LimiterSet: set})
	if err != nil {
		return err
	}
	// gatelab_build_info: what "gatelab version" prints.
	bi := readBuildInfo()
	n.Gateway.Metrics().SetBuildInfo(bi.Version, bi.Revision, bi.Go)
	ctl, err := n.StartControl(st, src, logger)
	if err != nil {
		n.Shutdown(context.Background())
		return err
	}
	defer ctl.Stop()
	// The ready line: a fixed format that scripts and the lab wait for.
	fmt.Fprintf(stderr, "gatelab serving on http://%s (admin http://%s) engines server=%s router=%s limiter=%s config version %d from %s\n",
		n.Addr(), n.AdminAddr(), n.Engines.Server, n.Engines.Router, n.Engines.Limiter, n.Version(), st.From)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// Reload the file: validated whole first; on any problem the
				// current snapshot keeps serving and every problem is printed.
				res, err := ctl.SubmitFile(*cfgPath)
				if err != nil {
					logger.Warn("SIGHUP: reload rejected; the served config keeps serving", "file", *cfgPath, "version", n.Version(), "error", err)
					continue
				}
				logger.Info("SIGHUP: reloaded", "file", *cfgPath, "outcome", res.Outcome, "version", n.Version())
				continue
			}
			logger.Info("draining", "signal", sig.String(), "delay", *drainDelay, "timeout", *drain)
		case <-n.DrainRequested():
			logger.Info("draining", "requested", "POST /drain", "delay", *drainDelay, "timeout", *drain)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *drainDelay+*drain)
		err := n.Drain(ctx, *drainDelay)
		cancel()
		if err != nil {
			logger.Error("drain incomplete", "error", err)
			return exitCode(1)
		}
		logger.Info("drained")
		return nil
	}
}
