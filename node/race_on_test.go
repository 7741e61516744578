//go:build race

package node_test

// raceEnabled: the race detector slows every request several times, so
// latency bounds are not checked under it (the figures are still logged).
const raceEnabled = true
