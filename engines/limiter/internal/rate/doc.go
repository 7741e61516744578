// Package rate is the decision arithmetic the in-process limiter engines
// (local, crdt) share, so both decide with one formula: the sliding-window
// counter (Sliding), the generic cell rate algorithm (GCRA), and the
// conversions a config reload uses to carry a key's count from one algorithm
// or unit to another (SlidingCount, GCRACount, RescaleTAT, CountTAT).
//
// Every function is pure and allocation-free: it takes the state a key holds
// (counts, a theoretical arrival time) and the instant decided at, and returns
// the decision and the new state; where and how the state is kept (one node's
// entry, a replicated record) is the engine's business. Times are Unix
// nanoseconds. The arithmetic is exact (see intmath): nothing rounds except
// where a function says so, and nothing overflows for windows up to 2^60 ns
// and counts and debts up to MaxDebt.
package rate
