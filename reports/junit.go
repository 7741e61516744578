package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes one test case per budget and target: a failed budget
// is a failure whose message holds the observed and the expected value; a
// budget on an invalid run is an error; a budget with no data or skipped
// is skipped, with the reason. An invalid record with no budget still gets
// an error case, so CI never reads an invalid run as green.
func WriteJUnit(w io.Writer, r *Results) error {
	top := junitSuites{Name: "gatelab bench " + r.Profile}
	for _, s := range r.Scenarios {
		suite := junitSuite{Name: s.Name}
		if s.Error != "" {
			suite.Cases = append(suite.Cases, junitCase{Name: s.Name + ": scenario ran", Classname: "gatelab." + s.Name,
				Error: &junitMessage{Message: s.Error}})
			suite.Errors++
		}
		for _, b := range s.Budgets {
			c := junitCase{Name: fmt.Sprintf("%s: %s", b.Target, b.Expr), Classname: "gatelab." + s.Name}
			msg := fmt.Sprintf("observed %s, expected %s", b.Text, b.Expr)
			if b.Line > 0 {
				msg += fmt.Sprintf(" (%s:%d)", s.File, b.Line)
			}
			switch b.Verdict {
			case Pass:
				c.SystemOut = msg
			case Fail:
				c.Failure = &junitMessage{Message: msg, Body: b.Detail}
				suite.Failures++
			case Invalid:
				c.Error = &junitMessage{Message: "not evaluated: " + b.Detail, Body: msg}
				suite.Errors++
			default:
				c.Skipped = &junitMessage{Message: b.Verdict + ": " + b.Detail}
				suite.Skipped++
			}
			suite.Cases = append(suite.Cases, c)
		}
		for _, t := range s.Targets {
			if t.Skipped != "" {
				suite.Cases = append(suite.Cases, junitCase{Name: t.Name + ": target", Classname: "gatelab." + s.Name,
					Skipped: &junitMessage{Message: "skipped: " + t.Skipped}})
				suite.Skipped++
			}
		}
		for _, rec := range s.Records {
			if !rec.Valid && !rec.Superseded && !rec.KneeProbe {
				suite.Cases = append(suite.Cases, junitCase{Name: fmt.Sprintf("%s: run %d valid", rec.Target, rec.Rep), Classname: "gatelab." + s.Name,
					Error: &junitMessage{Message: "INVALID: " + rec.Invalid}})
				suite.Errors++
			}
		}
		suite.Tests = len(suite.Cases)
		top.Tests += suite.Tests
		top.Failures += suite.Failures
		top.Errors += suite.Errors
		top.Skipped += suite.Skipped
		top.Suites = append(top.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(top); err != nil {
		return fmt.Errorf("encoding junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteJUnitFile writes junit.xml at path.
func WriteJUnitFile(path string, r *Results) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteJUnit(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BudgetTable renders the console budget table: one line per budget and
// target, "PASS  target  expr  observed".
func BudgetTable(w io.Writer, r *Results) {
	width := 0
	for _, s := range r.Scenarios {
		for _, b := range s.Budgets {
			width = max(width, len(b.Target))
		}
	}
	for _, s := range r.Scenarios {
		if len(s.Budgets) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s\n", s.Name)
		for _, b := range s.Budgets {
			obs := b.Text
			if b.Verdict != Pass && b.Verdict != Fail && b.Detail != "" {
				obs = b.Detail
			}
			fmt.Fprintf(w, "  %-7s %-*s  %s: %s\n", b.Verdict, width, b.Target, b.Expr, strings.TrimSpace(obs))
		}
	}
}
