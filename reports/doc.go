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
//
// RenderHTML writes report.html: one self-contained page that opens with
// no network (inline CSS, charts as inline SVG drawn with gonum.org/v1/plot,
// no script, no font or image to fetch) holding the manifest and, per
// scenario, latency-percentile curves from the merged HDR histograms,
// overhead bars with their min..max spread, the knee search (or closed-loop
// throughput), per-second series around each fault window, and the
// summary, budget, invalid-record and skipped-target tables. Every string
// from results.json is escaped; the page depends on the results alone, so
// the same file renders byte for byte the same page.
package reports
