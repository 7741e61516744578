package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Mode labels the load model of every compare run (docs/measurement.md keeps
// closed-loop probing apart from the default open model).
const Mode = "closed-loop max throughput"

// Report is everything a run produced; compare.json is its JSON form.
type Report struct {
	RunID    string       `json:"run_id"`
	Mode     string       `json:"mode"`
	Notes    []string     `json:"notes"`
	Manifest Manifest     `json:"manifest"`
	Plan     Plan         `json:"plan"`
	Targets  []TargetInfo `json:"targets"`
	Trials   []Trial      `json:"trials"`
	Summary  []Summary    `json:"summary"`
	Ratios   []Ratio      `json:"ratios"`
	Checks   []Check      `json:"checks"`
	// Warnings point at results to read with care (a wide spread).
	Warnings []string `json:"warnings,omitempty"`
	// Invalid lists what makes the whole run invalid (an interruption).
	Invalid  []string `json:"invalid,omitempty"`
	ExitCode int      `json:"exit_code"`
	// Files are the files of the run directory, by name.
	Files []string `json:"files"`
	// Dir is the run directory.
	Dir string `json:"-"`
}

// Plan is the load as asked for.
type Plan struct {
	Duration string   `json:"duration"` // measured window per trial
	Warmup   string   `json:"warmup"`   // dropped before each window
	Workers  int      `json:"workers"`  // closed-loop workers = keep-alive connections
	Reps     int      `json:"reps"`
	Targets  []string `json:"targets"`
	Order    string   `json:"order"`
	Load     string   `json:"load"`
}

// TargetInfo is how a target was run.
type TargetInfo struct {
	Name    string   `json:"name"`
	URL     string   `json:"url,omitempty"` // what the load hits
	Command []string `json:"command,omitempty"`
	Config  string   `json:"config,omitempty"` // file in the run directory
	Skipped string   `json:"skipped,omitempty"`
	Parity  *Parity  `json:"parity,omitempty"`
	// AccessLogLines counts the lines of the target's access log after the
	// run (the proof that logging was on).
	AccessLogLines int64 `json:"access_log_lines,omitempty"`
}

// Parity is the probe each target answers before any load: one GET through
// the target, which must reach the upstream as GET /users/me.
type Parity struct {
	OK       bool   `json:"ok"`
	Status   int    `json:"status"`
	Attempts int    `json:"attempts"`
	Problem  string `json:"problem,omitempty"`
	Body     string `json:"body,omitempty"` // the answer's body when not OK (truncated)
	// What the upstream says it received.
	UpstreamName   string   `json:"upstream_name,omitempty"`
	UpstreamMethod string   `json:"upstream_method,omitempty"`
	UpstreamPath   string   `json:"upstream_path,omitempty"`
	UpstreamHdrs   []string `json:"upstream_headers,omitempty"` // names
	// Compared with direct: header names the target adds and drops.
	HeadersAdded   []string `json:"headers_added,omitempty"`
	HeadersDropped []string `json:"headers_dropped,omitempty"`
}

// writeFiles writes compare.json and compare.md into r.Dir.
func (r *Report) writeFiles() error {
	r.Files = appendUnique(r.Files, "compare.json", "compare.md")
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding compare.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "compare.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	r.WriteMarkdown(&md)
	return os.WriteFile(filepath.Join(r.Dir, "compare.md"), []byte(md.String()), 0o644)
}

func appendUnique(list []string, names ...string) []string {
	for _, n := range names {
		found := false
		for _, l := range list {
			found = found || l == n
		}
		if !found {
			list = append(list, n)
		}
	}
	return list
}

// header is the text both renderings start with.
func (r *Report) header() []string {
	m := r.Manifest
	lines := []string{
		fmt.Sprintf("gatelab compare, run %s: %s", r.RunID, r.Mode),
		fmt.Sprintf("load: %s", r.Plan.Load),
		fmt.Sprintf("plan: %d reps x (%s warm-up, dropped + %s measured), %s", r.Plan.Reps, r.Plan.Warmup, r.Plan.Duration, r.Plan.Order),
		fmt.Sprintf("host: %d cores (%s), kernel %s, %s; git %s%s", m.Cores, orUnknown(m.CPUModel), orUnknown(m.Kernel), m.GoVersion, orUnknown(short(m.GitSHA)), dirty(m.GitDirty)),
	}
	if m.LoadAvgStart != "" {
		l := "host load average (1/5/15 min) at start: " + m.LoadAvgStart
		if m.LoadAvgEnd != "" {
			l += ", at end: " + m.LoadAvgEnd
		}
		lines = append(lines, l)
	}
	lines = append(lines, r.Notes...)
	return lines
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func dirty(d bool) string {
	if d {
		return " (uncommitted changes)"
	}
	return ""
}

// WriteConsole prints the summary table, the ratios and the checks.
func (r *Report) WriteConsole(w io.Writer) {
	for _, l := range r.header() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	rows := [][]string{{"target", "median rps", "min-max rps", "spread", "2xx", "p50", "p90", "p99", "max", "cpu gen/target/up", "status"}}
	for _, s := range r.Summary {
		if s.Skipped != "" {
			rows = append(rows, []string{s.Target, "-", "-", "-", "-", "-", "-", "-", "-", "-", "SKIPPED"})
			continue
		}
		rows = append(rows, []string{s.Target, fmt.Sprintf("%.0f", s.MedianRPS), fmt.Sprintf("%.0f-%.0f", s.MinRPS, s.MaxRPS),
			fmt.Sprintf("%.1f%%", s.SpreadPct), pct(s.SuccessRatio), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max),
			fmt.Sprintf("%.2f/%.2f/%.2f", s.CPU.Generator, s.CPU.Target, s.CPU.Upstream), validWord(s)})
	}
	writeTable(w, rows)
	for _, s := range r.Summary {
		if s.Skipped != "" {
			fmt.Fprintf(w, "SKIPPED %s: %s\n", s.Target, s.Skipped)
		} else if !s.Valid {
			fmt.Fprintf(w, "INVALID %s: %s\n", s.Target, strings.Join(s.Invalid, "; "))
		}
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "WARNING %s\n", wn)
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w)
		rows := [][]string{{"ratio (median rps)", "value", "per-rep min-max", "note"}}
		for _, q := range r.Ratios {
			rows = append(rows, []string{q.Name, ratioText(q), perRepText(q), q.Note})
		}
		writeTable(w, rows)
	}
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintln(w, c.String())
	}
	for _, why := range r.Invalid {
		fmt.Fprintf(w, "INVALID run: %s\n", why)
	}
	if r.Dir != "" {
		fmt.Fprintf(w, "results: %s\n", filepath.Join(r.Dir, "compare.json"))
	}
}

// writeTable prints rows as columns: the first and last left-aligned (names,
// notes), the others right-aligned (numbers).
func writeTable(w io.Writer, rows [][]string) {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			switch {
			case i == 0:
				fmt.Fprintf(&b, "%-*s", width[i], c)
			case i == len(row)-1:
				fmt.Fprintf(&b, "  %s", c)
			default:
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func validWord(s Summary) string {
	if s.Valid {
		return "ok"
	}
	return "INVALID"
}

func ratioText(q Ratio) string {
	if q.Value == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", q.Value)
}

func perRepText(q Ratio) string {
	if len(q.PerRep) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f-%.2f", q.PerRepMin, q.PerRepMax)
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

// ms formats microseconds as milliseconds.
func ms(us int64) string {
	if us <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(us)/1000)
}

// WriteMarkdown renders compare.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "# gatelab compare %s\n\n", r.RunID)
	for _, l := range r.header() {
		fmt.Fprintf(w, "- %s\n", l)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "- `%s`\n", c.String())
	}
	for _, why := range r.Invalid {
		fmt.Fprintf(w, "- INVALID run: %s\n", why)
	}
	fmt.Fprintf(w, "\nExit code %d.\n\n", r.ExitCode)

	fmt.Fprintln(w, "## Throughput per target")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | median rps | min-max rps | spread | 2xx | p50 | p90 | p99 | max | CPU gen/target/upstream (cores) | status |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, s := range r.Summary {
		if s.Skipped != "" {
			fmt.Fprintf(w, "| %s | | | | | | | | | | SKIPPED: %s |\n", s.Target, mdEscape(s.Skipped))
			continue
		}
		status := "ok"
		if !s.Valid {
			status = "INVALID: " + mdEscape(strings.Join(s.Invalid, "; "))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f-%.0f | %.1f%% | %s | %s | %s | %s | %s | %.2f / %.2f / %.2f | %s |\n",
			s.Target, s.MedianRPS, s.MinRPS, s.MaxRPS, s.SpreadPct, pct(s.SuccessRatio),
			ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), s.CPU.Generator, s.CPU.Target, s.CPU.Upstream, status)
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "\n**Warning:** %s\n", mdEscape(wn))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latencies are medians over the repetitions of each trial's percentile (max: the largest), measured from the moment a worker sent a request; in a closed loop there is no intended schedule, so they are service times at saturation and are not corrected for coordinated omission. Compare targets by throughput.")
	fmt.Fprintln(w)

	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "## Ratios")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| ratio | median rps ratio | per-rep min-max | note |")
		fmt.Fprintln(w, "|---|--:|--:|---|")
		for _, q := range r.Ratios {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", q.Name, ratioText(q), perRepText(q), mdEscape(q.Note))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "## Trials (in run order)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| rep | target | requests | rps | 2xx | p50 | p90 | p99 | max | CPU gen/target/upstream | valid |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, t := range r.Trials {
		v := "ok"
		if !t.Valid {
			v = "INVALID: " + mdEscape(t.Invalid)
		}
		fmt.Fprintf(w, "| %d | %s | %d | %.0f | %s | %s | %s | %s | %s | %.2f / %.2f / %.2f | %s |\n",
			t.Rep, t.Target, t.Requests, t.RPS, pct(t.SuccessRatio), ms(t.Latency.P50), ms(t.Latency.P90),
			ms(t.Latency.P99), ms(t.Latency.Max), t.CPU.Generator, t.CPU.Target, t.CPU.Upstream, v)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	for _, t := range r.Targets {
		fmt.Fprintf(w, "### %s\n\n", t.Name)
		if t.Skipped != "" {
			fmt.Fprintf(w, "SKIPPED: %s\n\n", t.Skipped)
			continue
		}
		fmt.Fprintf(w, "- load: `GET %s`\n", t.URL)
		if len(t.Command) > 0 {
			fmt.Fprintf(w, "- command: `%s`\n", strings.Join(t.Command, " "))
		}
		if t.Config != "" {
			fmt.Fprintf(w, "- config: [%s](%s)\n", t.Config, t.Config)
		}
		if t.AccessLogLines > 0 {
			fmt.Fprintf(w, "- access log lines after the run: %d\n", t.AccessLogLines)
		}
		if p := t.Parity; p != nil {
			if p.OK {
				fmt.Fprintf(w, "- parity probe: %d, upstream %s received %s %s", p.Status, p.UpstreamName, p.UpstreamMethod, p.UpstreamPath)
				if len(p.HeadersAdded) > 0 {
					fmt.Fprintf(w, "; headers added vs direct: %s", strings.Join(p.HeadersAdded, ", "))
				}
				if len(p.HeadersDropped) > 0 {
					fmt.Fprintf(w, "; headers dropped vs direct: %s", strings.Join(p.HeadersDropped, ", "))
				}
				fmt.Fprintln(w)
			} else {
				fmt.Fprintf(w, "- parity probe FAILED: %s\n", mdEscape(p.Problem))
				if p.Body != "" {
					fmt.Fprintf(w, "\n```\n%s\n```\n", p.Body)
				}
			}
		}
		fmt.Fprintln(w)
	}

	m := r.Manifest
	fmt.Fprintln(w, "## Manifest")
	fmt.Fprintln(w)
	rows := [][2]string{
		{"start", m.Start.Format("2006-01-02 15:04:05 MST")},
		{"git", m.GitSHA + dirty(m.GitDirty)},
		{"go", m.GoVersion},
		{"os/arch", m.OS + "/" + m.Arch},
		{"cpu", m.CPUModel},
		{"cores", fmt.Sprint(m.Cores)},
		{"kernel", m.Kernel},
		{"gatelab", m.GatelabBin},
		{"nginx", strings.TrimSpace(m.Nginx + " " + m.NginxVersion)},
		{"nginx workers", nginxWorkers(m)},
		{"command", strings.TrimSpace("gatelab compare " + strings.Join(m.Args, " "))},
	}
	fmt.Fprintln(w, "| | |")
	fmt.Fprintln(w, "|---|---|")
	for _, row := range rows {
		if row[1] != "" {
			fmt.Fprintf(w, "| %s | %s |\n", row[0], mdEscape(row[1]))
		}
	}
	fmt.Fprintln(w)
	if len(r.Files) > 0 {
		fmt.Fprintf(w, "Files: %s\n", strings.Join(r.Files, ", "))
	}
}

func nginxWorkers(m Manifest) string {
	if m.NginxWorkerProcesses == "" {
		return ""
	}
	return fmt.Sprintf("worker_processes %s (%d running)", m.NginxWorkerProcesses, m.NginxWorkers)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// finite replaces NaN and infinities (which JSON cannot hold) by 0.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
