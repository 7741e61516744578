// Package fleet is the one process supervisor of gatelab: the lab
// (harness/bench, harness/deps, harness/faults) and the tests that run real
// processes (internal/testproc and the dependency helpers) start every child
// process through it.
//
// Start runs a Spec: the binary in its own process group, killed by the
// kernel if the supervising process dies (Linux parent-death signal). Each
// line the child writes to stdout or stderr goes into a bounded ring
// (Spec.RingLines), optionally into Spec.LogFile, and is matched against the
// ready pattern and every pending WaitLine as it arrives: waiting is
// signalled per line, nothing polls the output. Start returns once the ready
// line appeared; when the child exits first, the ready timeout passes or ctx
// ends, Start kills the group and returns an error carrying the output's
// tail.
//
// Stop is SIGTERM to the process, a grace period, then SIGKILL to the whole
// group (nginx workers and other descendants go with their master); Kill is
// SIGKILL to the group at once. Both wait a bounded time and are safe to call
// more than once and concurrently. When the process exits, whatever is left
// of its group is killed, so no descendant outlives it. Freeze and Thaw send
// SIGSTOP and SIGCONT to the group and return once /proc shows every thread
// of the group stopped (or running again). Usage samples CPU time and memory
// from /proc over the process and all its descendants.
//
// Concurrency: every method of Proc is safe for concurrent use. Each Proc
// runs three goroutines (one reader per output stream and one waiter) that
// end when the process has exited and its output is drained, which Done
// reports; readers are cut off a bounded time after the exit when a process
// that escaped the group still holds the pipes.
//
// Allocations: one string per output line; the ring reuses its slots once
// full. Sampling (Usage, PIDs, Freeze) reads /proc files and allocates; it is
// meant for a few calls per second, not a hot path.
//
// WaitLine sees the lines still in the ring and every line after it was
// called; WaitLineFrom with a mark taken by Lines ignores the lines printed
// before the mark (wait for "reloaded" after a SIGHUP, not an earlier one).
//
// Never: fleet never starts a shell, never writes to the child's stdin (it
// gets /dev/null), never signals anything but the process and the process
// group it created, never waits without a bound in Stop, Kill, Freeze or
// Thaw, and never reads or writes anything but the child's output, /proc and
// Spec.LogFile. The ctx given to Start bounds the start only; the process
// lives until Stop, Kill, or its own exit.
//
// Linux is the supported platform; elsewhere processes still start and stop,
// but there is no parent-death signal and the /proc-based methods (PIDs,
// Usage, Freeze's wait) report nothing or errors.ErrUnsupported.
package fleet
