// Command testsummary runs "go test -json" (or reads its output) and prints
// what "go test" prints — one line per package, the output of failing tests
// — then a summary that lists every failed and every skipped test with the
// reason it gave, so skips are never silent.
//
//	go run ./scripts/testsummary -count=1 ./...      runs go test -json -count=1 ./...
//	go test -json ./... | go run ./scripts/testsummary   reads the stream on stdin
//
// It exits 1 when a test, a package or a build failed, when go test itself
// failed, or when the stream held no package result; 0 otherwise.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs go test -json with args (or reads stdin when there are none),
// streams the readable output to stdout and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		s := newSummary(stdout)
		if err := s.read(stdin); err != nil {
			fmt.Fprintln(stderr, "testsummary:", err)
			return 1
		}
		return s.finish(nil)
	}
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = stderr
	cmd.Stdin = stdin
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	s := newSummary(stdout)
	rerr := s.read(pipe)
	if rerr != nil {
		io.Copy(io.Discard, pipe) // let go test finish
	}
	werr := cmd.Wait()
	if rerr != nil {
		fmt.Fprintln(stderr, "testsummary:", rerr)
		return 1
	}
	return s.finish(werr)
}

// event is one line of go test -json (cmd/test2json's TestEvent, plus the
// build events go test interleaves with them).
type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	FailedBuild string
	ImportPath  string // build-output, build-fail
}

type testID struct{ pkg, test string }

type summary struct {
	out io.Writer

	testOut  map[testID][]string // output of running tests, dropped on pass
	pkgOut   map[string][]string // package-level output
	buildOut map[string][]string // build output by import path
	passed   int
	failed   []testID
	skipped  []skip
	pkgsDone int
	pkgsFail []string
}

type skip struct {
	id     testID
	reason string
}

func newSummary(out io.Writer) *summary {
	return &summary{
		out:      out,
		testOut:  map[testID][]string{},
		pkgOut:   map[string][]string{},
		buildOut: map[string][]string{},
	}
}

// read consumes the stream. Lines that are not JSON (go test writes some
// errors that way) are passed through.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(s.out, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	return sc.Err()
}

func (s *summary) handle(e event) {
	id := testID{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		s.buildOut[e.ImportPath] = append(s.buildOut[e.ImportPath], e.Output)
	case "build-fail":
		s.write(s.buildOut[e.ImportPath])
		delete(s.buildOut, e.ImportPath)
	case "output":
		if e.Test != "" {
			s.testOut[id] = append(s.testOut[id], e.Output)
		} else {
			s.pkgOut[e.Package] = append(s.pkgOut[e.Package], e.Output)
		}
	case "pass":
		if e.Test != "" {
			s.passed++
			delete(s.testOut, id)
			return
		}
		s.endPackage(e.Package, false)
	case "skip":
		if e.Test != "" {
			s.skipped = append(s.skipped, skip{id, skipReason(s.testOut[id])})
			delete(s.testOut, id)
			return
		}
		s.endPackage(e.Package, false) // no test files, or no tests ran
	case "fail":
		if e.Test != "" {
			s.failed = append(s.failed, id)
			s.writeTest(s.testOut[id])
			delete(s.testOut, id)
			return
		}
		if e.FailedBuild != "" {
			s.write(s.buildOut[e.FailedBuild])
			delete(s.buildOut, e.FailedBuild)
		}
		s.endPackage(e.Package, true)
	}
}

// endPackage prints the package's result line as go test does: only the
// final "ok"/"?" line of a passing package, everything of a failing one
// (including the output of tests that never finished, e.g. on a panic or a
// timeout).
func (s *summary) endPackage(pkg string, failed bool) {
	s.pkgsDone++
	lines := s.pkgOut[pkg]
	delete(s.pkgOut, pkg)
	if !failed {
		if n := len(lines); n > 0 {
			s.write(lines[n-1:])
		}
		return
	}
	s.pkgsFail = append(s.pkgsFail, pkg)
	var unfinished []testID
	for id := range s.testOut {
		if id.pkg == pkg {
			unfinished = append(unfinished, id)
		}
	}
	sort.Slice(unfinished, func(i, j int) bool { return unfinished[i].test < unfinished[j].test })
	for _, id := range unfinished {
		s.writeTest(s.testOut[id])
		delete(s.testOut, id)
	}
	s.write(lines)
}

func (s *summary) write(lines []string) {
	for _, l := range lines {
		io.WriteString(s.out, l)
	}
}

// writeTest prints a test's output as go test without -v does: without the
// "=== RUN" (PAUSE, CONT, NAME) framing lines.
func (s *summary) writeTest(lines []string) {
	for _, l := range lines {
		if !strings.HasPrefix(l, "=== ") {
			io.WriteString(s.out, l)
		}
	}
}

// logLine is the start of a t.Log/t.Skip line: "    file_test.go:12: ".
var logLine = regexp.MustCompile(`^\s+\S+\.go:\d+: `)

// skipReason is the last message the test logged before it was skipped
// (t.Skip logs its arguments), with its continuation lines, without the
// file:line prefix; "" if it logged nothing.
func skipReason(out []string) string {
	var msg []string
	for _, l := range out {
		switch {
		case strings.HasPrefix(l, "=== "), strings.HasPrefix(strings.TrimSpace(l), "--- "):
		case logLine.MatchString(l):
			msg = []string{strings.TrimSpace(logLine.ReplaceAllString(l, ""))}
		case len(msg) > 0:
			msg = append(msg, strings.TrimSpace(l))
		}
	}
	return strings.TrimSpace(strings.Join(msg, " "))
}

// finish prints the summary and returns the exit code; goErr is go test's
// own exit error, if it ran.
func (s *summary) finish(goErr error) int {
	w := s.out
	fmt.Fprintf(w, "\n=== summary: %d passed, %d failed, %d skipped; %d packages", s.passed, len(s.failed), len(s.skipped), s.pkgsDone)
	if len(s.pkgsFail) > 0 {
		fmt.Fprintf(w, ", %d failed", len(s.pkgsFail))
	}
	fmt.Fprintln(w)
	if len(s.skipped) > 0 {
		fmt.Fprintf(w, "\nSKIPPED (%d), by reason:\n", len(s.skipped))
		byReason := map[string][]string{}
		for _, sk := range s.skipped {
			r := sk.reason
			if r == "" {
				r = "(no reason given)"
			}
			byReason[r] = append(byReason[r], short(sk.id))
		}
		reasons := make([]string, 0, len(byReason))
		for r := range byReason {
			reasons = append(reasons, r)
		}
		// Most common reason first: usually a missing dependency.
		sort.Slice(reasons, func(i, j int) bool {
			a, b := len(byReason[reasons[i]]), len(byReason[reasons[j]])
			return a > b || a == b && reasons[i] < reasons[j]
		})
		for _, r := range reasons {
			tests := byReason[r]
			slices.Sort(tests)
			fmt.Fprintf(w, "  %s\n", r)
			for _, t := range tests {
				fmt.Fprintf(w, "      %s\n", t)
			}
		}
	}
	if len(s.failed) > 0 {
		fmt.Fprintf(w, "\nFAILED (%d):\n", len(s.failed))
		for _, id := range s.failed {
			fmt.Fprintf(w, "  %s\n", short(id))
		}
	}
	if len(s.pkgsFail) > 0 {
		fmt.Fprintf(w, "\nFAILED PACKAGES (%d):\n", len(s.pkgsFail))
		for _, p := range s.pkgsFail {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	switch {
	case len(s.failed) > 0 || len(s.pkgsFail) > 0:
		fmt.Fprintln(w, "\nFAIL")
		return 1
	case goErr != nil:
		fmt.Fprintf(w, "\nFAIL: go test: %v\n", goErr)
		return 1
	case s.pkgsDone == 0:
		fmt.Fprintln(w, "\nFAIL: no package results in the go test -json stream")
		return 1
	}
	fmt.Fprintln(w, "\nPASS")
	return 0
}

func short(id testID) string { return id.pkg + " " + id.test }
