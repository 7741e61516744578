package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/gateway/config"
)

// Retry pacing of WatchEtcd after etcd became unreachable or a watch broke,
// and the bound of each Get.
const (
	etcdMinBackoff = 100 * time.Millisecond
	etcdMaxBackoff = 2 * time.Second
	etcdGetTimeout = 3 * time.Second
)

// etcdKeys is the layout under a prefix.
type etcdKeys struct {
	dir    string // prefix + "/": watched and read with WithPrefix
	config string // the YAML
	meta   string // etcdMeta as JSON
}

func keysOf(prefix string) etcdKeys {
	p := strings.TrimRight(prefix, "/")
	return etcdKeys{dir: p + "/", config: p + "/config", meta: p + "/meta"}
}

// etcdMeta is the value of P/meta.
type etcdMeta struct {
	Version     int64     `json:"version"`
	PublishedAt time.Time `json:"published_at"` // RFC 3339 with nanoseconds
	Actor       string    `json:"actor"`
}

func parseMeta(key string, b []byte) (etcdMeta, error) {
	var m etcdMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, config.Problems{{File: key, Msg: "not a meta record ({\"version\":N,\"published_at\":...,\"actor\":...}): " + err.Error()}}
	}
	if m.Version <= 0 {
		return m, config.Problems{{File: key, Path: "version", Msg: fmt.Sprintf("%d: want a version above 0", m.Version)}}
	}
	return m, nil
}

// ErrNoConfig is returned by Fetch when the prefix holds no config yet.
var ErrNoConfig = errors.New("no config published")

// Fetch reads the config published under prefix and its meta record, at
// one revision: for a node starting up before it watches.
func Fetch(ctx context.Context, cli *clientv3.Client, prefix string) (raw []byte, version int64, publishedAt time.Time, err error) {
	keys := keysOf(prefix)
	resp, err := cli.Get(ctx, keys.dir, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, time.Time{}, fmt.Errorf("etcd: reading %s: %w", keys.dir, err)
	}
	var metaRaw []byte
	for _, kv := range resp.Kvs {
		switch string(kv.Key) {
		case keys.config:
			raw = kv.Value
		case keys.meta:
			metaRaw = kv.Value
		}
	}
	if raw == nil {
		return nil, 0, time.Time{}, fmt.Errorf("etcd: %s: %w", keys.config, ErrNoConfig)
	}
	if metaRaw != nil {
		meta, err := parseMeta(keys.meta, metaRaw)
		if err != nil {
			return nil, 0, time.Time{}, err
		}
		version, publishedAt = meta.Version, meta.PublishedAt
	}
	return raw, version, publishedAt, nil
}

// Publish writes raw as the config under prefix (P/config) with its meta
// record (P/meta) in one etcd transaction, provided the version stored in
// P/meta is still expectedVersion (0: P/meta must not exist). The version
// written is the one raw declares, which must be above expectedVersion,
// or else expectedVersion+1; it is returned.
//
// Publish reads only the version from raw (a YAML syntax error is an error):
// validate the whole config first (Manager.Validate, `gatelab validate`),
// since every node rejects an invalid one. If the stored version is not
// expectedVersion, Publish returns it with an error wrapping ErrConflict; a
// declared version not above expectedVersion is ErrStale.
func Publish(ctx context.Context, cli *clientv3.Client, prefix string, raw []byte, expectedVersion int64, actor string) (version int64, err error) {
	keys := keysOf(prefix)
	var head struct {
		Version int64 `yaml:"version"`
	}
	if err := yaml.Unmarshal(raw, &head); err != nil {
		return 0, fmt.Errorf("publishing to %s: reading the config's version: %w", keys.config, err)
	}
	version = expectedVersion + 1
	if head.Version != 0 {
		if head.Version <= expectedVersion {
			return 0, fmt.Errorf("publishing to %s: %w: the config declares version %d, not above %d", keys.config, ErrStale, head.Version, expectedVersion)
		}
		version = head.Version
	}

	resp, err := cli.Get(ctx, keys.meta)
	if err != nil {
		return 0, fmt.Errorf("publishing to %s: reading %s: %w", keys.config, keys.meta, err)
	}
	var current, modRev int64
	if len(resp.Kvs) > 0 {
		m, err := parseMeta(keys.meta, resp.Kvs[0].Value)
		if err != nil {
			return 0, fmt.Errorf("publishing to %s: %w", keys.config, err)
		}
		current, modRev = m.Version, resp.Kvs[0].ModRevision
	}
	if current != expectedVersion {
		return current, fmt.Errorf("publishing to %s: %w: expected version %d, stored version %d", keys.config, ErrConflict, expectedVersion, current)
	}

	meta, err := json.Marshal(etcdMeta{Version: version, PublishedAt: time.Now().UTC(), Actor: actor})
	if err != nil {
		return 0, err
	}
	// The meta record read above must not have changed since (a missing
	// key has ModRevision 0).
	tr, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(keys.meta), "=", modRev)).
		Then(clientv3.OpPut(keys.config, string(raw)), clientv3.OpPut(keys.meta, string(meta))).
		Else(clientv3.OpGet(keys.meta)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("publishing to %s: %w", keys.config, err)
	}
	if !tr.Succeeded {
		current = 0
		if rr := tr.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
			if m, err := parseMeta(keys.meta, rr.Kvs[0].Value); err == nil {
				current = m.Version
			}
		}
		return current, fmt.Errorf("publishing to %s: %w: expected version %d, stored version %d (a concurrent publish)", keys.config, ErrConflict, expectedVersion, current)
	}
	return version, nil
}

// WatchEtcd keeps the node on the config published under prefix (see
// Publish for the layout). It reads P/config and P/meta, submits them
// (Source "etcd", Version, Actor and PublishedAt from the meta record), then
// watches the prefix from the next revision and submits every published
// change, once per etcd revision (a Publish transaction changes both keys
// in one revision).
//
// When etcd is unreachable, the watch is cancelled or its revision was
// compacted, the served snapshot keeps serving; WatchEtcd reads and
// watches again after a backoff (100ms doubling to 2s). An invalid config is
// rejected and audited; the next publish is applied as usual. WatchEtcd
// returns nil when ctx ends, leaving no goroutine behind.
func (m *Manager) WatchEtcd(ctx context.Context, cli *clientv3.Client, prefix string) error {
	w := &etcdWatch{m: m, cli: cli, keys: keysOf(prefix)}
	backoff := etcdMinBackoff
	for {
		rev, err := w.load(ctx)
		if err == nil {
			backoff = etcdMinBackoff
			err = w.watch(ctx, rev+1)
		}
		if ctx.Err() != nil {
			return nil
		}
		v, _ := m.Current()
		m.opts.Logger.Warn("etcd: watch failed; the served config keeps serving, retrying", "prefix", w.keys.dir, "error", err, "version", v, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, etcdMaxBackoff)
	}
}

// etcdWatch is the state of one WatchEtcd.
type etcdWatch struct {
	m    *Manager
	cli  *clientv3.Client
	keys etcdKeys

	config []byte // P/config as last seen; nil if absent
	meta   []byte // P/meta as last seen; nil if absent

	// The last submission whose outcome cannot change by submitting it
	// again (applied, no-op, stale, invalid): not repeated after a reload.
	doneVersion int64
	doneRaw     []byte
}

// load reads both keys at one revision and submits them; it returns that
// revision.
func (w *etcdWatch) load(ctx context.Context) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, etcdGetTimeout)
	defer cancel()
	resp, err := w.cli.Get(gctx, w.keys.dir, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("reading: %w", err)
	}
	w.config, w.meta = nil, nil
	for _, kv := range resp.Kvs {
		switch string(kv.Key) {
		case w.keys.config:
			w.config = kv.Value
		case w.keys.meta:
			w.meta = kv.Value
		}
	}
	if w.config == nil {
		w.m.opts.Logger.Info("etcd: no config published yet", "key", w.keys.config)
	} else {
		w.submit()
	}
	return resp.Header.Revision, nil
}

// watch applies changes from revision rev on, until the watch breaks.
func (w *etcdWatch) watch(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range w.cli.Watch(wctx, w.keys.dir, clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if resp.CompactRevision != 0 {
			return fmt.Errorf("watch: revision %d was compacted (now %d)", rev, resp.CompactRevision)
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		if resp.Canceled {
			return errors.New("watch cancelled")
		}
		// Events come in revision order; one revision is one change.
		changed, at := false, int64(0)
		for _, ev := range resp.Events {
			if changed && ev.Kv.ModRevision != at {
				w.submit()
				changed = false
			}
			var val []byte
			if ev.Type == clientv3.EventTypePut {
				val = ev.Kv.Value
			}
			switch string(ev.Kv.Key) {
			case w.keys.config:
				w.config = val
				if val == nil {
					w.m.opts.Logger.Warn("etcd: config deleted; the served config keeps serving", "key", w.keys.config)
				}
			case w.keys.meta:
				w.meta = val
			default:
				continue
			}
			changed = changed || val != nil
			at = ev.Kv.ModRevision
		}
		if changed {
			w.submit()
		}
	}
	return errors.New("watch ended")
}

// submit submits the config and meta last seen, unless it was already.
func (w *etcdWatch) submit() {
	if w.config == nil {
		return
	}
	sub := Submission{Source: SourceEtcd, Name: w.keys.config}
	if w.meta == nil {
		// Written without Publish: the version is the declared one, or
		// the next of this node's.
		w.m.opts.Logger.Warn("etcd: config has no meta record", "key", w.keys.config, "meta", w.keys.meta)
	} else {
		meta, err := parseMeta(w.keys.meta, w.meta)
		if err != nil {
			w.m.opts.Logger.Warn("etcd: config rejected", "error", err)
			w.m.reject(sub, OutcomeRejected, err)
			return
		}
		sub.Version, sub.Actor, sub.PublishedAt = meta.Version, meta.Actor, meta.PublishedAt
	}
	if sub.Version != 0 && sub.Version == w.doneVersion && bytes.Equal(w.config, w.doneRaw) {
		return
	}
	res, err := w.m.Submit(w.config, sub)
	switch {
	case err != nil:
		w.m.opts.Logger.Warn("etcd: config not applied; the served config keeps serving", "version", sub.Version, "outcome", res.Outcome, "serving", res.Version, "error", err)
	case res.Outcome == OutcomeApplied:
		w.m.opts.Logger.Debug("etcd: config applied", "version", res.Version, "previous", res.Previous)
	}
	var ps config.Problems
	if err == nil || errors.Is(err, ErrStale) || errors.As(err, &ps) {
		w.doneVersion, w.doneRaw = sub.Version, w.config
	}
}
