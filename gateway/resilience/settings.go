package resilience

import (
	"slices"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/policy"
)

// Balance is a backend's balancing policy (policy.Balance, the config's
// backends[].balance).
type Balance = policy.Balance

const (
	// RoundRobin is weighted round-robin: over a cycle, an instance of
	// weight w gets w picks, interleaved (smooth weighted round-robin).
	// Settings with no valid Balance balance this way.
	RoundRobin = policy.RoundRobin
	// LeastOutstanding picks the instance with the fewest requests in flight
	// relative to its weight; ties go to the instances in rotating order.
	LeastOutstanding = policy.LeastOutstanding
)

// Settings are a backend's resilience settings, built from config.Backend by
// SettingsFrom. Values are taken as validated (config.Validate); NewBackend
// only guards against values that would break arithmetic.
type Settings struct {
	Balance Balance
	// MaxInFlight is the bulkhead: requests in flight to the backend over all
	// its instances. Zero or less: no limit.
	MaxInFlight int
	Health      HealthSettings
	Breaker     BreakerSettings
}

// HealthSettings configure active probing and passive ejection (see
// config.HealthCheck for their meaning and defaults).
type HealthSettings struct {
	Disabled        bool // no active probes; passive ejection still applies
	Path            string
	Interval        time.Duration
	Timeout         time.Duration
	UnhealthyAfter  int
	HealthyAfter    int
	PassiveFailures int
	EjectFor        time.Duration
	FlapHolddown    time.Duration
}

// BreakerSettings configure the backend's circuit breaker (see
// config.CircuitBreaker for their meaning and defaults).
type BreakerSettings struct {
	Disabled       bool
	Window         time.Duration
	MinRequests    int
	FailureRatio   float64
	OpenFor        time.Duration
	ProbeSuccesses int
	RampSteps      []int // percent of requests admitted per RampStep; 100 = closed
	RampStep       time.Duration
}

// equal reports whether two breakers would behave the same, so a reload can
// keep the breaker's state.
func (s BreakerSettings) equal(o BreakerSettings) bool {
	return s.Disabled == o.Disabled && s.Window == o.Window && s.MinRequests == o.MinRequests &&
		s.FailureRatio == o.FailureRatio && s.OpenFor == o.OpenFor &&
		s.ProbeSuccesses == o.ProbeSuccesses && s.RampStep == o.RampStep &&
		slices.Equal(s.RampSteps, o.RampSteps)
}

// InstanceSpec is one configured instance of a backend.
type InstanceSpec struct {
	URL    string // http://host:port or https://host:port
	Weight int    // zero or less counts as 1
}

// SettingsFrom converts a backend's configuration (defaults applied,
// validated) into Settings.
func SettingsFrom(b config.Backend) Settings {
	s := Settings{Balance: b.Balance, MaxInFlight: b.MaxInFlight}
	if !s.Balance.Valid() { // a config without defaults applied
		s.Balance = config.DefaultBalance
	}
	h := b.HealthCheck
	s.Health = HealthSettings{
		Disabled:        h.Disabled,
		Path:            h.Path,
		Interval:        h.Interval,
		Timeout:         h.Timeout,
		UnhealthyAfter:  h.UnhealthyAfter,
		HealthyAfter:    h.HealthyAfter,
		PassiveFailures: h.PassiveFailures,
		EjectFor:        h.EjectFor,
		FlapHolddown:    h.FlapHolddown,
	}
	c := b.CircuitBreaker
	s.Breaker = BreakerSettings{
		Disabled:       c.Disabled,
		Window:         c.Window,
		MinRequests:    c.MinRequests,
		FailureRatio:   c.FailureRatio,
		OpenFor:        c.OpenFor,
		ProbeSuccesses: c.ProbeSuccesses,
		RampSteps:      slices.Clone(c.RampSteps),
		RampStep:       c.RampStep,
	}
	return s
}

// InstancesFrom lists a backend's configured instances.
func InstancesFrom(b config.Backend) []InstanceSpec {
	out := make([]InstanceSpec, len(b.Instances))
	for i, in := range b.Instances {
		out[i] = InstanceSpec{URL: in.URL, Weight: in.Weight}
	}
	return out
}
