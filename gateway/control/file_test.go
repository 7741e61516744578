package control

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeByRename saves data as editors do: a new file renamed over the old.
func writeByRename(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startWatchFile runs WatchFile until the test ends, and checks it returns
// nil and leaves no goroutine behind.
func startWatchFile(t *testing.T, e *env, path string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.m.WatchFile(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("WatchFile returned %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("WatchFile did not return after its context ended")
		}
		noGoroutine(t, "control.(*Manager).WatchFile", "fsnotify")
	})
}

func TestWatchFile(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(path, baseSpec(0).yaml(), 0o644); err != nil {
		t.Fatal(err)
	}
	startWatchFile(t, e, path)

	// The file as it is when the watch starts.
	if evs := e.waitApplied(t, 1); evs[0].Source != "file" {
		t.Errorf("first apply %+v", evs[0])
	}
	if entry := e.audit.next(t); entry["source"] != "file" || entry["result"] != "applied" {
		t.Errorf("audit %v", entry)
	}

	// Saved by rename.
	v2 := baseSpec(0)
	v2.Tiers[0].Limit = 2
	writeByRename(t, path, v2.yaml())
	e.waitApplied(t, 2)
	if entry := e.audit.next(t); entry["to_version"] != 2.0 {
		t.Errorf("audit %v", entry)
	}

	// Saved in place.
	v3 := baseSpec(0)
	v3.Tiers[0].Limit = 3
	if err := os.WriteFile(path, v3.yaml(), 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitApplied(t, 3)
	e.audit.next(t)

	// An invalid file is rejected and audited; version 3 keeps serving.
	writeByRename(t, path, []byte(invalidYAML))
	entry := e.audit.nextWith(t, "rejected", "file")
	problems, _ := entry["problems"].([]any)
	if len(problems) < 5 || !strings.Contains(e.audit.String(), path) {
		t.Errorf("rejection entry %v", entry)
	}
	if v, raw := e.m.Current(); v != 3 || string(raw) != string(v3.yaml()) || e.target.Version() != 3 {
		t.Errorf("after an invalid file serving %d", v)
	}
	e.logs.waitFor(t, "not applied") // logged too

	// An unchanged rewrite and an empty file (a save in progress) submit
	// nothing; the fixed file is applied as the next version.
	writeByRename(t, path, []byte(invalidYAML))
	e.logs.waitFor(t, "unchanged; nothing to submit")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.logs.waitFor(t, "is empty; ignored")
	v4 := baseSpec(0)
	v4.Tiers[0].Limit = 4
	writeByRename(t, path, v4.yaml())
	e.waitApplied(t, 4)
	if entry := e.audit.next(t); entry["result"] != "applied" || entry["from_version"] != 3.0 {
		t.Errorf("after the fix: %v (the unchanged rewrite and the empty file must not be submitted)", entry)
	}
	if got := e.target.appliedVersions(); len(got) != 4 {
		t.Errorf("node applied %v", got)
	}
}

// TestWatchFileSkipsServedFile: a node started from the file does not
// re-apply it (as a new version) when the watch starts.
func TestWatchFileSkipsServedFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	raw := baseSpec(0).yaml()
	os.WriteFile(path, raw, 0o644)
	e.mustSubmit(t, raw, Submission{Source: SourceStartup})
	e.audit.next(t)
	startWatchFile(t, e, path)

	v2 := baseSpec(0)
	v2.Routes = v2.Routes[:1]
	writeByRename(t, path, v2.yaml())
	e.waitApplied(t, 1)
	e.waitApplied(t, 2)
	if v, raw := e.m.Current(); v != 2 || string(raw) != string(v2.yaml()) {
		t.Errorf("serving %d %q, want version 2 = the edited file", v, raw)
	}
	if entry := e.audit.next(t); entry["from_version"] != 1.0 || entry["to_version"] != 2.0 {
		t.Errorf("first entry after the watch started: %v", entry)
	}
}

func TestWatchFileMissingDirectory(t *testing.T) {
	e := newEnv(t)
	err := e.m.WatchFile(context.Background(), filepath.Join(t.TempDir(), "nope", "gateway.yaml"))
	if err == nil {
		t.Fatal("WatchFile on a missing directory returned nil")
	}
}
