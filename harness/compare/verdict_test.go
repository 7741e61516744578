package compare

import (
	"strings"
	"testing"
	"time"
)

func TestEvaluate(t *testing.T) {
	valid := func(name string, rps float64) Summary {
		return Summary{Target: name, Trials: 3, Valid: true, MedianRPS: rps}
	}
	for _, tc := range []struct {
		name      string
		summaries []Summary
		want      []string // console lines
		exit      int
	}{
		{
			name:      "both pass",
			summaries: []Summary{valid(TargetNginx, 1000), valid(TargetFasthttp, 870), valid(TargetNethttp, 550)},
			want:      []string{"PASS fasthttp/nginx >= 0.80: 0.87", "PASS nethttp/nginx >= 0.40: 0.55"},
			exit:      0,
		},
		{
			name:      "exactly at the threshold passes",
			summaries: []Summary{valid(TargetNginx, 1000), valid(TargetFasthttp, 800), valid(TargetNethttp, 400)},
			want:      []string{"PASS fasthttp/nginx >= 0.80: 0.80", "PASS nethttp/nginx >= 0.40: 0.40"},
			exit:      0,
		},
		{
			name:      "fasthttp fails",
			summaries: []Summary{valid(TargetNginx, 1000), valid(TargetFasthttp, 790), valid(TargetNethttp, 550)},
			want:      []string{"FAIL fasthttp/nginx >= 0.80: 0.79", "PASS nethttp/nginx >= 0.40: 0.55"},
			exit:      1,
		},
		{
			name: "an invalid target makes its check INVALID and the run exit 2",
			summaries: []Summary{valid(TargetNginx, 1000), valid(TargetFasthttp, 300),
				{Target: TargetNethttp, Trials: 3, MedianRPS: 900, Invalid: []string{"rep 2: success 97.00% < 99%"}}},
			want: []string{"FAIL fasthttp/nginx >= 0.80: 0.30",
				"INVALID nethttp/nginx >= 0.40: gatelab-nethttp INVALID: rep 2: success 97.00% < 99%"},
			exit: 2,
		},
		{
			name:      "nginx not installed: SKIP, not a failure",
			summaries: []Summary{valid(TargetDirect, 2000), {Target: TargetNginx, Skipped: "nginx is not installed"}, valid(TargetFasthttp, 900), valid(TargetNethttp, 500)},
			want: []string{"SKIP fasthttp/nginx >= 0.80: nginx skipped: nginx is not installed",
				"SKIP nethttp/nginx >= 0.40: nginx skipped: nginx is not installed"},
			exit: 0,
		},
		{
			name:      "targets not selected",
			summaries: []Summary{valid(TargetDirect, 2000), valid(TargetFasthttp, 900)},
			want: []string{"SKIP fasthttp/nginx >= 0.80: nginx not in -targets",
				"SKIP nethttp/nginx >= 0.40: gatelab-nethttp and nginx not in -targets"},
			exit: 0,
		},
		{
			name:      "an invalid direct baseline invalidates the run",
			summaries: []Summary{{Target: TargetDirect, Invalid: []string{"not measured"}}, valid(TargetNginx, 1000), valid(TargetFasthttp, 900), valid(TargetNethttp, 500)},
			want:      []string{"PASS fasthttp/nginx >= 0.80: 0.90", "PASS nethttp/nginx >= 0.40: 0.50"},
			exit:      2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks := evaluate(DefaultChecks, tc.summaries)
			var got []string
			for _, c := range checks {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if code := exitCodeFor(nil, tc.summaries, checks); code != tc.exit {
				t.Errorf("exit code %d, want %d", code, tc.exit)
			}
		})
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	s := []Summary{{Target: TargetNginx, Trials: 1, Valid: true, MedianRPS: 1000}, {Target: TargetFasthttp, Trials: 1, Valid: true, MedianRPS: 900}}
	if code := exitCodeFor([]string{"interrupted"}, s, evaluate(DefaultChecks[:1], s)); code != 2 {
		t.Errorf("interrupted run: exit %d, want 2", code)
	}
}

func TestJudgeTrial(t *testing.T) {
	for _, tc := range []struct {
		name  string
		t     Trial
		valid bool
		why   string
	}{
		{"all 2xx", Trial{Requests: 100, OK: 100, SuccessRatio: 1}, true, ""},
		{"99% is enough", Trial{Requests: 100, OK: 99, SuccessRatio: 0.99}, true, ""},
		{"nothing completed", Trial{}, false, "no request completed in the measured window"},
		{"below 99%", Trial{Requests: 1000, OK: 980, SuccessRatio: 0.98,
			Status: map[string]int64{"200": 980, "503": 15, "0": 5},
			Errors: map[string]int64{"503 Service Unavailable": 15, "connection refused": 5}},
			false, `success 98.00% < 99% (no response: 5, status 200: 980, status 503: 15, 15x "503 Service Unavailable", 5x "connection refused")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			valid, why := judgeTrial(tc.t)
			if valid != tc.valid || why != tc.why {
				t.Errorf("judgeTrial = %v %q, want %v %q", valid, why, tc.valid, tc.why)
			}
		})
	}
}

func TestNotOnInvalidRun(t *testing.T) {
	s := []Summary{
		{Target: TargetDirect, Trials: 1, Invalid: []string{"rep 1: no request completed in the measured window"}},
		{Target: TargetNginx, Trials: 1, Valid: true, MedianRPS: 1000},
		{Target: TargetFasthttp, Trials: 1, Valid: true, MedianRPS: 900},
	}
	checks := evaluate(DefaultChecks, s)
	why := runInvalidity(nil, s)
	got := notOnInvalidRun(checks, why)
	if want := "INVALID fasthttp/nginx >= 0.80: observed 0.90, not evaluated: the run is INVALID (direct INVALID)"; got[0].String() != want {
		t.Errorf("got %q\nwant %q", got[0], want)
	}
	if got[1].Verdict != Skip {
		t.Errorf("a skipped check became %s", got[1].Verdict)
	}
	if checks[0].Verdict != Pass {
		t.Error("notOnInvalidRun modified its input")
	}
	if same := notOnInvalidRun(checks, nil); same[0].Verdict != Pass {
		t.Error("a valid run's checks changed")
	}
}

func TestYAMLDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		60 * time.Second: "1m", 30 * time.Second: "30s", 30 * time.Minute: "30m", 2 * time.Hour: "2h",
		1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := yamlDuration(d); got != want {
			t.Errorf("yamlDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
