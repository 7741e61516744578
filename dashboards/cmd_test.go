package dashboards

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/testproc"
)

// "gatelab dashboards" runs Prometheus scraping a real node with the rules
// loaded, prints where it is, and stops it cleanly on SIGTERM.
func TestDashboardsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and Prometheus")
	}
	needTool(t, "prometheus")
	up := testproc.StartUpstream(t, "dash-cmd-up")
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(fleetConfig(t, up, up)), 0o644); err != nil {
		t.Fatal(err)
	}
	node := testproc.StartServe(t, "-config", cfgPath, "-drain", "1s")

	data := t.TempDir()
	listen := testproc.FreeAddr(t)
	cmd := testproc.Start(t, "dashboards", "-scrape", node.Admin, "-listen", listen, "-data", data, "-scrape-interval", "1s")
	cmd.WaitOutput("Ctrl-C stops Prometheus.", 60*time.Second)
	out := cmd.Stdout()
	for _, want := range []string{"Prometheus " + URL(listen) + " is scraping " + node.Admin, "Grafana is not packaged",
		"add a Prometheus data source with URL " + URL(listen), filepath.Join(data, "grafana", "provisioning", "dashboards.yaml")} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	p := &promProc{url: URL(listen), client: testHTTPClient}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitTargetsUp(t, ctx, p, 1)
	poll(t, ctx, "waiting for the rules", func() string {
		rules, err := p.rules(ctx)
		if err != nil {
			return err.Error()
		}
		if all, _ := Rules(); len(rules) != len(all) {
			return fmt.Sprintf("%d rules loaded, alerts.yml has %d", len(rules), len(all))
		}
		return ""
	})
	v, err := p.query(ctx, `gatelab_engine_info{job="gatelab"}`, time.Now())
	if err != nil || len(v) != 1 || v[0].Metric["instance"] != node.Admin {
		t.Errorf("gatelab_engine_info through the command's Prometheus: %v, %v", v, err)
	}

	if err := cmd.Stop(); err != nil {
		t.Errorf("gatelab dashboards after SIGTERM: %v, want exit status 0\n%s", err, cmd.Output())
	}
	for _, f := range []string{"prometheus.yml", "alerts.yml", "prometheus.log", "grafana/gatelab-fleet.json", "data"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Errorf("-data dir: %v", err)
		}
	}
}
