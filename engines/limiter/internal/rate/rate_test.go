package rate

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestSlidingBruteForce checks Sliding against a direct evaluation of the
// sliding-window rule on small windows: admitted iff
// prev*(w-elapsed) + cur*w < limit*w; Remaining counts the further admissions
// at the same instant; a rejection's Reset is the first later instant at
// which a request would be admitted (in this window, in the next, where the
// current count becomes the previous, or at the start of the one after).
func TestSlidingBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		w := 1 + rng.Int64N(40)
		limit := 1 + rng.Int64N(12)
		prev, cur := rng.Int64N(2*limit+1), rng.Int64N(limit+2)
		start := (rng.Int64N(100) - 50) * w
		n := start + rng.Int64N(w)
		now := n + rng.Int64N(3) // a clock that stepped back decides at n < now
		d := Sliding(prev, cur, limit, w, start, n, now)

		admits := func(p, c, elapsed int64) bool { return p*(w-elapsed)+c*w < limit*w }
		var want Decision
		if admits(prev, cur, n-start) {
			want.Allowed = true
			for k := int64(1); admits(prev, cur+k, n-start); k++ {
				want.Remaining++
			}
			want.Reset = start + w
		} else {
			at, found := int64(0), false
			for i := n + 1; i <= start+2*w && !found; i++ { // the window after next is empty
				if (i < start+w && admits(prev, cur, i-start)) || (i >= start+w && admits(cur, 0, min(i-start-w, w))) {
					at, found = i, true
				}
			}
			if !found {
				t.Fatalf("no admission up to two windows on for prev %d cur %d limit %d", prev, cur, limit)
			}
			want.Reset = at
			want.RetryAfter = time.Duration(at - now)
		}
		if d != want {
			t.Fatalf("Sliding(prev %d, cur %d, limit %d, w %d, start %d, n %d, now %d) = %+v, want %+v",
				prev, cur, limit, w, start, n, now, d, want)
		}
	}
}

func TestSlidingCount(t *testing.T) {
	for _, c := range []struct{ prev, cur, w, elapsed, want int64 }{
		{0, 0, 10, 3, 0},
		{10, 0, 10, 0, 10},    // the previous window weighs fully at the boundary
		{10, 0, 10, 5, 5},     // half of it halfway
		{10, 2, 10, 7, 5},     // 3 + 2
		{3, 1, 10, 5, 3},      // ceil(1.5) + 1
		{1, 0, 1 << 60, 1, 1}, // rounds up, no overflow
	} {
		if got := SlidingCount(c.prev, c.cur, c.w, c.elapsed); got != c.want {
			t.Errorf("SlidingCount(%d, %d, %d, %d) = %d, want %d", c.prev, c.cur, c.w, c.elapsed, got, c.want)
		}
	}
}

// TestGCRA: limit 3, emission interval 10 (burst tolerance 20), from a fresh
// key at 100: three admissions, then a rejection until 110.
func TestGCRA(t *testing.T) {
	tat := int64(0)
	for i, want := range []struct {
		now     int64
		allowed bool
		rem     int64
		reset   int64
		retry   time.Duration
		tat     int64
	}{
		{100, true, 2, 110, 0, 110},
		{100, true, 1, 120, 0, 120},
		{100, true, 0, 130, 0, 130},
		{100, false, 0, 110, 10, 130},
		{109, false, 0, 110, 1, 130},
		{110, true, 0, 140, 0, 140},
		{200, true, 2, 210, 0, 210}, // idle long enough: a full burst again
	} {
		d, next := GCRA(tat, want.now, 3, 10)
		if d.Allowed != want.allowed || d.Remaining != want.rem ||
			d.Reset != want.reset || d.RetryAfter != want.retry || next != want.tat {
			t.Fatalf("step %d at %d: %+v, TAT %d; want allowed %v remaining %d reset %d retry %v TAT %d",
				i, want.now, d, next, want.allowed, want.rem, want.reset, want.retry, want.tat)
		}
		tat = next
	}
}

// TestGCRABurst: from a fresh key, exactly limit requests at one instant are
// admitted, whether or not limit divides the window.
func TestGCRABurst(t *testing.T) {
	for _, c := range []struct{ limit, window int64 }{{10, 1000}, {7, 1000}, {1, 5}, {1000, 999}} {
		interval := max(1, c.window/c.limit)
		tat, admitted := int64(0), int64(0)
		for range 2 * c.limit {
			d, next := GCRA(tat, 1_000_000, c.limit, interval)
			tat = next
			if d.Allowed {
				admitted++
			}
		}
		if admitted != c.limit {
			t.Errorf("limit %d window %d: %d admitted in a burst, want %d", c.limit, c.window, admitted, c.limit)
		}
	}
}

// TestCarry: the conversions keep the count a state holds.
func TestCarry(t *testing.T) {
	const now = 1_000_000
	for count := int64(0); count < 50; count++ {
		for _, t1 := range []int64{1, 3, 10, 1000} {
			tat := CountTAT(count, now, t1)
			if count == 0 && tat != 0 {
				t.Fatalf("CountTAT(0) = %d, want 0 (a fresh key)", tat)
			}
			if got := GCRACount(tat, now, t1); got != count {
				t.Fatalf("GCRACount(CountTAT(%d, t %d)) = %d", count, t1, got)
			}
			for _, t2 := range []int64{1, 7, 10, 1000} {
				got := RescaleTAT(tat, now, t1, t2)
				if want := CountTAT(count, now, t2); got != want {
					t.Fatalf("RescaleTAT(count %d, t %d -> %d) = %d, want %d", count, t1, t2, got, want)
				}
			}
		}
	}
	if got := GCRACount(now+25, now, 10); got != 3 {
		t.Errorf("GCRACount of a debt of 2.5 intervals = %d, want 3 (rounded up)", got)
	}
	if got := CountTAT(1<<62, now, 1<<20); got != now+MaxDebt {
		t.Errorf("CountTAT saturation = %d, want now+MaxDebt", got)
	}
	if got := RescaleTAT(now+MaxDebt, now, 1, 1<<20); got != now+MaxDebt {
		t.Errorf("RescaleTAT saturation = %d, want now+MaxDebt", got)
	}
}
