package observe

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Small stand-ins for prometheus/testutil.ToFloat64 and CollectAndCount.
// testutil itself imports github.com/kylelemons/godebug, which has no go.sum
// entry in this module; promlint (used directly in TestPromlint) does not.

// collect returns every metric c emits.
func collect(t testing.TB, c prometheus.Collector) []*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []*dto.Metric
	for m := range ch {
		pb := &dto.Metric{}
		if err := m.Write(pb); err != nil {
			t.Fatalf("writing %s: %v", m.Desc(), err)
		}
		out = append(out, pb)
	}
	return out
}

// collectAndCount returns how many metrics (series) c emits.
func collectAndCount(t testing.TB, c prometheus.Collector) int {
	t.Helper()
	return len(collect(t, c))
}

// toFloat64 returns the value of the single counter or gauge c emits.
func toFloat64(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ms := collect(t, c)
	if len(ms) != 1 {
		t.Fatalf("collector emitted %d metrics, want 1", len(ms))
	}
	switch m := ms[0]; {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatal("metric is neither counter nor gauge")
	return 0
}
