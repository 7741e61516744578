package bench

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/harness/scenario"
)

// benchLimit per benchWindow is far above anything one machine can send:
// the "bench" tier runs the limiter on every request and never rejects.
const (
	benchLimit  = 1_000_000_000
	benchWindow = 60 * time.Second
)

// AdminToken is the fixture's TEST-ONLY admin token (fixtures/gateway.yaml);
// the lab uses it for config changes under load.
const AdminToken = "gatelab-dev-admin-token"

// gatelabConfig renders the gatelab config of one scenario: the fixture's
// auth section (absolute paths), its tiers plus the scenario's and the bench
// tier, one backend per upstream, the scenario's routes, and extra routes
// (config churn adds and removes some).
//
// fileRef maps a fixture file (as the fixture config names it) to the path
// the gateway reads it from: absolute on the host, or under the config
// mount of a container; nil means the host path.
func gatelabConfig(fx *config.Config, s *scenario.Scenario, upstreams map[string][]string, accessLog string, extra []string, version int64, fileRef func(string) string) string {
	if fileRef == nil {
		fileRef = fx.Resolve
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# gatelab config rendered by gatelab bench for scenario %s.", s.Name)
	w("# The auth section and tiers come from fixtures/gateway.yaml; the rest from the scenario.")
	if version > 0 {
		w("version: %d", version)
	}
	w("listen: {traffic: 127.0.0.1:0, admin: 127.0.0.1:0}")
	w("gateway: {instance: %s}", yq("bench-"+s.Name))
	if accessLog == "" {
		w("access_log: {output: \"off\"}")
	} else {
		w("access_log: {output: %s, success_sample: 1}", yq(accessLog))
	}
	j := fx.Auth.JWT
	w("auth:")
	w("  jwt:")
	if j.JWKSFile != "" {
		w("    jwks_file: %s", yq(fileRef(j.JWKSFile)))
	}
	w("    issuers: %s", yqList(j.Issuers))
	w("    audiences: %s", yqList(j.Audiences))
	if len(j.Algorithms) > 0 {
		w("    algorithms: %s", yqList(j.Algorithms))
	}
	w("    cache: {enabled: true}")
	if fx.Auth.APIKeysFile != "" {
		w("  api_keys_file: %s", yq(fileRef(fx.Auth.APIKeysFile)))
	}
	w("rate_limits:")
	w("  tiers:")
	seen := map[string]bool{}
	for _, t := range s.Tiers {
		seen[t.Name] = true
		w("    - %s", tierYAML(configTier(t)))
	}
	for _, t := range fx.RateLimit.Tiers {
		if !seen[t.Name] && t.Name != scenario.BenchTier {
			w("    - %s", tierYAML(t))
		}
	}
	w("    - %s", tierYAML(config.Tier{Name: scenario.BenchTier, Limit: benchLimit, Window: benchWindow, Key: policy.KeyUserID}))
	if len(s.Upstreams) == 0 {
		w("backends: []")
	} else {
		w("backends:")
	}
	fast := map[string]bool{}
	for _, r := range s.Routes {
		if r.Breaker {
			fast[r.Upstream] = true
		}
	}
	for _, u := range s.Upstreams {
		var inst []string
		for _, url := range upstreams[u.Name] {
			inst = append(inst, "{url: "+yq(url)+"}")
		}
		line := fmt.Sprintf("  - {name: %s, instances: [%s], health_check: {path: /healthz, interval: 1s, timeout: 500ms}",
			yq(u.Name), strings.Join(inst, ", "))
		if fast[u.Name] {
			// Seconds instead of the chapter's tens of seconds, so a
			// scenario of a few seconds sees the whole cycle. The flap
			// hold-down especially: an instance ejected three times in a
			// minute (as a slow backend is) would otherwise stay out for
			// 30 s after it recovered.
			line = strings.Replace(line, "timeout: 500ms}", "timeout: 500ms, eject_for: 2s, flap_holddown: 3s}", 1)
			line += ", circuit_breaker: {window: 5s, min_requests: 10, failure_ratio: 0.5, open_for: 2s, probe_successes: 2, ramp_steps: [50, 100], ramp_step: 1s}"
		}
		w("%s}", line)
	}
	w("routes:")
	for _, r := range s.Routes {
		for i, prefix := range r.Instances() {
			id := r.ID
			if r.Copies > 0 {
				id = fmt.Sprintf("%s-%d", r.ID, i)
			}
			w("%s", gatelabRoute(r, id, prefix))
		}
	}
	for _, e := range extra {
		w("  - %s", e)
	}
	w("admin:")
	w("  tokens:")
	for _, t := range fx.Admin.Tokens {
		w("    - {id: %s, sha256: %s}", yq(t.ID), yq(t.SHA256))
	}
	w("  audit_log: \"off\"")
	return b.String()
}

// gatelabRoute is one route line of the rendered config.
func gatelabRoute(r scenario.Route, id, prefix string) string {
	line := fmt.Sprintf("  - {id: %s, pattern: %s, backend: %s, auth: %s", yq(id), yq(prefix+"*"), yq(r.Upstream), orDefault(r.Auth, "jwt"))
	if r.StripPrefix != "" {
		line += ", strip_prefix: " + yq(r.StripPrefix)
	}
	if r.Tier != "" {
		line += ", rate_limit_tier: " + yq(r.Tier)
	}
	if r.FailMode != "" {
		line += ", rate_limit_fail_mode: " + r.FailMode
	}
	if r.DeadlineMS > 0 {
		line += fmt.Sprintf(", rate_limit_deadline_ms: %d", r.DeadlineMS)
	}
	if r.TimeoutMS > 0 {
		line += fmt.Sprintf(", timeout_ms: %d", r.TimeoutMS)
	}
	if r.Priority != "" {
		line += ", priority: " + r.Priority
	}
	return line + "}"
}

// peerRoutes maps the scenario's routes onto a peer's route table.
func peerRoutes(s *scenario.Scenario, upstreams map[string][]string) []peers.Route {
	var out []peers.Route
	for _, r := range s.Routes {
		var addrs []string
		for _, u := range upstreams[r.Upstream] {
			addrs = append(addrs, strings.TrimPrefix(u, "http://"))
		}
		for i, prefix := range r.Instances() {
			id := r.ID
			if r.Copies > 0 {
				id = fmt.Sprintf("%s-%d", r.ID, i)
			}
			// gatelab's "/x/*" also matches /x itself: the peers route the
			// bare base path too, so a request for it gets the same answer.
			base := prefix != "/" && strings.HasSuffix(prefix, "/")
			out = append(out, peers.Route{ID: id, Prefix: prefix, Base: base, StripPrefix: r.StripPrefix, Upstreams: addrs, TimeoutMS: r.TimeoutMS})
		}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// yq renders a string as a YAML scalar (a JSON string is valid YAML).
func yq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func yqList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = yq(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func tierYAML(t config.Tier) string {
	return fmt.Sprintf("{name: %s, limit: %d, window: %s, key: %s, algorithm: %s}", yq(t.Name), t.Limit, t.Window, t.Key, t.Algorithm)
}

// configTier is a scenario's tier as the gateway config's. The scenario
// spells key and algorithm in policy's words, checked by scenario.Parse;
// left out, the key is user_id and the algorithm sliding_window (the zero
// value).
func configTier(t scenario.Tier) config.Tier {
	key, ok := policy.ParseLimitKeyKind(t.Key)
	if !ok {
		key = policy.KeyUserID
	}
	algorithm, _ := policy.ParseLimitAlgorithm(t.Algorithm)
	return config.Tier{Name: t.Name, Limit: t.Limit, Window: t.Window, Key: key, Algorithm: algorithm}
}
