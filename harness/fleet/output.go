package fleet

import (
	"os"
	"regexp"
	"strings"
	"sync"
)

// line is one output line and the stream it came from.
type line struct {
	text   string
	stderr bool
}

// waiter is a pending wait for a line matching re; hit is closed (and match
// set) by the goroutine that adds the matching line.
type waiter struct {
	re    *regexp.Regexp
	match []string
	hit   chan struct{}
}

// output is a process's output: a ring of the last lines, the log file, and
// the pending waiters, matched against each line as it is added.
type output struct {
	mu      sync.Mutex
	ring    []line // circular once len == max
	max     int
	next    int    // slot of the next line once the ring is full
	total   uint64 // lines added, kept or not
	waiters map[*waiter]struct{}
	log     *os.File
}

func newOutput(max int, log *os.File) *output {
	return &output{max: max, waiters: make(map[*waiter]struct{}), log: log}
}

// add appends a line, writes it to the log file and wakes the waiters it
// matches.
func (o *output) add(text string, stderr bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ring) < o.max {
		o.ring = append(o.ring, line{text, stderr})
	} else {
		o.ring[o.next] = line{text, stderr}
		o.next = (o.next + 1) % o.max
	}
	o.total++
	if o.log != nil {
		// Best effort: a full disk must not stop the process's output.
		_, _ = o.log.WriteString(text + "\n")
	}
	for w := range o.waiters {
		if m := w.re.FindStringSubmatch(text); m != nil {
			w.match = m
			close(w.hit)
			delete(o.waiters, w)
		}
	}
}

// finish closes the log file once no more lines can come.
func (o *output) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.log != nil {
		o.log.Close()
		o.log = nil
	}
}

// watch registers a waiter for re.
func (o *output) watch(re *regexp.Regexp) *waiter {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.watchLocked(re)
}

func (o *output) watchLocked(re *regexp.Regexp) *waiter {
	w := &waiter{re: re, hit: make(chan struct{})}
	o.waiters[w] = struct{}{}
	return w
}

func (o *output) unwatch(w *waiter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.waiters, w)
}

// find returns the submatches of the first kept line numbered from or later
// that matches re; if there is none it registers (in the same critical
// section, so no line slips between) and returns a waiter for re.
func (o *output) find(from uint64, re *regexp.Regexp) ([]string, *waiter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	first := o.total - uint64(len(o.ring)) // number of the oldest kept line
	for i := range o.ring {
		if first+uint64(i) < from {
			continue
		}
		if m := re.FindStringSubmatch(o.at(i).text); m != nil {
			return m, nil
		}
	}
	return nil, o.watchLocked(re)
}

// at returns the i-th kept line, oldest first.
func (o *output) at(i int) line {
	if len(o.ring) < o.max {
		return o.ring[i]
	}
	return o.ring[(o.next+i)%o.max]
}

func (o *output) count() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.total
}

type streams uint8

const (
	both streams = iota
	onlyStdout
	onlyStderr
)

// text joins the kept lines of the chosen streams with "\n".
func (o *output) text(which streams) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	n := 0
	for i := range o.ring {
		l := o.at(i)
		if (which == onlyStdout && l.stderr) || (which == onlyStderr && !l.stderr) {
			continue
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.text)
		n++
	}
	return b.String()
}

// last joins the last n kept lines (both streams) with "\n".
func (o *output) last(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := len(o.ring)
	lines := make([]string, 0, min(n, k))
	for i := max(k-n, 0); i < k; i++ {
		lines = append(lines, o.at(i).text)
	}
	return strings.Join(lines, "\n")
}
