package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func ptr[T any](v T) *T { return &v }

// TestVersionRules walks one Manager through the version rules, checking
// the outcome, the served version and what the node applied after each step.
func TestVersionRules(t *testing.T) {
	e := newEnv(t)
	v3 := baseSpec(3).yaml()
	steps := []struct {
		name        string
		raw         []byte
		sub         Submission
		wantErr     error
		wantOutcome Outcome
		wantServed  int64
	}{
		{"version 0 on nothing -> 1", baseSpec(0).yaml(), Submission{Source: SourceStartup}, nil, OutcomeApplied, 1},
		{"version 0 again -> served+1", baseSpec(0).yaml(), Submission{Source: SourceFile}, nil, OutcomeApplied, 2},
		{"declared 3 > 2", v3, Submission{Source: SourceFile}, nil, OutcomeApplied, 3},
		{"same version, same bytes: no-op", v3, Submission{Source: SourceFile}, nil, OutcomeNoop, 3},
		{"same version, other bytes: stale", append(bytes.Clone(v3), "# edited\n"...), Submission{Source: SourceFile}, ErrStale, OutcomeStale, 3},
		{"older version: stale", baseSpec(2).yaml(), Submission{Source: SourceFile}, ErrStale, OutcomeStale, 3},
		{"CAS with the wrong expected version", baseSpec(0).yaml(), Submission{Source: SourceAdmin, ExpectedVersion: ptr[int64](2)}, ErrConflict, OutcomeConflict, 3},
		{"CAS with the right expected version", baseSpec(0).yaml(), Submission{Source: SourceAdmin, ExpectedVersion: ptr[int64](3)}, nil, OutcomeApplied, 4},
		{"assigned version (etcd meta) for a config declaring none", baseSpec(0).yaml(), Submission{Source: SourceEtcd, Version: 9}, nil, OutcomeApplied, 9},
		{"assigned version again, same bytes: no-op", baseSpec(0).yaml(), Submission{Source: SourceEtcd, Version: 9}, nil, OutcomeNoop, 9},
		{"assigned version not above served: stale", append(baseSpec(0).yaml(), "# edited\n"...), Submission{Source: SourceEtcd, Version: 9}, ErrStale, OutcomeStale, 9},
		{"declared and assigned disagree", baseSpec(12).yaml(), Submission{Source: SourceEtcd, Version: 11}, config.Problems{}, OutcomeRejected, 9},
		{"declared and assigned agree", baseSpec(12).yaml(), Submission{Source: SourceEtcd, Version: 12}, nil, OutcomeApplied, 12},
	}
	var wantApplied []int64
	for _, s := range steps {
		res, err := e.m.Submit(s.raw, s.sub)
		switch want := s.wantErr.(type) {
		case nil:
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		case config.Problems:
			if _, ok := isProblems(err); !ok {
				t.Fatalf("%s: err = %v, want config.Problems", s.name, err)
			}
		default:
			if !errors.Is(err, want) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, want)
			}
		}
		if res.Outcome != s.wantOutcome || res.Version != s.wantServed {
			t.Fatalf("%s: result %+v, want outcome %s serving %d", s.name, res, s.wantOutcome, s.wantServed)
		}
		if v, _ := e.m.Current(); v != s.wantServed || e.target.Version() != s.wantServed {
			t.Fatalf("%s: Current %d, node %d, want %d", s.name, v, e.target.Version(), s.wantServed)
		}
		if s.wantOutcome == OutcomeApplied {
			wantApplied = append(wantApplied, s.wantServed)
			if ev := <-e.applied; ev.Version != s.wantServed || ev.Source != s.sub.Source {
				t.Fatalf("%s: Applied hook %+v", s.name, ev)
			}
		}
		entry := e.audit.next(t)
		if entry["result"] != string(s.wantOutcome) {
			t.Fatalf("%s: audit result %v, want %s", s.name, entry["result"], s.wantOutcome)
		}
	}
	if got := e.target.appliedVersions(); !reflect.DeepEqual(got, wantApplied) {
		t.Errorf("node applied %v, want %v", got, wantApplied)
	}
	if len(e.applied) != 0 {
		t.Errorf("extra Applied events: %d", len(e.applied))
	}
}

// TestInvalidConfigListsEveryProblem: every problem, with file and line,
// and the served snapshot untouched.
func TestInvalidConfigListsEveryProblem(t *testing.T) {
	e := newEnv(t)
	good := baseSpec(0).yaml()
	e.mustSubmit(t, good, Submission{Source: SourceStartup})
	<-e.audit.entries

	res, err := e.m.Submit([]byte(invalidYAML), Submission{Source: SourceFile, Name: "gateway.yaml"})
	ps, ok := isProblems(err)
	if !ok {
		t.Fatalf("err = %v, want config.Problems", err)
	}
	wantPaths := []string{"admin.colour", `rate_limits.tiers[0] (name "basic").limit`, `routes[0] (id "users").pattern`, `routes[1] (id "orders").backend`, `routes[1] (id "orders").rate_limit_tier`}
	for _, path := range wantPaths {
		found := false
		for _, p := range ps {
			if strings.Contains(p.Path+" "+p.Msg, strings.TrimPrefix(path, "admin.")) && p.File == "gateway.yaml" && p.Line > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem about %s with file and line in:\n%v", path, err)
		}
	}
	if res.Outcome != OutcomeRejected || res.Version != 1 {
		t.Errorf("result %+v", res)
	}
	if v, raw := e.m.Current(); v != 1 || !bytes.Equal(raw, good) {
		t.Errorf("after a rejection serving %d %q", v, raw)
	}
	if got := e.target.appliedVersions(); !reflect.DeepEqual(got, []int64{1}) {
		t.Errorf("node applied %v", got)
	}
	entry := e.audit.next(t)
	probs, _ := entry["problems"].([]any)
	if entry["result"] != "rejected" || len(probs) != len(ps) {
		t.Errorf("audit entry %v: want rejected with %d problems", entry, len(ps))
	}
	if err := e.m.Validate([]byte(invalidYAML)); err == nil {
		t.Error("Validate accepted the invalid config")
	}
}

// TestApplyFailureChangesNothing: the node refuses to build the snapshot.
func TestApplyFailureChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.mustSubmit(t, baseSpec(0).yaml(), Submission{Source: SourceStartup})
	<-e.audit.entries
	e.target.setFail(errors.New("engine router \"nope\" is unknown"))
	res, err := e.m.Submit(baseSpec(5).yaml(), Submission{Source: SourceFile})
	if err == nil || res.Outcome != OutcomeRejected || res.Version != 1 || res.Proposed != 5 {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	if _, raw, _ := LoadLastGoodVersion(e.state); !bytes.Equal(raw, baseSpec(0).yaml()) {
		t.Errorf("a failed apply replaced the last-good snapshot")
	}
	entry := e.audit.next(t)
	if entry["result"] != "rejected" || entry["to_version"] != 5.0 || !strings.Contains(e.audit.String(), "unknown") {
		t.Errorf("audit entry %v", entry)
	}
	e.target.setFail(nil)
	if res := e.mustSubmit(t, baseSpec(5).yaml(), Submission{Source: SourceFile}); res.Version != 5 {
		t.Errorf("after the node recovers: %+v", res)
	}
}

// TestLastGoodRoundTrip: every apply is saved, LoadLastGood returns it, a
// restored snapshot keeps its version, and a rejected config is never saved.
func TestLastGoodRoundTrip(t *testing.T) {
	e := newEnv(t)
	if _, err := LoadLastGood(e.state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadLastGood on an empty dir: %v, want fs.ErrNotExist", err)
	}
	raw1 := baseSpec(0).yaml()
	e.mustSubmit(t, raw1, Submission{Source: SourceStartup})
	raw7 := baseSpec(7).yaml()
	e.mustSubmit(t, raw7, Submission{Source: SourceAdmin})
	e.m.Submit([]byte(invalidYAML), Submission{Source: SourceAdmin})

	got, err := LoadLastGood(e.state)
	if err != nil || !bytes.Equal(got, raw7) {
		t.Fatalf("LoadLastGood = %q, %v; want version 7's YAML", got, err)
	}
	fi, err := os.Stat(filepath.Join(e.state, lastGoodFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v (want 0600: it holds hashes)", err, fi.Mode())
	}

	// A restarted node restores version 7 under the same version.
	e2 := newEnv(t)
	v, raw, err := LoadLastGoodVersion(e.state)
	if err != nil || v != 7 {
		t.Fatalf("LoadLastGoodVersion = %d, %v", v, err)
	}
	res := e2.mustSubmit(t, raw, Submission{Source: SourceStartup, Version: v})
	if res.Version != 7 {
		t.Errorf("restored as version %d, want 7", res.Version)
	}
	// A YAML declaring no version is restored under its saved version too.
	e3 := newEnv(t)
	e3.mustSubmit(t, raw1, Submission{Source: SourceStartup, Version: 4})
	v, raw, _ = LoadLastGoodVersion(e3.state)
	e4 := newEnv(t)
	if res := e4.mustSubmit(t, raw, Submission{Source: SourceStartup, Version: v}); res.Version != 4 {
		t.Errorf("restored a version-less YAML as %d, want 4", res.Version)
	}
}

// TestTornWriteNeverReplacesLastGood: a crash while saving leaves a partial
// temporary file; the good file is still what LoadLastGood returns, and the
// next save removes the leftover. A damaged state file is an error, never a
// partial config.
func TestTornWriteNeverReplacesLastGood(t *testing.T) {
	e := newEnv(t)
	good := baseSpec(2).yaml()
	e.mustSubmit(t, good, Submission{Source: SourceStartup})

	// What a crash half-way through writeLastGood leaves behind.
	full, _ := json.Marshal(lastGood{Version: 3, Checksum: checksum(baseSpec(3).yaml()), Config: string(baseSpec(3).yaml())})
	torn := filepath.Join(e.state, lastGoodFile+".tmp-123456")
	if err := os.WriteFile(torn, full[:len(full)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	v, raw, err := LoadLastGoodVersion(e.state)
	if err != nil || v != 2 || !bytes.Equal(raw, good) {
		t.Fatalf("with a torn temporary file: %d %q %v", v, raw, err)
	}
	e.mustSubmit(t, baseSpec(3).yaml(), Submission{Source: SourceFile})
	if _, err := os.Stat(torn); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the torn temporary file was not cleaned up: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(e.state, "*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Damage: truncated, or a flipped byte inside the config.
	path := filepath.Join(e.state, lastGoodFile)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)-10], 0o600)
	if raw, err := LoadLastGood(e.state); err == nil || raw != nil {
		t.Errorf("truncated state file: %q, %v", raw, err)
	}
	flipped := bytes.Replace(data, []byte("/api/users/*"), []byte("/api/usurp/*"), 1)
	os.WriteFile(path, flipped, 0o600)
	if raw, err := LoadLastGood(e.state); err == nil || raw != nil || !errors.Is(err, errDamaged) {
		t.Errorf("damaged state file: %q, %v", raw, err)
	}
}

// TestConcurrentSubmitsMoveForward: Submits from many goroutines are
// serialized; versions only move forward and the node sees every one once.
func TestConcurrentSubmitsMoveForward(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := baseSpec(0)
			s.Tiers[0].Limit = 100 + i
			if _, err := e.m.Submit(s.yaml(), Submission{Source: SourceAdmin}); err != nil {
				t.Errorf("Submit: %v", err)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.m.Current()
			e.m.Validate(baseSpec(0).yaml())
		}()
	}
	wg.Wait()
	got := e.target.appliedVersions()
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("node applied %v, want 1..20 in order", got)
		}
	}
	if len(got) != 20 {
		t.Fatalf("node applied %d snapshots, want 20", len(got))
	}
}

// TestAuditEntries checks the fields of each kind of entry, the diff
// summary, and that no secret is written (also checked by newEnv's cleanup
// for every test).
func TestAuditEntries(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2031, 2, 3, 4, 5, 6, 789, time.UTC)
	e.m.opts.Now = func() time.Time { return now }

	e.mustSubmit(t, baseSpec(0).yaml(), Submission{Source: SourceStartup, Actor: "boot"})
	first := e.audit.next(t)
	want := map[string]any{
		"time": "2031-02-03T04:05:06.000000789Z", "actor": "boot", "source": "startup", "result": "applied",
		"from_version": 0.0, "to_version": 1.0,
		"diff": map[string]any{
			"routes":           map[string]any{"added": []any{"users", "orders"}},
			"backends":         map[string]any{"added": []any{"users", "orders"}},
			"rate_limit_tiers": map[string]any{"added": []any{"basic"}},
			"sections":         []any{"listen", "limits", "engines", "gateway", "access_log", "auth", "shedding", "admin"},
		},
	}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first entry\n got %v\nwant %v", first, want)
	}

	next := baseSpec(0)
	next.Routes = []route{{"users", "/api/v2/users/*", "users", "basic"}, {"search", "/api/search", "users", ""}}
	next.Backends = []string{"users", "search"}
	next.Routes[1].Backend = "search"
	next.Tiers = []tier{{"basic", 200}, {"burst", 10}}
	next.Shedding = 0.5
	published := time.Date(2031, 2, 3, 4, 5, 5, 0, time.UTC)
	e.mustSubmit(t, next.yaml(), Submission{Source: SourceEtcd, Actor: "ci", PublishedAt: published})
	second := e.audit.next(t)
	wantDiff := map[string]any{
		"routes":           map[string]any{"added": []any{"search"}, "removed": []any{"orders"}, "changed": []any{"users"}},
		"backends":         map[string]any{"added": []any{"search"}, "removed": []any{"orders"}},
		"rate_limit_tiers": map[string]any{"added": []any{"burst"}, "changed": []any{"basic"}},
		"sections":         []any{"shedding"},
	}
	if !reflect.DeepEqual(second["diff"], wantDiff) || second["published_at"] != "2031-02-03T04:05:05Z" ||
		second["from_version"] != 1.0 || second["to_version"] != 2.0 || second["actor"] != "ci" {
		t.Errorf("second entry %v\nwant diff %v", second, wantDiff)
	}

	// Conflict, stale, no-op, rejected.
	e.m.Submit(next.yaml(), Submission{Source: SourceAdmin, Actor: "ops", ExpectedVersion: ptr[int64](1)})
	if c := e.audit.next(t); c["result"] != "conflict" || c["actor"] != "ops" || c["from_version"] != 2.0 || c["to_version"] != 0.0 || c["diff"] != nil {
		t.Errorf("conflict entry %v", c)
	}
	e.m.Submit(baseSpec(2).yaml(), Submission{Source: SourceAdmin, Actor: "ops"})
	if s := e.audit.next(t); s["result"] != "stale" || s["to_version"] != 2.0 || s["problems"] == nil {
		t.Errorf("stale entry %v", s)
	}
	e.mustSubmit(t, baseSpec(5).yaml(), Submission{Source: SourceFile})
	e.audit.next(t)
	e.mustSubmit(t, baseSpec(5).yaml(), Submission{Source: SourceFile})
	if n := e.audit.next(t); n["result"] != "noop" || n["from_version"] != 5.0 || n["to_version"] != 5.0 || n["diff"] != nil {
		t.Errorf("noop entry %v", n)
	}

	// A type error quotes (a prefix of) the value; an error from the node
	// may quote anything: long hex strings are scrubbed.
	bad := baseSpec(0)
	bad.Extra = "limits:\n  max_header_bytes: " + hashOf(opsToken) + "\n"
	e.m.Submit(bad.yaml(), Submission{Source: SourceFile})
	if r := e.audit.next(t); r["result"] != "rejected" || r["problems"] == nil {
		t.Errorf("rejected entry %v", r)
	}
	e.target.setFail(errors.New("admin token " + hashOf(deployToken) + " clashes"))
	e.m.Submit(baseSpec(6).yaml(), Submission{Source: SourceFile})
	if r := e.audit.next(t); r["result"] != "rejected" || !strings.Contains(e.audit.String(), "admin token [redacted] clashes") {
		t.Errorf("rejected entry %v", r)
	}
	for _, s := range secrets() {
		if strings.Contains(e.audit.String(), s) {
			t.Fatalf("audit log holds %q", s)
		}
	}
	if strings.Contains(e.audit.String(), "/api/users/*") || strings.Contains(e.audit.String(), "127.0.0.1:91") {
		t.Errorf("audit log holds raw config:\n%s", e.audit.String())
	}
}

// TestDiffConfigs is the diff table.
func TestDiffConfigs(t *testing.T) {
	parse := func(s spec) *config.Config {
		c, err := config.Parse(s.yaml(), "", "")
		if err != nil {
			t.Fatalf("%v", err)
		}
		return c
	}
	base := baseSpec(0)
	reorder := baseSpec(0)
	reorder.Routes[0], reorder.Routes[1] = reorder.Routes[1], reorder.Routes[0]
	newToken := baseSpec(0)
	newToken.Tokens = []string{"ops"}
	version := baseSpec(9)
	for _, tc := range []struct {
		name string
		old  *config.Config
		cur  spec
		want diff
	}{
		{"identical", parse(base), base, diff{}},
		{"version only", parse(base), version, diff{}},
		{"order only", parse(base), reorder, diff{Routes: changes{Reordered: true}}},
		{"admin token removed", parse(base), newToken, diff{Sections: []string{"admin"}}},
	} {
		got := diffConfigs(tc.old, parse(tc.cur))
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, *got, tc.want)
		}
	}
}
