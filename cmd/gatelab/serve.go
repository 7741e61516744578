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

	"github.com/gatelab/gatelab/gateway/config"
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
	drain := fs.Duration("drain", 30*time.Second, "how long to let in-flight requests finish on SIGTERM/SIGINT")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCode(1)
	}
	var peers []string
	if *crdtPeers != "" {
		peers = strings.Split(*crdtPeers, ",")
	}
	n, err := node.Start(cfg, node.Options{Server: *server, Router: *router, Limiter: *limiter, Listen: *listen, Admin: *admin, Pprof: *withPprof,
		RedisURL: *redisURL, CRDTNode: *crdtNode, CRDTBind: *crdtBind, CRDTPeers: peers})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "gatelab serving on http://%s (admin http://%s) engines server=%s router=%s limiter=%s config version %d\n",
		n.Addr(), n.AdminAddr(), n.Engines.Server, n.Engines.Router, n.Engines.Limiter, n.Gateway.Snapshot().Version)

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			// Reload: validate the whole file first; on any problem the
			// current snapshot keeps serving and every problem is printed.
			next, err := config.Load(*cfgPath)
			if err == nil {
				err = n.Reload(next)
			}
			if err != nil {
				fmt.Fprintf(stderr, "reload rejected, still serving version %d:\n%v\n", n.Gateway.Snapshot().Version, err)
				continue
			}
			fmt.Fprintf(stderr, "reloaded: serving config version %d\n", n.Gateway.Snapshot().Version)
			continue
		}
		fmt.Fprintf(stderr, "%s: draining (up to %s)\n", sig, *drain)
		ctx, cancel := context.WithTimeout(context.Background(), *drain)
		err := n.Shutdown(ctx)
		cancel()
		return err
	}
	return nil
}
