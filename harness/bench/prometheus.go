package bench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/dashboards"
	"github.com/gatelab/gatelab/harness/fleet"
)

// PrometheusDir is the directory under a run's folder where -prometheus
// keeps Prometheus's config, rules, Grafana files and TSDB: the run's
// gateway metrics stay queryable after the run (start Prometheus on it).
const PrometheusDir = "prometheus"

// labPrometheus is the Prometheus a run starts with Options.Prometheus: it
// scrapes the admin listener of every gatelab node while its trial runs.
// The nodes come and go with each trial on new ports, so the targets are a
// file_sd file rewritten as trials start and end; every series carries the
// scenario, target and repetition as lab_scenario, lab_target, lab_rep.
type labPrometheus struct {
	proc *fleet.Proc
	url  string
	file string
	w    dashboards.Written

	mu     sync.Mutex
	next   int
	groups map[int]dashboards.TargetGroup
	err    error // the first failure to rewrite the target file
}

// labScrapeInterval is short: a trial lasts seconds.
const labScrapeInterval = time.Second

// startPrometheus writes the Prometheus directory under the run's folder and
// starts Prometheus on listen.
func startPrometheus(ctx context.Context, runDir, listen string) (*labPrometheus, error) {
	path, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, badInput("-prometheus: %v (install the prometheus package)", err)
	}
	dir := filepath.Join(runDir, PrometheusDir)
	p := &labPrometheus{url: dashboards.URL(listen), groups: map[int]dashboards.TargetGroup{}}
	p.file = filepath.Join(dir, "targets.json")
	w, err := dashboards.WriteDir(dir, dashboards.Setup{TargetFile: p.file, ScrapeInterval: labScrapeInterval}, p.url)
	if err != nil {
		return nil, err
	}
	p.w = w
	if err := dashboards.WriteTargetFile(p.file, nil); err != nil {
		return nil, err
	}
	p.proc, err = fleet.Start(ctx, fleet.Spec{
		Name: "prometheus", Path: path, Dir: dir,
		Args:  dashboards.PrometheusArgs(w.Config, w.TSDB, listen),
		Ready: dashboards.PrometheusReady, ReadyTimeout: time.Minute,
		LogFile: filepath.Join(dir, "prometheus.log"),
	})
	if err != nil {
		return nil, fmt.Errorf("starting prometheus on %s: %w", listen, err)
	}
	return p, nil
}

// banner says where Prometheus is and how to point Grafana at it.
func (p *labPrometheus) banner() string {
	return fmt.Sprintf(`  prometheus %s scrapes every gatelab node of this run (job %q, labels lab_scenario, lab_target, lab_rep; %v)
    Grafana: add a Prometheus data source at %s (or %s) and import %s/*.json
    the data stays in %s: afterwards, prometheus --config.file=%s --storage.tsdb.path=%s`,
		p.url, dashboards.JobName, labScrapeInterval, p.url, p.w.Datasources, p.w.Grafana,
		filepath.Dir(p.w.Config), p.w.Config, p.w.TSDB)
}

// add makes Prometheus scrape a trial's nodes (admin base URLs) until the
// returned function is called.
func (p *labPrometheus) add(scenario, target string, rep int, admins []string) (remove func()) {
	g := dashboards.TargetGroup{Labels: map[string]string{"lab_scenario": scenario, "lab_target": target, "lab_rep": strconv.Itoa(rep)}}
	for _, a := range admins {
		g.Targets = append(g.Targets, strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://"))
	}
	p.mu.Lock()
	id := p.next
	p.next++
	p.groups[id] = g
	p.writeLocked()
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.groups, id)
		p.writeLocked()
		p.mu.Unlock()
	}
}

func (p *labPrometheus) writeLocked() {
	ids := make([]int, 0, len(p.groups))
	for id := range p.groups {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	gs := make([]dashboards.TargetGroup, 0, len(ids))
	for _, id := range ids {
		gs = append(gs, p.groups[id])
	}
	if err := dashboards.WriteTargetFile(p.file, gs); err != nil && p.err == nil {
		p.err = err
	}
}

// close stops Prometheus (its TSDB stays in the run's folder) and returns
// the first error of the run's target-file writes.
func (p *labPrometheus) close() error {
	p.proc.Stop(10 * time.Second)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
