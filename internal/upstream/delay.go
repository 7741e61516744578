package upstream

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxDelay bounds every delay parameter and every sampled delay.
const MaxDelay = time.Hour

// delayKind is a latency distribution.
type delayKind uint8

const (
	delayNone delayKind = iota
	delayFixed
	delayUniform
	delayNormal
	delayLognormal
)

// Delay is a latency distribution, the value of Behavior.Delay. The zero
// value is no delay. Its text form (ParseDelay, String, JSON) is one of
//
//	none                    no delay ("" and "0" also mean none)
//	fixed:5ms               always 5ms (a bare duration, "5ms", means the same)
//	uniform:1ms-5ms         uniform over [1ms, 5ms) ("uniform:1ms,5ms" too)
//	normal:5ms,1ms          normal, mean 5ms, standard deviation 1ms,
//	                        clamped at 0
//	lognormal:5ms,0.5       log-normal with median 5ms and sigma 0.5 (the
//	                        standard deviation of the logarithm): a long
//	                        right tail, as real service latencies have
//
// Durations use time.ParseDuration syntax and must be within 0..MaxDelay;
// samples are clamped to 0..MaxDelay.
type Delay struct {
	kind  delayKind
	a, b  time.Duration // fixed: a; uniform: a..b; normal: mean a, stddev b; lognormal: median a
	sigma float64       // lognormal
}

// FixedDelay is always d.
func FixedDelay(d time.Duration) Delay {
	if d == 0 {
		return Delay{}
	}
	return Delay{kind: delayFixed, a: d}
}

// UniformDelay is uniform over [min, max).
func UniformDelay(min, max time.Duration) Delay {
	return Delay{kind: delayUniform, a: min, b: max}
}

// NormalDelay is normal with the given mean and standard deviation, clamped at 0.
func NormalDelay(mean, stddev time.Duration) Delay {
	return Delay{kind: delayNormal, a: mean, b: stddev}
}

// LognormalDelay is log-normal: median * exp(sigma * Z), Z standard normal.
func LognormalDelay(median time.Duration, sigma float64) Delay {
	return Delay{kind: delayLognormal, a: median, sigma: sigma}
}

// IsZero reports whether d is no delay.
func (d Delay) IsZero() bool { return d.kind == delayNone }

// ParseDelay parses the text form described at Delay.
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	kind, args, hasKind := strings.Cut(s, ":")
	if !hasKind {
		switch s {
		case "", "none", "0":
			return Delay{}, nil
		}
		kind, args = "fixed", s
	}
	var d Delay
	var err error
	switch kind {
	case "fixed":
		var v time.Duration
		v, err = parseDelayDuration(args)
		d = FixedDelay(v)
	case "uniform":
		lo, hi, ok := strings.Cut(args, ",")
		if !ok {
			lo, hi, ok = strings.Cut(args, "-")
		}
		if !ok {
			err = errors.New("want uniform:MIN-MAX")
			break
		}
		d.kind = delayUniform
		d.a, d.b, err = parseDelayPair(lo, hi)
	case "normal":
		mean, sd, ok := strings.Cut(args, ",")
		if !ok {
			err = errors.New("want normal:MEAN,STDDEV")
			break
		}
		d.kind = delayNormal
		d.a, d.b, err = parseDelayPair(mean, sd)
	case "lognormal":
		median, sigma, ok := strings.Cut(args, ",")
		if !ok {
			err = errors.New("want lognormal:MEDIAN,SIGMA")
			break
		}
		d.kind = delayLognormal
		if d.a, err = parseDelayDuration(median); err != nil {
			break
		}
		d.sigma, err = strconv.ParseFloat(strings.TrimSpace(sigma), 64)
		if err != nil {
			err = fmt.Errorf("sigma %q is not a number", sigma)
		}
	default:
		err = fmt.Errorf("unknown distribution %q (want none, fixed, uniform, normal or lognormal)", kind)
	}
	if err == nil {
		err = d.check()
	}
	if err != nil {
		return Delay{}, fmt.Errorf("parsing delay %q: %w", s, err)
	}
	return d, nil
}

func parseDelayDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 5ms", s)
	}
	return d, nil
}

func parseDelayPair(x, y string) (time.Duration, time.Duration, error) {
	a, err := parseDelayDuration(x)
	if err != nil {
		return 0, 0, err
	}
	b, err := parseDelayDuration(y)
	return a, b, err
}

// check reports what is wrong with d's parameters.
func (d Delay) check() error {
	inRange := func(what string, v time.Duration) error {
		if v < 0 || v > MaxDelay {
			return fmt.Errorf("%s %v out of range 0..%v", what, v, MaxDelay)
		}
		return nil
	}
	switch d.kind {
	case delayNone:
		return nil
	case delayFixed:
		return inRange("delay", d.a)
	case delayUniform:
		if err := errors.Join(inRange("min", d.a), inRange("max", d.b)); err != nil {
			return err
		}
		if d.b < d.a {
			return fmt.Errorf("max %v below min %v", d.b, d.a)
		}
		return nil
	case delayNormal:
		return errors.Join(inRange("mean", d.a), inRange("stddev", d.b))
	case delayLognormal:
		err := inRange("median", d.a)
		if d.a == 0 {
			err = errors.New("median must be above 0")
		}
		if math.IsNaN(d.sigma) || d.sigma < 0 || d.sigma > 10 {
			err = errors.Join(err, fmt.Errorf("sigma %v out of range 0..10", d.sigma))
		}
		return err
	}
	return fmt.Errorf("unknown distribution %d", d.kind)
}

// String returns the text form, which ParseDelay reads back.
func (d Delay) String() string {
	switch d.kind {
	case delayFixed:
		return "fixed:" + d.a.String()
	case delayUniform:
		return "uniform:" + d.a.String() + "-" + d.b.String()
	case delayNormal:
		return "normal:" + d.a.String() + "," + d.b.String()
	case delayLognormal:
		return "lognormal:" + d.a.String() + "," + strconv.FormatFloat(d.sigma, 'g', -1, 64)
	}
	return "none"
}

// MarshalText implements encoding.TextMarshaler (the JSON form is the text form).
func (d Delay) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Delay) UnmarshalText(b []byte) error {
	v, err := ParseDelay(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// sample draws one delay from d using r. Fixed and none draw nothing.
func (d Delay) sample(r *rng) time.Duration {
	var v float64
	switch d.kind {
	case delayNone:
		return 0
	case delayFixed:
		return d.a
	case delayUniform:
		v = float64(d.a) + r.float64()*float64(d.b-d.a)
	case delayNormal:
		v = float64(d.a) + r.norm()*float64(d.b)
	case delayLognormal:
		v = float64(d.a) * math.Exp(d.sigma*r.norm())
	}
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= float64(MaxDelay):
		return MaxDelay
	}
	return time.Duration(v)
}

// rng is a small deterministic random stream (SplitMix64). It is a value, so
// a request can own one on its stack: no lock, no allocation.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's output function, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// streamFor returns the stream of request number n under seed: the same
// (seed, n) always gives the same draws, and streams of different n start at
// unrelated points.
func streamFor(seed, n uint64) rng {
	return rng{s: mix64(mix64(seed+golden) ^ n)}
}

func (r *rng) uint64() uint64 {
	r.s += golden
	return mix64(r.s)
}

// float64 returns a number in [0, 1).
func (r *rng) float64() float64 {
	return float64(r.uint64()>>11) / (1 << 53)
}

// norm returns a standard normal number (Box-Muller, one of the pair).
func (r *rng) norm() float64 {
	u1 := 1 - r.float64() // (0, 1]: the logarithm stays finite
	u2 := r.float64()
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}
