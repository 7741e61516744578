package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// JobName is the scrape job of the gateway nodes; the rules and dashboards
// select job="gatelab".
const JobName = "gatelab"

// Setup is what RenderPrometheusConfig fills into prometheus.yml.
type Setup struct {
	// Targets are the gateway nodes' admin listeners, host:port (the
	// -admin address of "gatelab serve"; /metrics is scraped there).
	Targets []string
	// ScrapeInterval and EvaluationInterval replace the file's global
	// intervals when set (EvaluationInterval defaults to ScrapeInterval).
	ScrapeInterval     time.Duration
	EvaluationInterval time.Duration
	// RuleFile replaces the rule_files list when set (a path, absolute or
	// relative to the written prometheus.yml).
	RuleFile string
	// TargetFile, when set, replaces the static targets with file-based
	// discovery: Prometheus reads the gatelab job's targets from this JSON
	// file (WriteTargetFile) and follows its changes. Targets must then be
	// empty. The lab uses it: its gateway nodes come and go with each trial.
	TargetFile string
}

// TargetGroup is one entry of a file_sd target file: scrape addresses
// (host:port) and the labels their series get.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// WriteTargetFile replaces path with groups as a file_sd JSON document,
// atomically (written next to it, then renamed), so Prometheus never reads
// half a file.
func WriteTargetFile(path string, groups []TargetGroup) error {
	if groups == nil {
		groups = []TargetGroup{}
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RenderPrometheusConfig returns prometheus/prometheus.yml with s applied:
// the gatelab job's targets, the global intervals and the rule file. The
// rest of the file (comments included) is kept.
func RenderPrometheusConfig(s Setup) ([]byte, error) {
	switch {
	case s.TargetFile != "" && len(s.Targets) > 0:
		return nil, errors.New("rendering prometheus.yml: static targets and a target file")
	case s.TargetFile == "" && len(s.Targets) == 0:
		return nil, errors.New("rendering prometheus.yml: no scrape targets")
	}
	for _, t := range s.Targets {
		if host, port, err := net.SplitHostPort(t); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("rendering prometheus.yml: target %q: want host:port", t)
		}
	}
	src, err := fs.ReadFile(files, PrometheusConfigFile)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", PrometheusConfigFile, err)
	}
	root := doc.Content[0]

	if s.ScrapeInterval > 0 {
		if s.EvaluationInterval <= 0 {
			s.EvaluationInterval = s.ScrapeInterval
		}
		global := mapValue(root, "global")
		if global == nil {
			return nil, fmt.Errorf("%s: no global section", PrometheusConfigFile)
		}
		setScalar(global, "scrape_interval", promDuration(s.ScrapeInterval))
		setScalar(global, "evaluation_interval", promDuration(s.EvaluationInterval))
	}
	if s.RuleFile != "" {
		rf := mapValue(root, "rule_files")
		if rf == nil || rf.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: no rule_files list", PrometheusConfigFile)
		}
		rf.Content = []*yaml.Node{{Kind: yaml.ScalarNode, Value: s.RuleFile}}
	}

	targets, job, err := jobTargets(root)
	if err != nil {
		return nil, err
	}
	targets.Content = nil
	for _, t := range s.Targets {
		targets.Content = append(targets.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: t})
	}
	if s.TargetFile != "" {
		removeKey(job, "static_configs")
		var sd yaml.Node
		if err := yaml.Unmarshal([]byte(fmt.Sprintf("- {files: [%q], refresh_interval: 1s}", s.TargetFile)), &sd); err != nil {
			return nil, err
		}
		job.Content = append(job.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "file_sd_configs"}, sd.Content[0])
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// jobTargets finds scrape_configs[job_name=gatelab].static_configs[0].targets
// and the job's mapping.
func jobTargets(root *yaml.Node) (*yaml.Node, *yaml.Node, error) {
	scs := mapValue(root, "scrape_configs")
	if scs == nil || scs.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("%s: no scrape_configs list", PrometheusConfigFile)
	}
	for _, sc := range scs.Content {
		if name := mapValue(sc, "job_name"); name == nil || name.Value != JobName {
			continue
		}
		static := mapValue(sc, "static_configs")
		if static == nil || static.Kind != yaml.SequenceNode || len(static.Content) == 0 {
			break
		}
		if t := mapValue(static.Content[0], "targets"); t != nil && t.Kind == yaml.SequenceNode {
			return t, sc, nil
		}
		break
	}
	return nil, nil, fmt.Errorf("%s: no job %q with static_configs[0].targets", PrometheusConfigFile, JobName)
}

// removeKey deletes key and its value from mapping m.
func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// mapValue returns the value node of key in mapping m (nil if absent).
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value string) {
	if v := mapValue(m, key); v != nil {
		v.Kind, v.Tag, v.Value = yaml.ScalarNode, "", value
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

// promDuration writes d in Prometheus's duration syntax (whole
// milliseconds at least: "1s", "1500ms", "1m").
func promDuration(d time.Duration) string {
	d = max(d.Round(time.Millisecond), time.Millisecond)
	switch {
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// Written is what WriteDir wrote, as absolute paths.
type Written struct {
	Config      string // prometheus.yml
	Rules       string // alerts.yml
	Grafana     string // directory of the dashboards' JSON
	Datasources string // provisioning/datasources.yaml with the Prometheus URL filled in
	Dashboards  string // provisioning/dashboards.yaml with options.path = Grafana
	TSDB        string // Prometheus's storage directory (created empty if new)
}

// WriteDir writes a directory Prometheus can run from: prometheus.yml
// (RenderPrometheusConfig with s, its rule file set to alerts.yml next to
// it), alerts.yml, the dashboards under grafana/, Grafana provisioning files
// under grafana/provisioning/ pointing at prometheusURL and at that
// grafana/ directory, and an empty data/ for the TSDB. Existing files are
// overwritten, data/ is kept.
func WriteDir(dir string, s Setup, prometheusURL string) (Written, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Written{}, err
	}
	w := Written{
		Config:      filepath.Join(abs, "prometheus.yml"),
		Rules:       filepath.Join(abs, "alerts.yml"),
		Grafana:     filepath.Join(abs, "grafana"),
		Datasources: filepath.Join(abs, "grafana", "provisioning", "datasources.yaml"),
		Dashboards:  filepath.Join(abs, "grafana", "provisioning", "dashboards.yaml"),
		TSDB:        filepath.Join(abs, "data"),
	}
	for _, d := range []string{filepath.Dir(w.Datasources), w.TSDB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Written{}, err
		}
	}
	s.RuleFile = w.Rules
	cfg, err := RenderPrometheusConfig(s)
	if err != nil {
		return Written{}, err
	}
	rules, err := fs.ReadFile(files, AlertsFile)
	if err != nil {
		return Written{}, err
	}
	ds, err := provisioning(DatasourcesFile, "url", prometheusURL)
	if err != nil {
		return Written{}, err
	}
	prov, err := provisioning(ProvisioningFile, "path", w.Grafana)
	if err != nil {
		return Written{}, err
	}
	out := map[string][]byte{w.Config: cfg, w.Rules: rules, w.Datasources: ds, w.Dashboards: prov}
	for _, name := range DashboardFiles {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return Written{}, err
		}
		out[filepath.Join(w.Grafana, filepath.Base(name))] = b
	}
	for p, b := range out {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return Written{}, err
		}
	}
	return w, nil
}

// provisioning returns the provisioning file name with the value of its
// first "key:" line replaced (the files have one url and one path).
func provisioning(name, key, value string) ([]byte, error) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		return nil, err
	}
	re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `:\s*).*$`)
	loc := re.FindSubmatchIndex(b)
	if loc == nil {
		return nil, fmt.Errorf("%s: no %s: line", name, key)
	}
	var out bytes.Buffer
	out.Write(b[:loc[3]])
	out.WriteString(value)
	out.Write(b[loc[1]:])
	return out.Bytes(), nil
}

// PrometheusReady matches the line Prometheus logs once it serves queries.
var PrometheusReady = regexp.MustCompile(`Server is ready to receive web requests`)

// PrometheusArgs is the command line of a Prometheus serving config with its
// storage in tsdb, listening on listen (host:port). The lifecycle and admin
// APIs stay off.
func PrometheusArgs(config, tsdb, listen string) []string {
	return []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + tsdb,
		"--web.listen-address=" + listen,
		"--log.level=info",
	}
}

// URL returns the http:// URL of a listen address, with a wildcard host
// shown as 127.0.0.1.
func URL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
