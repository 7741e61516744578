// Package metricstest reads a Prometheus registry in tests: the samples of
// one family keyed by their labels, so a test can assert on a series
// without parsing the text exposition.
//
// It is imported by tests only (gateway/observe, gateway/pipeline); it
// never changes a registry.
package metricstest
