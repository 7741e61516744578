package testproc

import (
	"sync"
	"testing"
)

// Log passes a dependency's messages (deps.RedisOptions.Log and the like)
// to the test log until Stop: a log call after the test has ended would
// panic, and a dependency's background goroutines may still be talking.
type Log struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

// NewLog returns a Log writing to t.
func NewLog(t testing.TB) *Log { return &Log{t: t} }

// Logf logs to the test unless Stop has been called.
func (l *Log) Logf(format string, args ...any) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf(format, args...)
	}
}

// Stop drops every later message.
func (l *Log) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}
