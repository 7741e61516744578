// Package reports defines results.json, the only contract between the lab
// (harness/bench writes it) and everything that renders it, and the
// renderers that need nothing but it: junit.xml (one test case per budget
// and target, failures carrying the observed and the expected value) and
// the console budget table.
//
// The schema is versioned (Schema); Read refuses a file of another
// version. Latencies are microseconds, rates requests per second, ratios
// fractions, and budget values in their metric's base unit (seconds,
// fraction, count, bytes). Every record keeps its HDR histograms (per route
// and phase) and per-second series, so a report can be re-rendered from
// results.json alone. Nothing here does I/O except Read, Write and
// WriteJUnitFile.
package reports
