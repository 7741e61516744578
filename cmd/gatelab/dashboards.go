package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/dashboards"
	"github.com/gatelab/gatelab/harness/fleet"
)

func init() {
	register("dashboards", "run Prometheus with gatelab's scrape config and alert rules; print how to add the Grafana dashboards", cmdDashboards)
}

// prometheusStopGrace is how long Prometheus gets to flush and exit after
// SIGTERM before it is killed.
const prometheusStopGrace = 10 * time.Second

// cmdDashboards renders prometheus.yml for the given gateway nodes (their
// admin listeners), writes it with the alert rules, the dashboards and the
// Grafana provisioning files into a directory, and runs Prometheus from it
// in the foreground until SIGINT or SIGTERM.
func cmdDashboards(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dashboards", `usage: gatelab dashboards [-scrape host:port[,host:port...]] [-listen ADDR] [-data DIR] [-prometheus BIN]
Runs Prometheus in the foreground, scraping the admin /metrics of the given gateway
nodes (job "gatelab") with gatelab's recording and alert rules loaded, and prints its
URL and how to point Grafana at it (a Prometheus data source at that URL, and the
dashboards/grafana/ JSON with its provisioning files, also written into -data).
Grafana itself is not packaged with gatelab. Ctrl-C stops Prometheus.
`)
	scrape := fs.String("scrape", "127.0.0.1:9090", "comma-separated admin `addresses` (host:port) of the gateway nodes; 127.0.0.1:9090 is gatelab serve's default")
	listen := fs.String("listen", "127.0.0.1:9091", "Prometheus web `address`")
	data := fs.String("data", "", "`directory` for the config, rules, dashboards, log and TSDB, kept (default: a temporary one, removed at exit)")
	bin := fs.String("prometheus", "prometheus", "Prometheus `binary` (a path, or a name looked up in PATH)")
	interval := fs.Duration("scrape-interval", 5*time.Second, "scrape and rule evaluation `interval`")
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	var targets []string
	for _, s := range strings.Split(*scrape, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if host, port, err := net.SplitHostPort(s); err != nil || host == "" || port == "" {
			return usageErrorf("-scrape %q: want host:port[,host:port...]", *scrape)
		}
		targets = append(targets, s)
	}
	if len(targets) == 0 {
		return usageErrorf("-scrape: no address")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usageErrorf("-listen %q: want host:port", *listen)
	}
	if *interval < time.Second {
		return usageErrorf("-scrape-interval %v: want at least 1s", *interval)
	}
	path, err := exec.LookPath(*bin)
	if err != nil {
		return fmt.Errorf("%w (install Prometheus, e.g. the Debian package prometheus, or give its path with -prometheus)", err)
	}

	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "gatelab-dashboards-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	url := dashboards.URL(*listen)
	w, err := dashboards.WriteDir(dir, dashboards.Setup{Targets: targets, ScrapeInterval: *interval}, url)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logFile := filepath.Join(filepath.Dir(w.Config), "prometheus.log")
	p, err := fleet.Start(ctx, fleet.Spec{
		Name:         "prometheus",
		Path:         path,
		Args:         dashboards.PrometheusArgs(w.Config, w.TSDB, *listen),
		Dir:          filepath.Dir(w.Config),
		Ready:        dashboards.PrometheusReady,
		ReadyTimeout: time.Minute,
		LogFile:      logFile,
	})
	if err != nil {
		return err
	}

	kept := ""
	if *data == "" {
		kept = " (a temporary directory, removed at exit: use -data DIR to keep it)"
	}
	fmt.Fprintf(stdout, `Prometheus %s is scraping %s every %v (job %q) with the gatelab alert rules.
  files   %s%s
  config  %s
  rules   %s   (firing alerts: %s/alerts)
  log     %s

Grafana is not packaged with gatelab. To see the dashboards in a Grafana of yours:
  - add a Prometheus data source with URL %s
    (or copy %s into Grafana's provisioning/datasources/);
  - import %s/gatelab-fleet.json and gatelab-limiter.json
    (Dashboards > New > Import; pick that data source for ${datasource}),
    or copy %s into Grafana's provisioning/dashboards/: it loads the JSON from %s.
    The same files are in the repository under dashboards/grafana/.

Ctrl-C stops Prometheus.
`, url, strings.Join(targets, ", "), *interval, dashboards.JobName,
		filepath.Dir(w.Config), kept, w.Config, w.Rules, url, logFile,
		url, w.Datasources, w.Grafana, w.Dashboards, w.Grafana)

	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopping Prometheus")
		if err := p.Stop(prometheusStopGrace); err != nil {
			return err
		}
		return nil
	case <-p.Done():
		_, how := p.Exited()
		return fmt.Errorf("prometheus %s; its last lines:\n%s", how, lastLines(p.Output(), 20))
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
