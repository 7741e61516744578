package scenario

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/internal/yamlpos"
	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a scenario file: the gateway config's
// problem type, so both print alike ("file:line: path: message").
type Problem = config.Problem

// Problems is every problem of a file; it is the error Parse returns.
type Problems = config.Problems

// LoadFile reads and parses a scenario file.
func LoadFile(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return Parse(b, path)
}

// LoadFS reads and parses a scenario from a file system (the embedded set).
func LoadFS(fsys fs.FS, name string) (*Scenario, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading scenario: %w", err)
	}
	return Parse(b, name)
}

// Parse decodes a scenario strictly (unknown fields are errors) and
// validates it. The error is Problems listing every problem with its line.
func Parse(data []byte, file string) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{File: file, Line: yamlpos.Line(err), Msg: "invalid YAML: " + yamlpos.Message(err)}}
	}
	idx := map[string]int{}
	if len(root.Content) > 0 {
		yamlpos.Index(root.Content[0], "", idx)
	}
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var ps Problems
			for _, e := range te.Errors {
				ps = append(ps, Problem{File: file, Line: yamlpos.Line(errors.New(e)), Msg: yamlpos.Message(errors.New(e))})
			}
			return nil, ps
		}
		return nil, Problems{{File: file, Line: yamlpos.Line(err), Msg: yamlpos.Message(err)}}
	}
	sum := sha256.Sum256(data)
	s.File, s.SHA256 = file, hex.EncodeToString(sum[:])
	for i := range s.Budgets {
		s.Budgets[i].Line = idx[fmt.Sprintf("budgets[%d]", i)]
	}
	v := validator{file: file, idx: idx}
	v.scenario(&s)
	if len(v.probs) > 0 {
		sort.SliceStable(v.probs, func(i, j int) bool { return v.probs[i].Line < v.probs[j].Line })
		return nil, v.probs
	}
	return &s, nil
}

// UnmarshalYAML accepts a budget as a plain expression string or as a
// mapping {expr, abort, profiles}.
func (b *Budget) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Expr = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a budget is an expression or a mapping {expr, abort, profiles}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "expr":
			err = val.Decode(&b.Expr)
		case "abort":
			err = val.Decode(&b.Abort)
		case "profiles":
			err = val.Decode(&b.Profiles)
		default:
			return fmt.Errorf("line %d: field %s not found in budget (known: expr, abort, profiles)", k.Line, k.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validator collects problems with their lines.
type validator struct {
	file  string
	idx   map[string]int
	probs Problems
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{File: v.file, Line: yamlpos.LineOf(v.idx, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func (v *validator) scenario(s *Scenario) {
	if !nameRE.MatchString(s.Name) {
		v.add("name", "name %q: want lower-case letters, digits, '-', '_' or '.'", s.Name)
	}
	if s.Targets.Nodes < 0 || s.Targets.Nodes > 8 {
		v.add("targets.nodes", "nodes %d: want 1..8", s.Targets.Nodes)
	}
	switch s.Targets.ConfigSource {
	case "", "file":
	case "etcd":
		if s.Targets.Containers {
			v.add("targets.config_source", "etcd is on the host's loopback: not with targets.containers")
		}
	default:
		v.add("targets.config_source", "config_source %q: want file or etcd", s.Targets.ConfigSource)
	}
	if s.Targets.AccessLogTwins && s.Targets.WantAccessLog() {
		v.add("targets.access_log_twins", "access_log_twins needs access_log: false (the twins are the targets with the log on)")
	}
	if s.Targets.Containers && len(s.Targets.Peers) > 0 {
		v.add("targets.peers", "peers do not run in containers")
	}
	for i, p := range s.Targets.Peers {
		if p != "nginx" && p != "haproxy" {
			v.add(fmt.Sprintf("targets.peers[%d]", i), "unknown peer %q (known: nginx, haproxy)", p)
		}
	}
	ups := map[string]bool{}
	nginxUps := map[string]bool{} // mode nginx: no gatelab upstream behaviour to change
	for i, u := range s.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		if !nameRE.MatchString(u.Name) {
			v.add(p+".name", "name %q: want lower-case letters, digits, '-', '_' or '.'", u.Name)
		}
		if ups[u.Name] {
			v.add(p+".name", "duplicate upstream %q", u.Name)
		}
		ups[u.Name] = true
		if u.Mode != "" && !contains(UpstreamModes, u.Mode) {
			v.add(p+".mode", "mode %q: want %s", u.Mode, strings.Join(UpstreamModes, ", "))
		}
		if u.Mode == UpstreamNginx {
			for _, f := range []struct {
				key string
				set bool
			}{{"delay", u.Delay != ""}, {"error_rate", u.ErrorRate != 0}, {"error_status", u.ErrorStatus != 0}} {
				if f.set {
					v.add(p+"."+f.key, "%s needs a gatelab upstream (mode static or echo); mode nginx answers every request 200 itself", f.key)
				}
			}
		}
		if u.MaxConnRequests < 0 {
			v.add(p+".max_conn_requests", "max_conn_requests %d is negative", u.MaxConnRequests)
		}
		if u.IdleTimeout < 0 || (u.Mode == UpstreamNginx && u.IdleTimeout%time.Millisecond != 0) {
			v.add(p+".idle_timeout", "idle_timeout %v: want a positive duration (whole milliseconds for nginx)", u.IdleTimeout)
		}
		nginxUps[u.Name] = u.Mode == UpstreamNginx
		if u.ErrorRate < 0 || u.ErrorRate > 1 {
			v.add(p+".error_rate", "error_rate %g: want 0..1", u.ErrorRate)
		}
		if u.ErrorStatus != 0 && (u.ErrorStatus < 100 || u.ErrorStatus > 599) {
			v.add(p+".error_status", "error_status %d: want 100..599", u.ErrorStatus)
		}
		if u.Delay != "" && !delayRE.MatchString(u.Delay) {
			v.add(p+".delay", "delay %q: want fixed:D, uniform:D-D, normal:D,D or lognormal:D,F", u.Delay)
		}
		if u.Instances < 0 || u.Instances > 8 {
			v.add(p+".instances", "instances %d: want 1..8", u.Instances)
		}
	}
	allSelf := len(s.Routes) > 0
	for _, r := range s.Routes {
		allSelf = allSelf && r.Upstream == SelfUpstream
	}
	if len(s.Upstreams) == 0 && !allSelf {
		v.add("upstreams", "at least one upstream is needed")
	}
	if ups[SelfUpstream] {
		v.add("upstreams", "no upstream may be called %q (the gateway's own answer)", SelfUpstream)
	}
	tiers := map[string]bool{BenchTier: true}
	for i, t := range s.Tiers {
		p := fmt.Sprintf("tiers[%d]", i)
		if !nameRE.MatchString(t.Name) || t.Name == BenchTier {
			v.add(p+".name", "tier name %q is invalid or reserved", t.Name)
		}
		tiers[t.Name] = true
		if t.Limit <= 0 {
			v.add(p+".limit", "limit must be positive")
		}
		if t.Window <= 0 {
			v.add(p+".window", "window must be positive")
		}
		if _, ok := policy.ParseLimitKeyKind(t.Key); t.Key != "" && !ok {
			v.add(p+".key", "key %q: %s", t.Key, policy.LimitKeyKinds())
		}
		if _, ok := policy.ParseLimitAlgorithm(t.Algorithm); t.Algorithm != "" && !ok {
			v.add(p+".algorithm", "algorithm %q: %s", t.Algorithm, policy.LimitAlgorithms())
		}
	}
	routes := map[string]bool{}
	for i, r := range s.Routes {
		p := fmt.Sprintf("routes[%d]", i)
		if !nameRE.MatchString(r.ID) {
			v.add(p+".id", "id %q: want lower-case letters, digits, '-', '_' or '.'", r.ID)
		}
		if routes[r.ID] {
			v.add(p+".id", "duplicate route %q", r.ID)
		}
		routes[r.ID] = true
		if !strings.HasPrefix(r.Prefix, "/") || !strings.HasSuffix(r.Prefix, "/") {
			v.add(p+".prefix", "prefix %q must start and end with /", r.Prefix)
		}
		if r.StripPrefix != "" && !strings.HasPrefix(r.Prefix, r.StripPrefix) {
			v.add(p+".strip_prefix", "strip_prefix %q is not a prefix of %q", r.StripPrefix, r.Prefix)
		}
		if !ups[r.Upstream] && r.Upstream != SelfUpstream {
			v.add(p+".upstream", "unknown upstream %q", r.Upstream)
		}
		if r.Upstream == SelfUpstream && s.Targets.WantDirect() {
			v.add(p+".upstream", "a route answered by the gateway itself has no direct baseline: set targets.direct: false")
		}
		if r.Upstream == SelfUpstream && len(s.Targets.Peers) > 0 {
			v.add(p+".upstream", "peers cannot answer a route themselves: give it an upstream")
		}
		if s.Targets.Containers && r.Upstream != SelfUpstream {
			v.add(p+".upstream", "gateway nodes in containers cannot reach the host's upstreams: use upstream: self")
		}
		// The load sends bearer tokens or nothing: no API keys.
		if a, _ := policy.ParseAuth(r.Auth); r.Auth != "" && a != policy.AuthJWT && a != policy.AuthNone {
			v.add(p+".auth", "auth %q: want %s or %s", r.Auth, policy.AuthJWT, policy.AuthNone)
		}
		if r.Tier != "" && !tiers[r.Tier] {
			v.add(p+".tier", "unknown tier %q", r.Tier)
		}
		if _, ok := policy.ParseFailMode(r.FailMode); r.FailMode != "" && !ok {
			v.add(p+".fail_mode", "fail_mode %q: %s", r.FailMode, policy.FailModes())
		}
		if _, ok := policy.ParsePriority(r.Priority); r.Priority != "" && !ok {
			v.add(p+".priority", "priority %q: %s", r.Priority, policy.Priorities())
		}
		m, path, ok := strings.Cut(r.Request, " ")
		if !ok || m == "" || !strings.HasPrefix(path, r.Prefix) {
			v.add(p+".request", "request %q: want \"METHOD PATH\" with PATH under the prefix %s", r.Request, r.Prefix)
		}
		if r.Copies < 0 || r.Copies > 20000 {
			v.add(p+".copies", "copies %d: want 0..20000", r.Copies)
		}
		if r.Weight < 0 || r.Users < 0 || r.Users > 100000 {
			v.add(p, "weight and users must be non-negative (users at most 100000)")
		}
	}
	if len(s.Routes) == 0 {
		v.add("routes", "at least one route is needed")
	}
	v.load(s)
	names := map[string]bool{}
	total := s.Load.TotalDuration()
	for i, ph := range s.Phases {
		p := fmt.Sprintf("phases[%d]", i)
		if !nameRE.MatchString(ph.Name) || names[ph.Name] {
			v.add(p+".name", "phase name %q is invalid or used twice", ph.Name)
		}
		names[ph.Name] = true
		v.window(p, ph.At, ph.For, total)
	}
	for i, f := range s.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		if !contains(FaultKinds, f.Kind) {
			v.add(p+".kind", "unknown fault kind %q (known: %s)", f.Kind, strings.Join(FaultKinds, ", "))
		}
		n := f.PhaseName()
		if !nameRE.MatchString(n) || names[n] {
			v.add(p+".name", "phase name %q is invalid or used twice (give the fault a name)", n)
		}
		names[n] = true
		v.window(p, f.At, f.For, total)
		if strings.HasPrefix(f.Kind, "upstream.") && !ups[f.Upstream] {
			v.add(p+".upstream", "unknown upstream %q", f.Upstream)
		}
		switch f.Kind {
		case FaultUpstreamDelay, FaultUpstreamError, FaultUpstreamStall:
			if nginxUps[f.Upstream] {
				v.add(p+".kind", "%s changes a gatelab upstream's behaviour: upstream %q is mode nginx (use mode static or echo, or upstream.kill, .freeze or a proxy fault)", f.Kind, f.Upstream)
			}
		}
		switch f.Kind {
		case FaultUpstreamLatency, FaultUpstreamReset, FaultUpstreamCut, FaultUpstreamBandwidth:
			for _, u := range s.Upstreams {
				if u.Name == f.Upstream && !u.Proxy {
					v.add(p+".kind", "%s needs the upstream behind a proxy (upstreams: proxy: true)", f.Kind)
				}
			}
			if f.Kind == FaultUpstreamLatency && f.Latency <= 0 {
				v.add(p+".latency", "upstream.latency needs a positive latency")
			}
			if f.Kind == FaultUpstreamBandwidth && f.KBps <= 0 {
				v.add(p+".kbps", "upstream.bandwidth needs a positive kbps")
			}
		case FaultEtcdLatency, FaultEtcdDown:
			if s.Targets.ConfigSource != "etcd" {
				v.add(p+".kind", "%s needs targets.config_source: etcd", f.Kind)
			}
			if f.Kind == FaultEtcdLatency && f.Latency <= 0 {
				v.add(p+".latency", "etcd.latency needs a positive latency")
			}
		case FaultRedisLatency:
			if f.Latency <= 0 {
				v.add(p+".latency", "redis.latency needs a positive latency")
			}
		case FaultUpstreamDelay:
			if !delayRE.MatchString(f.Delay) {
				v.add(p+".delay", "delay %q: want fixed:D, uniform:D-D, normal:D,D or lognormal:D,F", f.Delay)
			}
		case FaultUpstreamError:
			if f.ErrorRate <= 0 || f.ErrorRate > 1 {
				v.add(p+".error_rate", "upstream.error needs error_rate in (0, 1]")
			}
		case FaultGatewayPartition:
			if !s.Targets.Containers || f.Node < 0 || f.Node >= max(s.Targets.Nodes, 1) || s.Targets.Nodes < 2 {
				v.add(p+".node", "gateway.partition needs targets.containers, at least 2 nodes and node within them")
			}
		case FaultGatewayFreeze:
			if f.Node < 0 || f.Node >= max(s.Targets.Nodes, 1) {
				v.add(p+".node", "node %d: the scenario has %d gateway nodes", f.Node, max(s.Targets.Nodes, 1))
			}
		case FaultConfigChurn:
			if f.Every < 10*time.Millisecond {
				v.add(p+".every", "config.churn needs every >= 10ms")
			}
		}
	}
	for i := range s.Budgets {
		b := &s.Budgets[i]
		p := fmt.Sprintf("budgets[%d]", i)
		e, err := budget.Parse(b.Expr)
		if err != nil {
			v.add(p, "%v", err)
			continue
		}
		e.Line = b.Line
		b.Parsed = e
		if ph, ok := e.Tag("phase"); ok && !names[ph] && !strings.HasSuffix(ph, "*") {
			v.add(p, "budget %q names phase %q, which is neither a phase nor a fault of this scenario", b.Expr, ph)
		}
		if e.Metric == "admitted.ratio" && s.Load.Warmup > 0 {
			v.add(p, "budget %q needs load.warmup: 0s (the limiter counts the warm-up's requests, which the lab drops)", b.Expr)
		}
		if r, ok := e.Tag("route"); ok && !routes[r] && !strings.HasSuffix(r, "*") {
			v.add(p, "budget %q names route %q, which this scenario does not have", b.Expr, r)
		}
		for _, pr := range b.Profiles {
			if !contains(ProfileNames, pr) {
				v.add(p+".profiles", "unknown profile %q (known: %s)", pr, strings.Join(ProfileNames, ", "))
			}
		}
	}
	if k := s.Knee; k != nil {
		e, err := budget.Parse(k.Bound)
		if err != nil {
			v.add("knee.bound", "%v", err)
		}
		k.Parsed = e
		if k.From <= 0 || k.To <= k.From {
			v.add("knee", "want 0 < from < to")
		}
		if k.Steps < 1 || k.Steps > 20 {
			v.add("knee.steps", "steps %d: want 1..20", k.Steps)
		}
		if k.Trial < time.Second {
			v.add("knee.trial", "trial must be at least 1s")
		}
		if s.Load.Mode == ModeClosed {
			v.add("knee", "a knee search needs the open model")
		}
	}
}

func (v *validator) load(s *Scenario) {
	l := s.Load
	switch l.Mode {
	case "", ModeOpen:
		if len(l.Stages) == 0 && s.Knee == nil {
			v.add("load.stages", "the open model needs at least one stage")
		}
		for i, st := range l.Stages {
			p := fmt.Sprintf("load.stages[%d]", i)
			if st.Duration <= 0 {
				v.add(p+".duration", "duration must be positive")
			}
			if st.Rate < 0 || st.To < 0 || st.Rate > 1e6 || st.To > 1e6 {
				v.add(p+".rate", "rates must be within 0..1000000 req/s")
			}
			if st.Rate == 0 && st.To == 0 {
				v.add(p+".rate", "a stage needs a rate")
			}
		}
		if l.Warmup >= l.TotalDuration() && len(l.Stages) > 0 {
			v.add("load.warmup", "warm-up %v leaves nothing to measure (load lasts %v)", l.Warmup, l.TotalDuration())
		}
		if l.Workers != 0 || l.Duration != 0 {
			v.add("load", "workers and duration belong to the closed model (mode: closed)")
		}
	case ModeClosed:
		if l.Workers < 1 || l.Workers > 4096 {
			v.add("load.workers", "workers %d: want 1..4096", l.Workers)
		}
		if l.Duration <= 0 {
			v.add("load.duration", "the closed model needs a duration")
		}
		if len(l.Stages) > 0 {
			v.add("load.stages", "stages belong to the open model")
		}
		if len(s.Faults) > 0 {
			v.add("faults", "faults need the open model (a closed loop hides them)")
		}
	default:
		v.add("load.mode", "mode %q: want open or closed", l.Mode)
	}
	if l.TotalDuration() > 30*time.Minute {
		v.add("load", "the load lasts %v; at most 30m", l.TotalDuration())
	}
	if l.Warmup < 0 {
		v.add("load.warmup", "warm-up must not be negative")
	}
}

func (v *validator) window(p string, at, dur, total time.Duration) {
	if at.Seconds() < 0 || dur.Seconds() <= 0 {
		v.add(p, "a window needs at >= 0 and a positive for")
		return
	}
	if at.Seconds()+dur.Seconds() > total.Seconds()+1e-9 {
		v.add(p, "the window ends at %.3gs, after the load (%.3gs)", at.Seconds()+dur.Seconds(), total.Seconds())
	}
}

var delayRE = regexp.MustCompile(`^(fixed:[0-9.]+(ns|us|µs|ms|s)|uniform:[0-9.]+(ns|us|µs|ms|s)-[0-9.]+(ns|us|µs|ms|s)|normal:[0-9.]+(ns|us|µs|ms|s),[0-9.]+(ns|us|µs|ms|s)|lognormal:[0-9.]+(ns|us|µs|ms|s),[0-9.]+)$`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// BenchTier is the built-in tier that never rejects: the limiter runs on
// every request without changing the outcome.
const BenchTier = "bench"

// ProfileNames are the profiles a budget may be limited to.
var ProfileNames = []string{"quick", "full", "ci"}
