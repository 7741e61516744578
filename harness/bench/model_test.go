package bench

import "testing"

func sends(start, step int64, n int) []sent {
	s := make([]sent, n)
	for i := range s {
		s[i] = sent{at: start + int64(i)*step, count: true}
	}
	return s
}

func TestModelAdmits(t *testing.T) {
	const sec = int64(1e9)
	cases := []struct {
		name     string
		ss       []sent
		algo     string
		limit, w int64
		want     int64
	}{
		// 100/s for 1 s against 50 per 1 s, starting on a window edge:
		// the first 50 pass, then the window is full.
		{"sliding one window", sends(10*sec, sec/100, 100), "sliding_window", 50, sec, 50},
		// Under the limit everything passes.
		{"sliding under", sends(10*sec, sec/10, 30), "sliding_window", 50, sec, 30},
		// GCRA: a burst of the limit, then one per emission interval
		// (20 ms): 200 sends 5 ms apart over 1 s admit 50 + 1000/20 - ...
		{"gcra burst", sends(0, 0, 80), "gcra", 50, sec, 50},
		{"gcra under", sends(0, 30*sec/1000, 40), "gcra", 50, sec, 40},
		// Over three windows at twice the limit, the sliding window admits
		// about the limit per window.
		{"sliding three windows", sends(20*sec, sec/100, 300), "sliding_window", 50, sec, 150},
	}
	for _, c := range cases {
		got := modelAdmits(c.ss, c.algo, c.limit, c.w)
		// The sliding window's second and third windows admit at the
		// weighted boundary: allow one either way.
		if got < c.want-1 || got > c.want+1 {
			t.Errorf("%s: admitted %d, want %d", c.name, got, c.want)
		}
	}
	// Only counted sends are counted, but every send moves the state.
	ss := sends(10*sec, sec/100, 100)
	for i := range ss[:50] {
		ss[i].count = false
	}
	if got := modelAdmits(ss, "sliding_window", 50, sec); got != 0 {
		t.Errorf("the first 50 filled the window, yet %d later ones were admitted", got)
	}
}

func TestTrialOrderAlternates(t *testing.T) {
	a, b, c := &target{}, &target{}, &target{}
	ts := []*target{a, b, c}
	for rep, want := range map[int][]*target{1: {a, b, c}, 2: {c, b, a}, 3: {a, b, c}, 4: {c, b, a}} {
		got := trialOrder(ts, rep)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("rep %d: position %d is not the expected target", rep, i)
			}
		}
	}
	if ts[0] != a || ts[2] != c {
		t.Error("trialOrder changed the scenario's target list")
	}
}
