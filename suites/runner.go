package suites

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options of a run.
type Options struct {
	// Root is the repository root (fixtures/keys).
	Root string
	// Features, when set, runs only cases whose features are all in it
	// (the others are skipped, "not selected").
	Features []Feature
	// Cases, when set, runs only the cases whose ID begins with one of
	// these prefixes.
	Cases []string
	// Parallel bounds the cases running at once (0: 8).
	Parallel int
	// Version is gatelab's own version, for the report.
	Version string
}

// Outcome of a case.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// CaseResult is one case's outcome against one target.
type CaseResult struct {
	ID       string    `yaml:"id"`
	Level    Level     `yaml:"level"`
	Features []Feature `yaml:"features,omitempty,flow"`
	Outcome  string    `yaml:"outcome"`
	// Reason says why a case failed (its errors) or was skipped.
	Reason   string        `yaml:"reason,omitempty"`
	Log      []string      `yaml:"log,omitempty"`
	Duration time.Duration `yaml:"-"`
}

// Run runs cases against target in parallel and returns the report. A case
// needing a feature the target does not declare is skipped with that
// reason; one that does not finish within its timeout fails.
func Run(ctx context.Context, target Target, cases []Case, o Options) *Report {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	start := time.Now()
	have := target.Features()
	results := make([]CaseResult, len(cases))
	sem := make(chan struct{}, o.Parallel)
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: o.Parallel, IdleConnTimeout: 5 * time.Second},
		// A gateway's redirects are answers to check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for i, c := range cases {
		res := &results[i]
		*res = CaseResult{ID: c.ID, Level: c.Level, Features: c.Features}
		if why := skipReason(c, have, o); why != "" {
			res.Outcome, res.Reason = Skipped, why
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runCase(ctx, target, c, client, o.Root, res)
		}()
	}
	wg.Wait()
	return newReport(target, cases, results, o, start)
}

// skipReason is why c does not run against a target with features have,
// "" when it runs.
func skipReason(c Case, have []Feature, o Options) string {
	if len(o.Cases) > 0 {
		sel := false
		for _, p := range o.Cases {
			sel = sel || strings.HasPrefix(c.ID, p)
		}
		if !sel {
			return "not selected (-cases)"
		}
	}
	var missing []string
	for _, f := range c.Features {
		if len(o.Features) > 0 && !has(o.Features, f) {
			return fmt.Sprintf("not selected: needs %s (-features)", f)
		}
		if !has(have, f) {
			missing = append(missing, string(f))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "the target does not declare " + strings.Join(missing, ", ")
	}
	return ""
}

// runCase runs one case in its own goroutine (Fatalf and Skipf end it with
// runtime.Goexit) under its timeout.
func runCase(ctx context.Context, target Target, c Case, client *http.Client, root string, res *CaseResult) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCaseTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := &T{Target: target, Ctx: cctx, Root: root, client: client}
	done := make(chan struct{})
	began := time.Now()
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("panic: %v", p)
			}
		}()
		c.Run(t)
	}()
	select {
	case <-done:
	case <-cctx.Done():
		// The case's requests use cctx and end with it; wait briefly so
		// its goroutine does not outlive the run by much.
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
	// A case that returned because its context ended (its requests failed
	// with it) overran too: checking cctx rather than which select branch
	// won keeps that from passing by chance.
	res.Duration = time.Since(began)
	t.mu.Lock()
	defer t.mu.Unlock()
	if cctx.Err() != nil {
		why := fmt.Sprintf("did not finish within %v", timeout)
		if ctx.Err() != nil {
			why = fmt.Sprintf("run cancelled: %v", ctx.Err())
		}
		// First: the errors of its requests that ended with it follow.
		t.errs = append([]string{why}, t.errs...)
	}
	// Copies: a case still running after its timeout may append more.
	res.Log = slices.Clone(t.logs)
	switch {
	case len(t.errs) > 0:
		res.Outcome, res.Reason = Failed, strings.Join(t.errs, "; ")
	case t.skip != "":
		res.Outcome, res.Reason = Skipped, t.skip
	default:
		res.Outcome = Passed
	}
}
