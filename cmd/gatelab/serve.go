package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/node"
)

func init() {
	register("serve", "run the reference gateway", cmdServe)
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "fixtures/gateway.yaml", "config file (YAML)")
	server := fs.String("server", "", "server engine: nethttp | fasthttp (overrides engines.server)")
	router := fs.String("router", "", "router engine: trie | regex | mux (overrides engines.router)")
	limiter := fs.String("limiter", "", "limiter engine: local | redis | crdt (overrides engines.limiter)")
	redisURL := fs.String("redis", "", "redis limiter: go-redis URL, e.g. redis://127.0.0.1:6379/0 (overrides limiter.redis.url)")
	crdtNode := fs.String("node", "", "crdt limiter: this node's unique name (overrides limiter.crdt.node)")
	crdtBind := fs.String("bind", "", "crdt limiter: memberlist bind address host:port (overrides limiter.crdt.bind)")
	crdtPeers := fs.String("peers", "", "crdt limiter: comma-separated seed peers host:port (overrides limiter.crdt.peers)")
	listen := fs.String("listen", "", "traffic address (overrides listen.traffic, default 127.0.0.1:8080)")
	admin := fs.String("admin", "", "admin/metrics address (overrides listen.admin, default 127.0.0.1:9090)")
	withPprof := fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	drain := fs.Duration("drain", 30*time.Second, "drain timeout: how long in-flight requests may take to finish on SIGTERM/SIGINT or POST /drain")
	drainDelay := fs.Duration("drain-delay", 0, "on drain, keep serving this long with /readyz answering 503 (and Connection: close) before the listeners close, so load balancers stop sending first")
	watch := fs.Bool("watch", true, "apply the config file when it is saved (file source)")
	etcd := fs.String("etcd", "", "etcd endpoints, comma-separated: the config source (watch PREFIX/config); the file is then only a bootstrap")
	etcdPrefix := fs.String("etcd-prefix", "/gatelab", "etcd key prefix")
	stateDir := fs.String("state-dir", "", "directory that keeps the last good config snapshot, served after a restart when the source is unreachable or invalid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	src := node.Sources{File: *cfgPath, Watch: *watch, EtcdPrefix: *etcdPrefix, StateDir: *stateDir}
	if *etcd != "" {
		src.Etcd = strings.Split(*etcd, ",")
	}
	st, err := node.LoadStartup(src, logf)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	cfg := st.Config
	var peers []string
	if *crdtPeers != "" {
		peers = strings.Split(*crdtPeers, ",")
	}
	n, err := node.Start(cfg, node.Options{Server: *server, Router: *router, Limiter: *limiter, Listen: *listen, Admin: *admin, Pprof: *withPprof,
		RedisURL: *redisURL, CRDTNode: *crdtNode, CRDTBind: *crdtBind, CRDTPeers: peers})
	if err != nil {
		return err
	}
	ctl, err := n.StartControl(st, src, logf)
	if err != nil {
		n.Shutdown(context.Background())
		return err
	}
	defer ctl.Stop()
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
					fmt.Fprintf(stderr, "reload rejected, still serving version %d:\n%v\n", n.Version(), err)
					continue
				}
				fmt.Fprintf(stderr, "reload %s: serving config version %d\n", res.Outcome, n.Version())
				continue
			}
			fmt.Fprintf(stderr, "%s: draining (delay %s, timeout %s)\n", sig, *drainDelay, *drain)
		case <-n.DrainRequested():
			fmt.Fprintf(stderr, "POST /drain: draining (delay %s, timeout %s)\n", *drainDelay, *drain)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *drainDelay+*drain)
		err := n.Drain(ctx, *drainDelay)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "drain: %v\n", err)
		} else {
			fmt.Fprintln(stderr, "drained")
		}
		return err
	}
}
