package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Schema names this version of the results.json format. A reader refuses
// any other value; a change that removes or renames a field bumps it.
const Schema = "gatelab.results/v1"

// Verdicts of a run, a record and a budget.
const (
	Pass    = "PASS"
	Fail    = "FAIL"
	Invalid = "INVALID"
	NoData  = "NODATA"
	Skip    = "SKIP"
)

// Results is the whole results.json: the only contract between the lab and
// the renderers.
type Results struct {
	Schema    string           `json:"schema"`
	RunID     string           `json:"run_id"`
	Profile   string           `json:"profile"`
	Manifest  Manifest         `json:"manifest"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Verdict is PASS (every budget passed), FAIL (a budget failed) or
	// INVALID (a run was invalid or the input bad); ExitCode 0, 1, 2.
	Verdict  string   `json:"verdict"`
	ExitCode int      `json:"exit_code"`
	Notes    []string `json:"notes,omitempty"`
}

// Manifest says where and how the run was made.
type Manifest struct {
	GitSHA     string            `json:"git_sha"`
	GitDirty   bool              `json:"git_dirty"`
	GoVersion  string            `json:"go_version"`
	CPUModel   string            `json:"cpu_model"`
	Cores      int               `json:"cores"`
	Kernel     string            `json:"kernel"`
	Hostname   string            `json:"hostname"`
	Start      time.Time         `json:"start"`
	End        time.Time         `json:"end"`
	LoadBefore [3]float64        `json:"host_load_before"`
	LoadAfter  [3]float64        `json:"host_load_after"`
	Args       []string          `json:"args"`
	GatelabBin string            `json:"gatelab_bin"`
	Deps       map[string]string `json:"dependencies"`    // name -> version as actually run ("" = not run)
	Scenarios  map[string]string `json:"scenario_sha256"` // file -> SHA-256
	Configs    map[string]string `json:"config_sha256"`   // rendered config file -> SHA-256
	Reps       int               `json:"repetitions"`
}

// ScenarioResult is one scenario's plan, records and verdicts.
type ScenarioResult struct {
	Name        string   `json:"name"`
	File        string   `json:"file"`
	Description string   `json:"description,omitempty"`
	Load        LoadPlan `json:"load"`
	Windows     []Window `json:"windows,omitempty"`
	Targets     []Target `json:"targets"`
	// Upstreams says what answered each of the scenario's upstreams: the
	// direct row and every target's latency stand on it.
	Upstreams []UpstreamServer `json:"upstreams,omitempty"`
	Records   []Record         `json:"records"`
	Summary   []Summary        `json:"summary"`
	Budgets   []Budget         `json:"budgets"`
	Knee      []KneeResult     `json:"knee,omitempty"`
	Parity    []ParityResult   `json:"parity,omitempty"`
	Notes     []string         `json:"notes,omitempty"`
	// Error says why the scenario could not run (the run is then INVALID).
	Error string `json:"error,omitempty"`
}

// LoadPlan is the scenario's load as planned.
type LoadPlan struct {
	Mode     string  `json:"mode"`
	WarmupS  float64 `json:"warmup_s"`
	Stages   []Stage `json:"stages,omitempty"`
	Workers  int     `json:"workers,omitempty"`
	Duration float64 `json:"duration_s,omitempty"`
}

// Stage is one open-model stage.
type Stage struct {
	DurationS float64 `json:"duration_s"`
	Rate      float64 `json:"rate"`
	To        float64 `json:"to,omitempty"`
}

// Window is a named phase of the run, in seconds from the load's start.
type Window struct {
	Name  string  `json:"name"`
	Kind  string  `json:"kind,omitempty"` // fault kind, "" for a plain phase
	FromS float64 `json:"from_s"`
	ToS   float64 `json:"to_s"`
}

// Target is one thing measured: the direct baseline, a gatelab engine
// combination or a peer gateway.
type Target struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // direct | gatelab | peer
	Server  string `json:"server,omitempty"`
	Router  string `json:"router,omitempty"`
	Limiter string `json:"limiter,omitempty"`
	// AccessLog: this gatelab target logs every request (an access-log
	// twin, or every target of a scenario with access_log on).
	AccessLog bool   `json:"access_log,omitempty"`
	Version   string `json:"version,omitempty"`
	// Skipped says why the target was not run ("" when it ran).
	Skipped string `json:"skipped,omitempty"`
	// Config is the rendered config file kept in the run directory.
	Config string `json:"config,omitempty"`
}

// UpstreamServer is the server behind one of a scenario's upstreams.
type UpstreamServer struct {
	Name string `json:"name"`
	// Server is "nginx" (a real nginx answering every request itself) or
	// "gatelab upstream" (the lab's Go upstream; Mode static or echo).
	Server  string `json:"server"`
	Mode    string `json:"mode"`              // static | echo
	Version string `json:"version,omitempty"` // nginx's
	// Fallback: the scenario asked for nginx, which was not installed, so
	// the Go static upstream answered (a slower upstream).
	Fallback  bool `json:"fallback,omitempty"`
	Instances int  `json:"instances"`
	// Keep-alive limits the server applies: a connection is closed after
	// this many requests, or when idle this long (0: never / the server's
	// default).
	MaxConnRequests int     `json:"max_conn_requests,omitempty"`
	IdleTimeoutS    float64 `json:"idle_timeout_s,omitempty"`
	// Proxied: the gateways reach it through toxiproxy (network faults).
	Proxied bool `json:"proxied,omitempty"`
}

// Quantiles are latencies in microseconds.
type Quantiles struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	P9999 float64 `json:"p99_99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// Record is one scenario x target x repetition.
type Record struct {
	Target   string    `json:"target"`
	Rep      int       `json:"rep"`
	Started  time.Time `json:"started"`
	Offered  float64   `json:"offered_rps"`
	Achieved float64   `json:"achieved_rps"`
	Requests int64     `json:"requests"`
	WindowS  float64   `json:"window_s"`
	Valid    bool      `json:"valid"`
	Invalid  string    `json:"invalid,omitempty"`
	// Superseded marks an invalid attempt that was run again: the next
	// record of the same target and repetition replaces it. It stays in
	// the results so a flaky host is visible.
	Superseded bool `json:"superseded,omitempty"`
	// KneeProbe marks a trial of a knee search: an invalid one means the
	// target could not take that rate, which is the search's answer, not a
	// broken run.
	KneeProbe bool `json:"knee_probe,omitempty"`
	// GeneratorBound marks a closed-loop target within 80 % of the
	// generator's ceiling (the direct run against the static upstream).
	GeneratorBound bool `json:"generator_bound,omitempty"`

	Latency     Quantiles        `json:"latency_us"`             // from the intended send time
	Uncorrected Quantiles        `json:"uncorrected_latency_us"` // from the actual send time
	Overhead    *Quantiles       `json:"overhead_us,omitempty"`  // minus the direct run of the same repetition
	SendLag     Quantiles        `json:"send_lag_us"`
	Status      map[string]int64 `json:"status"`
	Errors      map[string]int64 `json:"errors,omitempty"`
	// Slices are per route and phase ("" = all); each keeps its HDR
	// histogram (corrected, microseconds, V2 compressed base64).
	Slices    []Slice   `json:"slices"`
	Series    []Point   `json:"series"`
	Resources Resources `json:"resources"`
	// Limiter is the limiter's decision latency per phase ("" = whole
	// window), from the gateway's gatelab_ratelimit_decision_seconds.
	Limiter map[string]Quantiles `json:"limiter_decision_us,omitempty"`
	// Rejections are the gateway's own error answers per phase ("" = the
	// measured window), keyed by the metric's labels (route="...",
	// reason="..."), from gatelab_rejections_total: why a 503 was a 503.
	Rejections map[string]map[string]int64 `json:"rejections,omitempty"`
	// Propagation is config change accepted -> serving, per change.
	Propagation *Quantiles `json:"propagation_us,omitempty"`
	Changes     int        `json:"config_changes,omitempty"`
	// Admitted per limited route: responses that passed the limiter vs
	// what the limit allows over the window.
	Admitted []Admitted   `json:"admitted,omitempty"`
	Faults   []FaultEvent `json:"faults,omitempty"`
}

// Slice is one route x phase of a record.
type Slice struct {
	Route       string           `json:"route"`
	Phase       string           `json:"phase"`
	Requests    int64            `json:"requests"`
	Status      map[string]int64 `json:"status"`
	Latency     Quantiles        `json:"latency_us"`
	Uncorrected Quantiles        `json:"uncorrected_latency_us"`
	Histogram   string           `json:"hdr,omitempty"`
}

// Point is one second of a record.
type Point struct {
	T        int            `json:"t"`
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Errors   int            `json:"errors"`
	Codes    map[string]int `json:"codes,omitempty"`
	P50      float64        `json:"p50_us"`
	P99      float64        `json:"p99_us"`
}

// Resources is what the target processes used in the measured window.
type Resources struct {
	CPUSeconds          float64 `json:"cpu_s"`
	CPUPer1kMS          float64 `json:"cpu_per_1k_ms"`
	PeakRSSBytes        int64   `json:"peak_rss_bytes"`
	GeneratorCPUSeconds float64 `json:"generator_cpu_s"`
	UpstreamCPUSeconds  float64 `json:"upstream_cpu_s"`
}

// Admitted is one limited route's count.
type Admitted struct {
	Route    string  `json:"route"`
	Tier     string  `json:"tier"`
	Admitted int64   `json:"admitted"`
	Allowed  float64 `json:"allowed"`
	Ratio    float64 `json:"ratio"`
}

// FaultEvent is one fault as applied, in seconds from the load's start.
type FaultEvent struct {
	Name   string  `json:"name"`
	Kind   string  `json:"kind"`
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	Error  string  `json:"error,omitempty"`
}

// Summary is one target's median and spread over the repetitions.
type Summary struct {
	Target         string  `json:"target"`
	Reps           int     `json:"reps"`
	Valid          int     `json:"valid_reps"`
	RPS            Spread  `json:"achieved_rps"`
	P50            Spread  `json:"latency_p50_us"`
	P99            Spread  `json:"latency_p99_us"`
	P999           Spread  `json:"latency_p99_9_us"`
	OverP50        *Spread `json:"overhead_p50_us,omitempty"`
	OverP99        *Spread `json:"overhead_p99_us,omitempty"`
	OverP999       *Spread `json:"overhead_p99_9_us,omitempty"`
	CPUPer1k       Spread  `json:"cpu_per_1k_ms"`
	PeakRSS        Spread  `json:"peak_rss_bytes"`
	ErrorRate      Spread  `json:"error_ratio"`
	Rank           int     `json:"rank,omitempty"`
	GeneratorBound bool    `json:"generator_bound,omitempty"`
}

// Spread is a median with its min and max.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Budget is one budget's verdict for one target.
type Budget struct {
	Expr     string    `json:"expr"`
	Line     int       `json:"line,omitempty"`
	Target   string    `json:"target"`
	Observed *float64  `json:"observed,omitempty"` // median over valid repetitions, base unit
	Text     string    `json:"observed_text"`
	PerRep   []float64 `json:"per_rep,omitempty"`
	Verdict  string    `json:"verdict"`
	Detail   string    `json:"detail,omitempty"`
	Abort    bool      `json:"abort,omitempty"`
}

// KneeResult is one target's knee search.
type KneeResult struct {
	Target string      `json:"target"`
	Bound  string      `json:"bound"`
	Knee   float64     `json:"knee_rps"`
	Trials []KneeTrial `json:"trials"`
}

// KneeTrial is one probed rate.
type KneeTrial struct {
	Rate     float64 `json:"rate"`
	Achieved float64 `json:"achieved_rps"`
	Observed float64 `json:"observed"`
	OK       bool    `json:"ok"`
	Valid    bool    `json:"valid"`
}

// ParityResult is one target's parity probe against the reference.
type ParityResult struct {
	Target string   `json:"target"`
	OK     bool     `json:"ok"`
	Diffs  []string `json:"diffs,omitempty"`
}

// Read loads a results.json and checks its schema.
func Read(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, this gatelab reads %q", path, r.Schema, Schema)
	}
	return &r, nil
}

// Write stores results as indented JSON.
func Write(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
