//go:build race

package crdt

// raceEnabled: the race detector slows every goroutine hop of the gossip path
// several times, so timing-bound assertions are relaxed.
const raceEnabled = true
