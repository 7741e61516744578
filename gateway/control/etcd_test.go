package control

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gatelab/gatelab/internal/etcdtest"
)

const prefix = "/gatelab"

// etcdWatchers counts the WatchEtcd calls started and not yet stopped.
var etcdWatchers atomic.Int32

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// mustPublish publishes raw on top of expected and returns the new version.
func mustPublish(t *testing.T, cli *clientv3.Client, raw []byte, expected int64) int64 {
	t.Helper()
	v, err := Publish(ctxT(t), cli, prefix, raw, expected, "ci")
	if err != nil {
		t.Fatalf("Publish on version %d: %v", expected, err)
	}
	return v
}

// startWatchEtcd runs WatchEtcd until the test ends, and checks it returns
// nil promptly and leaves no goroutine of its own behind.
func startWatchEtcd(t *testing.T, e *env, cli *clientv3.Client) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	etcdWatchers.Add(1)
	go func() { done <- e.m.WatchEtcd(ctx, cli, prefix) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("WatchEtcd returned %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("WatchEtcd did not return within 5s of its context's end")
			}
			// Once the last one has stopped, none may be left running.
			if etcdWatchers.Add(-1) == 0 {
				noGoroutine(t, "control.(*Manager).WatchEtcd", "control.(*etcdWatch)")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestPublishCAS(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	ctx := ctxT(t)

	if v := mustPublish(t, cli, baseSpec(0).yaml(), 0); v != 1 {
		t.Fatalf("first publish: version %d", v)
	}
	// A second writer that also saw "nothing".
	v, err := Publish(ctx, cli, prefix, baseSpec(0).yaml(), 0, "other")
	if !errors.Is(err, ErrConflict) || v != 1 {
		t.Fatalf("publish on 0 after 1: %d, %v; want ErrConflict with version 1", v, err)
	}
	if v := mustPublish(t, cli, baseSpec(0).yaml(), 1); v != 2 {
		t.Fatalf("publish on 1: version %d", v)
	}
	// A declared version is kept; it must be above the expected one.
	if v := mustPublish(t, cli, baseSpec(10).yaml(), 2); v != 10 {
		t.Fatalf("publish declaring 10: version %d", v)
	}
	if _, err := Publish(ctx, cli, prefix, baseSpec(10).yaml(), 10, "ci"); !errors.Is(err, ErrStale) {
		t.Fatalf("publish declaring 10 on 10: %v, want ErrStale", err)
	}
	if _, err := Publish(ctx, cli, prefix, []byte("version: [\n"), 10, "ci"); err == nil {
		t.Fatal("publish of broken YAML succeeded")
	}

	// The layout: the YAML, and the meta record.
	resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 2 {
		t.Fatalf("keys under %s: %v %v", prefix, resp, err)
	}
	var meta struct {
		Version     int64  `json:"version"`
		PublishedAt string `json:"published_at"`
		Actor       string `json:"actor"`
	}
	for _, kv := range resp.Kvs {
		switch string(kv.Key) {
		case prefix + "/config":
			if string(kv.Value) != string(baseSpec(10).yaml()) {
				t.Errorf("config = %q", kv.Value)
			}
		case prefix + "/meta":
			if err := json.Unmarshal(kv.Value, &meta); err != nil {
				t.Fatal(err)
			}
			if resp.Kvs[0].ModRevision != resp.Kvs[1].ModRevision {
				t.Errorf("config and meta written at revisions %d and %d, want one transaction", resp.Kvs[0].ModRevision, resp.Kvs[1].ModRevision)
			}
		default:
			t.Errorf("unexpected key %s", kv.Key)
		}
	}
	if pt, err := time.Parse(time.RFC3339Nano, meta.PublishedAt); meta.Version != 10 || meta.Actor != "ci" || err != nil || time.Since(pt) > time.Minute {
		t.Errorf("meta = %+v (%v)", meta, err)
	}

	// Racing publishers on the same version: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Publish(ctx, cli, prefix, baseSpec(0).yaml(), 10, "racer")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, ErrConflict):
				conflicts++
			default:
				t.Errorf("racing publish: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != 7 {
		t.Errorf("racing publishers: %d won, %d conflicted; want 1 and 7", wins, conflicts)
	}
}

// TestWatchEtcdAppliesEveryPublish: 50 publishes, applied in order, once
// each, ending at the last.
func TestWatchEtcdAppliesEveryPublish(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	e := newEnv(t)
	// Published before the watch starts: the initial read applies it.
	mustPublish(t, cli, baseSpec(0).yaml(), 0)
	startWatchEtcd(t, e, cli)
	if evs := e.waitApplied(t, 1); evs[0].Source != "etcd" || evs[0].Actor != "ci" || evs[0].PublishedAt.IsZero() {
		t.Fatalf("initial apply %+v", evs[0])
	}

	const n = 50
	for i := int64(1); i < n; i++ {
		s := baseSpec(0)
		s.Tiers[0].Limit = int(100 + i)
		if v := mustPublish(t, cli, s.yaml(), i); v != i+1 {
			t.Fatalf("publish %d gave version %d", i, v)
		}
	}
	evs := e.waitApplied(t, n)
	for i, ev := range evs {
		if ev.Version != int64(i+2) || ev.From != int64(i+1) || ev.PublishedAt.IsZero() {
			t.Fatalf("apply %d: %+v; want every version from 2 to %d in order", i, ev, n)
		}
	}
	if got := e.target.appliedVersions(); len(got) != n || got[n-1] != n {
		t.Errorf("node applied %v", got)
	}
	if v, raw := e.m.Current(); v != n || !strings.Contains(string(raw), "limit: 149") {
		t.Errorf("serving %d", v)
	}
}

// TestWatchEtcdOutage: etcd goes away, the node keeps serving, etcd comes
// back, the next publish is applied. A watch started during the outage
// retries with backoff and catches up once etcd is back.
func TestWatchEtcdOutage(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	e := newEnv(t)
	startWatchEtcd(t, e, cli)
	mustPublish(t, cli, baseSpec(0).yaml(), 0)
	e.waitApplied(t, 1)

	etcd.Stop()
	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := Publish(short, cli, prefix, baseSpec(0).yaml(), 1, "ci")
	cancel()
	if err == nil {
		t.Fatal("Publish succeeded while etcd is stopped")
	}
	if v, _ := e.m.Current(); v != 1 || e.target.Version() != 1 {
		t.Fatalf("during the outage serving %d", v)
	}
	// A second node starts its watch during the outage.
	e2 := newEnv(t)
	cli2 := etcd.Client(t)
	startWatchEtcd(t, e2, cli2)
	e2.logs.waitFor(t, "retrying")

	etcd.Restart()
	v2 := baseSpec(0)
	v2.Routes = v2.Routes[:1]
	mustPublish(t, cli, v2.yaml(), 1)
	e.waitApplied(t, 2)
	e2.waitApplied(t, 2)
	if _, raw := e2.m.Current(); string(raw) != string(v2.yaml()) {
		t.Errorf("second node serves %q", raw)
	}
	if len(e.target.appliedVersions()) != 2 {
		t.Errorf("node applied %v", e.target.appliedVersions())
	}
}

// TestWatchEtcdStopsDuringOutage: ending the context while etcd is down
// stops WatchEtcd promptly (the stop function checks it).
func TestWatchEtcdStopsDuringOutage(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	e := newEnv(t)
	mustPublish(t, cli, baseSpec(0).yaml(), 0)
	stop := startWatchEtcd(t, e, cli)
	e.waitApplied(t, 1)
	etcd.Stop()
	stop()
}

// TestWatchEtcdRejectsInvalid: an invalid publish is rejected and audited,
// the old config keeps serving, and the next valid publish is applied. So
// is a malformed meta record.
func TestWatchEtcdRejectsInvalid(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	e := newEnv(t)
	startWatchEtcd(t, e, cli)
	mustPublish(t, cli, baseSpec(0).yaml(), 0)
	e.waitApplied(t, 1)
	e.audit.next(t)

	mustPublish(t, cli, []byte(invalidYAML), 1)
	entry := e.audit.nextWith(t, "rejected", "etcd")
	problems, _ := entry["problems"].([]any)
	if len(problems) < 5 || entry["actor"] != "ci" || entry["from_version"] != 1.0 {
		t.Errorf("rejection entry %v", entry)
	}
	if p := problems[0].(map[string]any); p["file"] != prefix+"/config" || p["line"] == 0.0 {
		t.Errorf("problem %v: want file %s/config with a line", p, prefix)
	}
	if v, _ := e.m.Current(); v != 1 {
		t.Errorf("after an invalid publish serving %d", v)
	}

	// A meta record that is not one.
	if _, err := cli.Put(ctxT(t), prefix+"/meta", "{version: 3"); err != nil {
		t.Fatal(err)
	}
	if entry := e.audit.nextWith(t, "rejected", "etcd"); !strings.Contains(e.audit.String(), "meta record") {
		t.Errorf("bad meta entry %v", entry)
	}
	if _, err := cli.Put(ctxT(t), prefix+"/meta", `{"version":2,"actor":"ci"}`); err != nil {
		t.Fatal(err)
	}
	// Version 2 is the invalid config, already rejected: not submitted
	// again. The next entry is the next publish's.
	mustPublish(t, cli, baseSpec(0).yaml(), 2)
	e.waitApplied(t, 3)
	if entry := e.audit.next(t); entry["result"] != "applied" || entry["to_version"] != 3.0 {
		t.Errorf("entry after the meta fix: %v", entry)
	}
	if got := e.target.appliedVersions(); len(got) != 2 || got[1] != 3 {
		t.Errorf("node applied %v", got)
	}
}

// TestWatchEtcdCompacted: a watch from a compacted revision ends with an
// error (WatchEtcd then reads again).
func TestWatchEtcdCompacted(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	e := newEnv(t)
	for i := range int64(3) {
		mustPublish(t, cli, baseSpec(0).yaml(), i)
	}
	resp, err := cli.Get(ctxT(t), prefix+"/meta")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctxT(t), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	w := &etcdWatch{m: e.m, cli: cli, keys: keysOf(prefix)}
	err = w.watch(ctxT(t), 2)
	if err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("watch from a compacted revision: %v", err)
	}
	rev, err := w.load(ctxT(t))
	if err != nil || rev != resp.Header.Revision {
		t.Fatalf("load: %d, %v", rev, err)
	}
	e.waitApplied(t, 3)
}

// TestWatchEtcdOneApplyPerRevision: a watch response holding several
// publishes (a watch resumed from an older revision gets them in one batch)
// applies each of them, in order.
func TestWatchEtcdOneApplyPerRevision(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	e := newEnv(t)
	var first int64
	for i := range int64(5) {
		mustPublish(t, cli, baseSpec(0).yaml(), i)
		if i == 0 {
			resp, err := cli.Get(ctxT(t), prefix+"/meta")
			if err != nil {
				t.Fatal(err)
			}
			first = resp.Kvs[0].ModRevision
		}
	}
	w := &etcdWatch{m: e.m, cli: cli, keys: keysOf(prefix)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.watch(ctx, first) }()
	evs := e.waitApplied(t, 5)
	cancel()
	<-done
	if len(evs) != 5 {
		t.Errorf("applied %+v, want versions 1 to 5", evs)
	}
}
