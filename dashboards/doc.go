// Package dashboards holds gatelab's Grafana dashboards, Prometheus scrape
// configuration and alert rules, and the code that checks them and puts
// them to use.
//
// # Files
//
// The data files live next to this package and are embedded (Files):
//
//	grafana/gatelab-fleet.json            fleet overview dashboard
//	grafana/gatelab-limiter.json          rate-limiter dashboard
//	grafana/provisioning/datasources.yaml Grafana file provisioning: the Prometheus data source
//	grafana/provisioning/dashboards.yaml  Grafana file provisioning: the dashboards
//	prometheus/prometheus.yml             scrape config (job "gatelab", admin /metrics)
//	prometheus/alerts.yml                 recording and alert rules
//	prometheus/alerts_test.yml            promtool unit tests of the alert rules
//
// The dashboards are Grafana dashboard JSON models (schema version 39) whose
// panels and query variables take their Prometheus data source from the
// ${datasource} variable; Validate states what a dashboard must satisfy.
//
// # Queries and rules
//
// Queries lists every panel target of every dashboard (dashboard, panel
// title, expression, legend) and Variables every query variable; Rules lists
// every recording and alert rule of alerts.yml. Expressions are returned as
// written, with Grafana's variables in them; Substitute (with
// DefaultValues) is the one place that replaces them with concrete values
// ($__rate_interval by 1m, multi-value variables by the ".*" their "All"
// option stands for) so that Prometheus itself can run them.
//
// Alert expressions follow one convention: one or more comparisons with a
// threshold, joined by and, or or unless. Rule.Measured returns the
// operands that are not plain numbers, i.e. what the alert watches; a
// healthy system legitimately makes the whole alert expression empty, but
// never its measured part. The tests run every measured part, every
// recording rule and every panel query against a real Prometheus scraping
// real gateway nodes and require series.
//
// # Prometheus
//
// RenderPrometheusConfig writes prometheus.yml for given scrape targets
// (admin host:port of each gateway node), intervals and rule file, keeping
// the rest of the checked-in file; WriteDir writes a runnable directory
// (config, rules, the dashboards and provisioning files with the data source
// URL filled in) and PrometheusArgs is Prometheus's command line for it.
// `gatelab dashboards` runs Prometheus that way in the foreground. Grafana is
// not packaged or started here.
//
// Everything in this package is read-only after init and safe for
// concurrent use; the functions parse the embedded files on each call (they
// are small and called rarely). It never contacts anything: starting and
// querying Prometheus is the caller's business.
package dashboards
