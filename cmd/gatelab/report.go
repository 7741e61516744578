package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gatelab/gatelab/reports"
)

func init() {
	register("report", "render report.md and report.html from a results.json, or compare it with a baseline run", cmdReport)
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	f := newFlags("report", `usage: gatelab report -in RUN/results.json [-out DIR]
       gatelab report -baseline A/results.json -in B/results.json [-out DIR] [-fail-on-regression]
Without -baseline: renders report.md (budgets, rankings, overhead, knee,
CPU, RSS, invalid and skipped rows, manifest) and report.html (the same with
inline SVG charts; opens with no network) next to the results (or in -out).
gatelab bench does this at the end of every run.
With -baseline: compares the two runs metric by metric over their
repetitions (Mann-Whitney U test, as benchstat), prints the Markdown
comparison (significant regressions and improvements marked, the rest "~")
and writes it to compare.md. Exit 1 with -fail-on-regression when a
regression is significant; 2 on bad input.
`)
	in := f.String("in", "", "the run's `results.json` (required)")
	out := f.String("out", "", "`directory` to write into (default: the directory of -in)")
	base := f.String("baseline", "", "baseline run's `results.json` to compare -in with")
	alpha := f.Float64("alpha", 0.05, "significance `level` of the comparison")
	failReg := f.Bool("fail-on-regression", false, "with -baseline: exit 1 when a significant regression is found")
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	if *in == "" {
		return usageErrorf("-in is required")
	}
	if *alpha <= 0 || *alpha >= 1 {
		return usageErrorf("-alpha %g: want a level between 0 and 1", *alpha)
	}
	if *failReg && *base == "" {
		return usageErrorf("-fail-on-regression needs -baseline")
	}
	cur, err := reports.Read(*in)
	if err != nil {
		return badInput(stderr, err)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Dir(*in)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if *base == "" {
		paths, err := reports.WriteReportFiles(dir, cur)
		for _, p := range paths {
			fmt.Fprintf(stdout, "wrote %s\n", p)
		}
		return err
	}
	old, err := reports.Read(*base)
	if err != nil {
		return badInput(stderr, err)
	}
	d := reports.Compare(old, cur, *alpha)
	var b bytes.Buffer
	if err := reports.RenderDiffMarkdown(&b, d); err != nil {
		return err
	}
	p := filepath.Join(dir, reports.CompareFile)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		return err
	}
	stdout.Write(b.Bytes())
	fmt.Fprintf(stderr, "wrote %s\n", p)
	if *failReg && len(d.Changed(reports.Regression)) > 0 {
		fmt.Fprintf(stderr, "gatelab report: %d significant regression(s)\n", len(d.Changed(reports.Regression)))
		return exitCode(1)
	}
	return nil
}

// badInput prints a results file that cannot be read (missing, not JSON,
// another schema) and exits 2, bench's code for bad input.
func badInput(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "gatelab report: %v\n", err)
	return exitCode(2)
}
