// Package testproc runs real gatelab processes for integration tests over
// loopback.
//
// It is the testing.TB adapter over harness/fleet, the repository's one
// process supervisor: fleet starts, watches and stops the process; testproc
// fails the test (t.Fatal) instead of returning errors, stops the process in
// t.Cleanup, and logs its output when the test failed.
//
// Binary builds ./cmd/gatelab once per test binary (or uses $GATELAB_BIN);
// Start runs it with arguments. WaitOutput waits for a line the process
// prints (signalled on every line, no polling); WaitHTTP polls a URL for
// processes that print nothing useful. StartUpstream runs "gatelab upstream"
// and StartServe "gatelab serve", both started once their address line
// appears.
//
// The built binary lives in a temporary directory that the package removes
// only if the test binary's TestMain calls Main:
//
//	func TestMain(m *testing.M) { testproc.Main(m) }
//
// The helpers that fail the test call t.Fatal, so call them from the test's
// goroutine; the others (Output, Stdout, Stderr, Done, Stop, Signal, Freeze,
// Thaw) are safe from any goroutine. testproc has no process plumbing of its
// own: every process it starts is a fleet.Proc (Proc.Fleet returns it, for
// PIDs, Usage and WaitLine with submatches). It never talks to anything but
// 127.0.0.1.
package testproc
