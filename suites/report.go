package suites

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Report is a conformance report: one implementation and mode, per level
// the result and counts, every case's outcome, and the features the target
// supports and lacks. Modelled on the Kubernetes Gateway API's report.
type Report struct {
	APIVersion     string          `yaml:"apiVersion"`
	Kind           string          `yaml:"kind"`
	Target         string          `yaml:"target"`
	Implementation Implementation  `yaml:"implementation"`
	GatelabVersion string          `yaml:"gatelabVersion,omitempty"`
	Date           string          `yaml:"date"`
	DurationS      float64         `yaml:"durationSeconds"`
	Profiles       []ProfileReport `yaml:"profiles"`
	Supported      []Feature       `yaml:"supportedFeatures,flow"`
	Unsupported    []Feature       `yaml:"unsupportedFeatures,flow"`
	Cases          []CaseResult    `yaml:"cases"`
}

// ProfileReport is one level's summary.
type ProfileReport struct {
	Level Level `yaml:"name"`
	// Result: success (every case ran and passed), partial (none failed,
	// some skipped), failure (a case failed).
	Result  string    `yaml:"result"`
	Passed  int       `yaml:"passed"`
	Failed  int       `yaml:"failed"`
	Skipped int       `yaml:"skipped"`
	Fails   []CaseRef `yaml:"failedTests,omitempty"`
	Skips   []CaseRef `yaml:"skippedTests,omitempty"`
}

// CaseRef names a case and why it failed or was skipped.
type CaseRef struct {
	ID     string `yaml:"id"`
	Reason string `yaml:"reason"`
}

// Results of a profile.
const (
	Success = "success"
	Partial = "partial"
	Failure = "failure"
)

func newReport(target Target, cases []Case, results []CaseResult, o Options, start time.Time) *Report {
	r := &Report{APIVersion: "gatelab.dev/v1alpha1", Kind: "ConformanceReport", Target: target.Name(),
		Implementation: target.Implementation(), GatelabVersion: o.Version,
		Date: start.UTC().Format(time.RFC3339), DurationS: time.Since(start).Seconds(), Cases: results}
	have := target.Features()
	// The suite's features, and those of the cases run (a caller's own
	// case list may need features no built-in case does): a case skipped
	// for a feature always finds it among the unsupported ones.
	features := AllFeatures()
	for _, c := range cases {
		for _, f := range c.Features {
			if !has(features, f) {
				features = append(features, f)
			}
		}
	}
	sort.Slice(features, func(i, j int) bool { return features[i] < features[j] })
	for _, f := range features {
		if has(have, f) {
			r.Supported = append(r.Supported, f)
		} else {
			r.Unsupported = append(r.Unsupported, f)
		}
	}
	for _, lv := range Levels {
		p := ProfileReport{Level: lv}
		n := 0
		for _, c := range results {
			if c.Level != lv {
				continue
			}
			n++
			switch c.Outcome {
			case Passed:
				p.Passed++
			case Failed:
				p.Failed++
				p.Fails = append(p.Fails, CaseRef{c.ID, c.Reason})
			default:
				p.Skipped++
				p.Skips = append(p.Skips, CaseRef{c.ID, c.Reason})
			}
		}
		if n == 0 {
			continue
		}
		switch {
		case p.Failed > 0:
			p.Result = Failure
		case p.Skipped > 0:
			p.Result = Partial
		default:
			p.Result = Success
		}
		r.Profiles = append(r.Profiles, p)
	}
	return r
}

// Failed reports whether a case failed at level lv ("" = any level).
func (r *Report) Failed(lv Level) bool {
	for _, p := range r.Profiles {
		if (lv == "" || p.Level == lv) && p.Failed > 0 {
			return true
		}
	}
	return false
}

// WriteYAML writes the report as YAML.
func (r *Report) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(r); err != nil {
		return err
	}
	return enc.Close()
}

// Summary writes the console summary: per level the result and counts,
// then each failed case with its reason.
func (r *Report) Summary(w io.Writer) {
	fmt.Fprintf(w, "%s (%s %s", r.Target, r.Implementation.Name, r.Implementation.Version)
	keys := make([]string, 0, len(r.Implementation.Mode))
	for k := range r.Implementation.Mode {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, " %s=%s", k, r.Implementation.Mode[k])
	}
	fmt.Fprintf(w, "), %.1fs\n", r.DurationS)
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "  %-8s %-8s passed %d, failed %d, skipped %d\n", p.Level, p.Result, p.Passed, p.Failed, p.Skipped)
		for _, f := range p.Fails {
			fmt.Fprintf(w, "    FAIL %s: %s\n", f.ID, f.Reason)
		}
	}
	if len(r.Unsupported) > 0 {
		fmt.Fprintf(w, "  unsupported: %s\n", joinFeatures(r.Unsupported))
	}
}

func joinFeatures(fs []Feature) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// junitSuite and junitCase are the JUnit XML shape CI tools read.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
}

// WriteJUnit writes reports as JUnit XML: a test suite per target, a test
// case per conformance case.
func WriteJUnit(w io.Writer, reports ...*Report) error {
	var out junitSuites
	for _, r := range reports {
		s := junitSuite{Name: "conformance/" + r.Target, Time: fmt.Sprintf("%.3f", r.DurationS)}
		for _, c := range r.Cases {
			jc := junitCase{Name: c.ID, Classname: "conformance." + r.Target + "." + string(c.Level), Time: fmt.Sprintf("%.3f", c.Duration.Seconds())}
			switch c.Outcome {
			case Failed:
				jc.Failure = &junitMessage{c.Reason}
				s.Failures++
			case Skipped:
				jc.Skipped = &junitMessage{c.Reason}
				s.Skipped++
			}
			s.Tests++
			s.Cases = append(s.Cases, jc)
		}
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
