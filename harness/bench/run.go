package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/harness/budget"
	"github.com/gatelab/gatelab/reports"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Run performs a bench run: every planned scenario on its targets, its
// repetitions interleaved, budgets evaluated on the medians, and
// results.json, junit.xml, report.md and report.html written to
// Out/RunID/. The error is non-nil when nothing could be measured (bad
// input: an *InputError; a dependency required but missing; Results is
// then nil) or when a file could not be written after the run (Results is
// then set); otherwise Results says how the run went
// and its ExitCode is the process's. Every process started is stopped
// before Run returns, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*reports.Results, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.Bin)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		return nil, badInput("gatelab binary %s: %v", o.Bin, err)
	}
	o.Bin = bin
	root, err := findRoot(o.Root, bin)
	if err != nil {
		return nil, badInput("%v", err)
	}
	o.Root = root
	fx, err := config.Load(filepath.Join(root, "fixtures", "gateway.yaml"))
	if err != nil {
		return nil, fmt.Errorf("loading fixtures/gateway.yaml: %w", err)
	}
	start := time.Now().UTC()
	dir, id, err := runDir(o.Out, o.RunID, start)
	if err != nil {
		return nil, err
	}
	res := &reports.Results{
		Schema:   reports.Schema,
		RunID:    id,
		Profile:  o.Profile,
		Manifest: collectManifest(ctx, root, o.Args),
	}
	res.Manifest.Start = start
	res.Manifest.GatelabBin = bin
	res.Manifest.Deps = map[string]string{"go": res.Manifest.GoVersion}
	res.Manifest.Scenarios = map[string]string{}
	res.Manifest.Configs = map[string]string{}
	for _, p := range o.Scenarios {
		res.Manifest.Scenarios[p.S.File] = p.S.SHA256
		res.Manifest.Reps = max(res.Manifest.Reps, p.Reps)
	}
	tclog.SetDefault(tclog.NewNoopLogger()) // no Docker banner in the middle of the progress lines
	lab := &lab{o: o, fx: fx, dir: dir, res: res}
	lab.logf("gatelab bench: profile %s, run %s -> %s", o.Profile, id, dir)
	defer lab.close()
	if o.Prometheus != "" {
		if lab.prom, err = startPrometheus(ctx, dir, o.Prometheus); err != nil {
			return nil, err
		}
		lab.logf("%s", lab.prom.banner())
	}

	aborted := false
	for i, p := range o.Scenarios {
		if ctx.Err() != nil || aborted {
			sr := reports.ScenarioResult{Name: p.S.Name, File: p.S.File, Error: "not run: the run was interrupted or aborted earlier"}
			res.Scenarios = append(res.Scenarios, sr)
			continue
		}
		lab.logf("\n[%d/%d] scenario %s (%d repetitions): %s", i+1, len(o.Scenarios), p.S.Name, p.Reps, p.S.Description)
		sr, err := lab.runScenario(ctx, p)
		if err != nil {
			var req *requiredError
			var in *InputError
			if errors.As(err, &req) || errors.As(err, &in) {
				return nil, err
			}
			lab.logf("  ERROR: %v", err)
		}
		if sr.aborted {
			aborted = true
		}
		res.Scenarios = append(res.Scenarios, sr.ScenarioResult)
	}
	res.Manifest.End = time.Now().UTC()
	res.Manifest.LoadAfter = loadAvg()
	finish(res, ctx.Err() != nil)
	if err := reports.Write(filepath.Join(dir, "results.json"), res); err != nil {
		return res, fmt.Errorf("writing results: %w", err)
	}
	if err := reports.WriteJUnitFile(filepath.Join(dir, "junit.xml"), res); err != nil {
		return res, fmt.Errorf("writing junit.xml: %w", err)
	}
	lab.summary(res)
	// report.md and report.html: rendered from what results.json holds, the
	// same as gatelab report -in does later.
	if _, err := reports.WriteReportFiles(dir, res); err != nil {
		return res, fmt.Errorf("writing the reports (results.json is written; gatelab report -in renders them again): %w", err)
	}
	return res, nil
}

// requiredError is a dependency that the options require and that is missing.
type requiredError struct{ msg string }

func (e *requiredError) Error() string { return e.msg }

// finish sets the run's verdict and exit code: INVALID (2) when a record is
// invalid or the run was interrupted, else FAIL (1) when a budget failed,
// else PASS (0).
func finish(res *reports.Results, interrupted bool) {
	invalid, failed := interrupted, false
	for _, s := range res.Scenarios {
		if s.Error != "" && !strings.HasPrefix(s.Error, "not run") {
			invalid = true
		}
		for _, r := range s.Records {
			if !r.Valid && !r.Superseded && !r.KneeProbe && !strings.HasPrefix(r.Invalid, "aborted: ") {
				invalid = true
			}
		}
		for _, b := range s.Budgets {
			switch b.Verdict {
			case reports.Fail:
				failed = true
			case reports.Invalid, reports.NoData:
				// A budget that could not be judged is no pass: the
				// metric it names was not produced (a scrape failed, a
				// filter matched nothing).
				invalid = true
			}
		}
	}
	if interrupted {
		res.Notes = append(res.Notes, "the run was interrupted")
	}
	switch {
	case failed && !interrupted && abortedRun(res):
		res.Verdict, res.ExitCode = reports.Fail, 1 // an abort budget stopped the run
	case invalid:
		res.Verdict, res.ExitCode = reports.Invalid, 2
	case failed:
		res.Verdict, res.ExitCode = reports.Fail, 1
	default:
		res.Verdict, res.ExitCode = reports.Pass, 0
	}
}

func abortedRun(res *reports.Results) bool {
	for _, s := range res.Scenarios {
		for _, b := range s.Budgets {
			if b.Abort && b.Verdict == reports.Fail {
				return true
			}
		}
	}
	return false
}

// runDir creates Out/ID (ID-2, ID-3, ... when taken).
func runDir(out, id string, start time.Time) (string, string, error) {
	if id == "" {
		id = start.Format("20060102T150405Z")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", fmt.Errorf("creating %s: %w", out, err)
	}
	for i := 1; i <= 100; i++ {
		name := id
		if i > 1 {
			name = fmt.Sprintf("%s-%d", id, i)
		}
		d := filepath.Join(out, name)
		err := os.Mkdir(d, 0o755)
		if err == nil {
			return d, name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("creating the run directory: %w", err)
		}
	}
	return "", "", fmt.Errorf("no free run directory name for %s in %s", id, out)
}

// findRoot returns the repository root holding fixtures/gateway.yaml: the
// option, else upwards from the working directory, else from the binary.
func findRoot(opt, bin string) (string, error) {
	if opt != "" {
		if _, err := os.Stat(filepath.Join(opt, "fixtures", "gateway.yaml")); err != nil {
			return "", fmt.Errorf("-root %s: %v", opt, err)
		}
		return filepath.Abs(opt)
	}
	starts := []string{}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	starts = append(starts, filepath.Dir(bin))
	for _, d := range starts {
		for {
			if _, err := os.Stat(filepath.Join(d, "fixtures", "gateway.yaml")); err == nil {
				return d, nil
			}
			p := filepath.Dir(d)
			if p == d {
				break
			}
			d = p
		}
	}
	return "", errors.New("no fixtures/gateway.yaml above the working directory or the binary (pass -root)")
}

// summary prints the budget table and the verdict.
func (l *lab) summary(res *reports.Results) {
	w := l.o.Progress
	fmt.Fprintln(w)
	for _, s := range res.Scenarios {
		printSummary(w, s)
	}
	fmt.Fprintln(w, "\nbudgets:")
	reports.BudgetTable(w, res)
	var skipped []string
	for _, s := range res.Scenarios {
		for _, t := range s.Targets {
			if t.Skipped != "" {
				skipped = append(skipped, fmt.Sprintf("%s/%s: %s", s.Name, t.Name, t.Skipped))
			}
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\nSKIPPED (%d):\n  %s\n", len(skipped), strings.Join(skipped, "\n  "))
	}
	fmt.Fprintf(w, "\nverdict: %s (exit %d); results in %s (results.json, junit.xml, report.md, report.html)\n", res.Verdict, res.ExitCode, l.dir)
}

// budgetSkip is a verdict for a budget that could not be evaluated.
func budgetSkip(e budget.Expr, target, verdict, why string) reports.Budget {
	return reports.Budget{Expr: e.Text, Line: e.Line, Target: target, Verdict: verdict, Detail: why, Text: why}
}
