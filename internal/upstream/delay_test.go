package upstream

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDelay(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Delay
		text string
	}{
		{"", Delay{}, "none"},
		{"none", Delay{}, "none"},
		{"0", Delay{}, "none"},
		{"fixed:0", Delay{}, "none"},
		{"5ms", FixedDelay(5 * time.Millisecond), "fixed:5ms"},
		{" fixed:1.5s ", FixedDelay(1500 * time.Millisecond), "fixed:1.5s"},
		{"uniform:1ms-5ms", UniformDelay(time.Millisecond, 5*time.Millisecond), "uniform:1ms-5ms"},
		{"uniform:1ms, 5ms", UniformDelay(time.Millisecond, 5*time.Millisecond), "uniform:1ms-5ms"},
		{"uniform:0-0", UniformDelay(0, 0), "uniform:0s-0s"},
		{"normal:5ms,1ms", NormalDelay(5*time.Millisecond, time.Millisecond), "normal:5ms,1ms"},
		{"normal:5ms,0", NormalDelay(5*time.Millisecond, 0), "normal:5ms,0s"},
		{"lognormal:5ms,0.5", LognormalDelay(5*time.Millisecond, 0.5), "lognormal:5ms,0.5"},
		{"lognormal:200us,1", LognormalDelay(200*time.Microsecond, 1), "lognormal:200µs,1"},
	} {
		got, err := ParseDelay(tc.in)
		if err != nil {
			t.Errorf("ParseDelay(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseDelay(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if s := got.String(); s != tc.text {
			t.Errorf("ParseDelay(%q).String() = %q, want %q", tc.in, s, tc.text)
		}
		if again, err := ParseDelay(got.String()); err != nil || again != got {
			t.Errorf("%q does not read back: %#v, %v", got.String(), again, err)
		}
	}

	for _, in := range []string{
		"soon", "-1ms", "fixed:", "fixed:x", "fixed:-1ms", "fixed:2h",
		"uniform:5ms", "uniform:5ms-1ms", "uniform:1ms-x", "uniform:1ms-2h",
		"normal:5ms", "normal:5ms,-1ms", "normal:-5ms,1ms",
		"lognormal:5ms", "lognormal:0,1", "lognormal:5ms,x", "lognormal:5ms,-1",
		"lognormal:5ms,NaN", "lognormal:5ms,11", "pareto:5ms,1",
	} {
		if d, err := ParseDelay(in); err == nil {
			t.Errorf("ParseDelay(%q) = %v, want an error", in, d)
		} else if !strings.Contains(err.Error(), "parsing delay") {
			t.Errorf("ParseDelay(%q): error %q lacks the prefix", in, err)
		}
	}
}

// samples draws n delays as the server does: request i uses stream (seed, i).
func samples(d Delay, seed uint64, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		rg := streamFor(seed, uint64(i+1))
		out[i] = d.sample(&rg)
	}
	return out
}

func meanSD(xs []time.Duration) (mean, sd float64) {
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)))
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol*math.Abs(want) }

func TestDelaySample(t *testing.T) {
	const n, seed = 20000, 42
	ms := float64(time.Millisecond)

	if xs := samples(Delay{}, seed, 10); slices.Max(xs) != 0 {
		t.Errorf("none: %v", xs)
	}
	if xs := samples(FixedDelay(5*time.Millisecond), seed, 100); slices.Min(xs) != 5*time.Millisecond || slices.Max(xs) != 5*time.Millisecond {
		t.Errorf("fixed: min %v max %v", slices.Min(xs), slices.Max(xs))
	}

	t.Run("uniform", func(t *testing.T) {
		xs := samples(UniformDelay(time.Millisecond, 5*time.Millisecond), seed, n)
		if lo, hi := slices.Min(xs), slices.Max(xs); lo < time.Millisecond || hi >= 5*time.Millisecond {
			t.Errorf("samples span %v..%v, want within [1ms, 5ms)", lo, hi)
		}
		mean, sd := meanSD(xs)
		if !near(mean, 3*ms, 0.02) || !near(sd, 4*ms/math.Sqrt(12), 0.03) {
			t.Errorf("mean %.3fms sd %.3fms, want 3ms and %.3fms", mean/ms, sd/ms, 4/math.Sqrt(12))
		}
		// Both halves are used.
		below := 0
		for _, x := range xs {
			if x < 3*time.Millisecond {
				below++
			}
		}
		if below < n*45/100 || below > n*55/100 {
			t.Errorf("%d of %d below the middle", below, n)
		}
	})

	t.Run("normal", func(t *testing.T) {
		xs := samples(NormalDelay(5*time.Millisecond, time.Millisecond), seed, n)
		mean, sd := meanSD(xs)
		if !near(mean, 5*ms, 0.01) || !near(sd, ms, 0.03) {
			t.Errorf("mean %.3fms sd %.3fms, want 5ms and 1ms", mean/ms, sd/ms)
		}
		within := 0 // about 68.3% within one standard deviation
		for _, x := range xs {
			if x > 4*time.Millisecond && x < 6*time.Millisecond {
				within++
			}
		}
		if f := float64(within) / n; f < 0.66 || f > 0.71 {
			t.Errorf("%.3f within one sd, want about 0.683", f)
		}
	})

	t.Run("normal clamped", func(t *testing.T) {
		xs := samples(NormalDelay(time.Millisecond, 2*time.Millisecond), seed, n)
		zeros := 0
		for _, x := range xs {
			if x < 0 {
				t.Fatalf("negative sample %v", x)
			}
			if x == 0 {
				zeros++
			}
		}
		// P(Z < -0.5) is about 0.31: those are clamped to 0.
		if f := float64(zeros) / n; f < 0.28 || f > 0.34 {
			t.Errorf("%.3f clamped to 0, want about 0.31", f)
		}
	})

	t.Run("lognormal", func(t *testing.T) {
		const sigma = 0.5
		xs := samples(LognormalDelay(5*time.Millisecond, sigma), seed, n)
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		if sorted[0] <= 0 {
			t.Errorf("non-positive sample %v", sorted[0])
		}
		if med := float64(sorted[n/2]); !near(med, 5*ms, 0.03) {
			t.Errorf("median %.3fms, want 5ms", med/ms)
		}
		mean, _ := meanSD(xs)
		if want := 5 * ms * math.Exp(sigma*sigma/2); !near(mean, want, 0.03) {
			t.Errorf("mean %.3fms, want %.3fms", mean/ms, want/ms)
		}
		// The right tail: p99 = median * exp(2.326 sigma), about 16ms.
		if p99, want := float64(sorted[n*99/100]), 5*ms*math.Exp(2.326*sigma); !near(p99, want, 0.08) {
			t.Errorf("p99 %.3fms, want about %.3fms", p99/ms, want/ms)
		}
	})

	t.Run("huge values are clamped", func(t *testing.T) {
		xs := samples(LognormalDelay(MaxDelay, 10), seed, 1000)
		if slices.Max(xs) != MaxDelay {
			t.Errorf("max %v, want MaxDelay", slices.Max(xs))
		}
	})

	t.Run("seeded", func(t *testing.T) {
		d := NormalDelay(5*time.Millisecond, time.Millisecond)
		a, b, c := samples(d, 1, 100), samples(d, 1, 100), samples(d, 2, 100)
		if !slices.Equal(a, b) {
			t.Error("the same seed gave different draws")
		}
		if slices.Equal(a, c) {
			t.Error("different seeds gave the same draws")
		}
	})
}

func TestRNGUniformity(t *testing.T) {
	// Draws across request streams fill [0, 1) evenly (10 buckets).
	var buckets [10]int
	for i := range 10000 {
		rg := streamFor(0, uint64(i))
		buckets[int(rg.float64()*10)]++
	}
	for i, c := range buckets {
		if c < 880 || c > 1120 {
			t.Errorf("bucket %d has %d of 10000", i, c)
		}
	}
}
