package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatelab/gatelab/harness/deps"
	"github.com/gatelab/gatelab/harness/faults"
	"github.com/gatelab/gatelab/harness/scenario"
)

var controlClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// setBehavior changes every instance of an upstream through its
// /_control/behavior endpoint (fields left out keep their value; "reset"
// goes back to how it was started).
func (sr *scenarioRun) setBehavior(ctx context.Context, upstream string, change map[string]any) error {
	body, _ := json.Marshal(change)
	for _, u := range sr.upURLs[upstream] {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/_control/behavior", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := controlClient.Do(req)
		if err != nil {
			return fmt.Errorf("changing upstream %s: %w", upstream, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("changing upstream %s: %s: %s", upstream, resp.Status, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// faultActions turns the scenario's faults into timeline actions for one
// trial of t.
func (sr *scenarioRun) faultActions(t *target, r *running, tr *trial) []faults.Action {
	var acts []faults.Action
	for _, f := range sr.s.Faults {
		f := f
		a := faults.Action{Name: f.PhaseName(), Kind: f.Kind, At: f.At, For: f.For}
		redis := func(apply, revert func(ctx context.Context) error) {
			if sr.redisPx == nil {
				a.Apply = func(context.Context) error { return nil } // no Redis in this scenario run: nothing to break
				return
			}
			a.Apply, a.Revert = apply, revert
		}
		switch f.Kind {
		case scenario.FaultRedisLatency:
			redis(func(context.Context) error { return sr.redisPx.Latency(f.Latency+sr.s.Redis.Latency, f.Jitter) },
				func(context.Context) error {
					if sr.s.Redis.Latency > 0 {
						return sr.redisPx.Latency(sr.s.Redis.Latency, 0)
					}
					return sr.redisPx.Reset()
				})
		case scenario.FaultEtcdLatency, scenario.FaultEtcdDown:
			if sr.etcdPx == nil {
				continue
			}
			if f.Kind == scenario.FaultEtcdLatency {
				a.Apply = func(context.Context) error { return sr.etcdPx.Latency(f.Latency, f.Jitter) }
			} else {
				a.Apply = func(context.Context) error { return sr.etcdPx.Down() }
			}
			a.Revert = func(context.Context) error { return sr.etcdPx.Reset() }
		case scenario.FaultRedisDown:
			redis(func(context.Context) error { return sr.redisPx.Down() }, func(context.Context) error { return sr.redisPx.Up() })
		case scenario.FaultRedisFreeze:
			redis(func(ctx context.Context) error { return sr.l.redis.Freeze(ctx) }, func(ctx context.Context) error { return sr.l.redis.Thaw(ctx) })
		case scenario.FaultRedisKill:
			redis(func(ctx context.Context) error { return sr.l.redis.Kill(ctx) }, func(ctx context.Context) error { return sr.l.redis.Restart(ctx) })
		case scenario.FaultUpstreamDelay:
			a.Apply = func(ctx context.Context) error {
				return sr.setBehavior(ctx, f.Upstream, map[string]any{"delay": f.Delay})
			}
			a.Revert = func(ctx context.Context) error { return sr.setBehavior(ctx, f.Upstream, map[string]any{"reset": true}) }
		case scenario.FaultUpstreamError:
			a.Apply = func(ctx context.Context) error {
				st := f.Status
				if st == 0 {
					st = 500
				}
				return sr.setBehavior(ctx, f.Upstream, map[string]any{"error_rate": f.ErrorRate, "error_status": st})
			}
			a.Revert = func(ctx context.Context) error { return sr.setBehavior(ctx, f.Upstream, map[string]any{"reset": true}) }
		case scenario.FaultUpstreamStall:
			a.Apply = func(ctx context.Context) error { return sr.setBehavior(ctx, f.Upstream, map[string]any{"stall": true}) }
			a.Revert = func(ctx context.Context) error { return sr.setBehavior(ctx, f.Upstream, map[string]any{"reset": true}) }
		case scenario.FaultUpstreamKill:
			a.Apply = func(context.Context) error {
				for _, p := range sr.ups[f.Upstream] {
					if err := p.Kill(); err != nil {
						return err
					}
				}
				return nil
			}
			a.Revert = func(ctx context.Context) error {
				for i, p := range sr.ups[f.Upstream] {
					np, err := p.Restart(ctx)
					if err != nil {
						return err
					}
					sr.ups[f.Upstream][i] = np
				}
				return nil
			}
		case scenario.FaultUpstreamFreeze:
			a.Apply = func(context.Context) error {
				for _, p := range sr.ups[f.Upstream] {
					if err := p.Freeze(); err != nil {
						return err
					}
				}
				return nil
			}
			a.Revert = func(context.Context) error {
				for _, p := range sr.ups[f.Upstream] {
					if err := p.Thaw(); err != nil {
						return err
					}
				}
				return nil
			}
		case scenario.FaultUpstreamLatency, scenario.FaultUpstreamReset, scenario.FaultUpstreamCut, scenario.FaultUpstreamBandwidth:
			pxs := sr.upPx[f.Upstream]
			each := func(do func(*faults.Proxy) error) func(context.Context) error {
				return func(context.Context) error {
					for _, px := range pxs {
						if err := do(px); err != nil {
							return err
						}
					}
					return nil
				}
			}
			switch f.Kind {
			case scenario.FaultUpstreamLatency:
				a.Apply = each(func(px *faults.Proxy) error { return px.Latency(f.Latency, f.Jitter) })
			case scenario.FaultUpstreamReset:
				a.Apply = each((*faults.Proxy).ResetPeer)
			case scenario.FaultUpstreamCut:
				a.Apply = each((*faults.Proxy).Down)
			case scenario.FaultUpstreamBandwidth:
				a.Apply = each(func(px *faults.Proxy) error { return px.Bandwidth(f.KBps) })
			}
			a.Revert = each((*faults.Proxy).Reset)
		case scenario.FaultGatewayFreeze:
			if f.Node >= len(r.procs) {
				continue // direct, peers and containers: nothing to freeze
			}
			a.Apply = func(context.Context) error { return r.procs[f.Node].Freeze() }
			a.Revert = func(context.Context) error { return r.procs[f.Node].Thaw() }
		case scenario.FaultGatewayPartition:
			if r.cluster == nil {
				continue
			}
			a.Apply = func(ctx context.Context) error { return r.cluster.Partition(ctx, f.Node) }
			a.Revert = func(ctx context.Context) error { return r.cluster.Heal(ctx, f.Node) }
		case scenario.FaultConfigChurn:
			if len(r.admins) == 0 {
				continue
			}
			var stop context.CancelFunc
			var wg sync.WaitGroup
			a.Apply = func(ctx context.Context) error {
				cctx, cancel := context.WithCancel(context.Background())
				stop = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					sr.churn(cctx, r, tr, f.Every)
				}()
				return nil
			}
			a.Revert = func(context.Context) error {
				if stop != nil {
					stop()
				}
				wg.Wait()
				return nil
			}
		}
		acts = append(acts, a)
	}
	return acts
}

// churn replaces the config through the admin API every period until ctx
// ends: each change adds one route and drops the previous change's, so the
// route table really changes while the load runs on the scenario's routes.
// The time from the PUT to the node answering that it serves the new
// version is the propagation time.
func (sr *scenarioRun) churn(ctx context.Context, r *running, tr *trial, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	admins := r.admins
	if sr.etcdPx != nil {
		admins = admins[:1] // one PUT publishes to etcd; every node gets it from there
	}
	for i := 1; ; i++ {
		for _, admin := range admins {
			v, err := configVersion(ctx, admin)
			if err != nil {
				return
			}
			backend := scenario.SelfUpstream
			if len(sr.s.Upstreams) > 0 {
				backend = sr.s.Upstreams[0].Name
			}
			extra := []string{fmt.Sprintf("{id: churn-%d, pattern: /churn/%d/*, backend: %s, auth: none}", i, i, yq(backend))}
			body := gatelabConfig(sr.l.fx, sr.s, sr.upURLs, "", extra, v+1, r.fileRef)
			start := time.Now()
			if err := deps.PutConfig(ctx, controlClient, admin, AdminToken, v, body); err != nil {
				if ctx.Err() == nil {
					sr.l.logf("    config change refused: %v", err)
				}
				return
			}
			if sr.etcdPx != nil {
				// Accepted -> every node serving it.
				if err := waitServing(ctx, r.admins, v+1, 5*time.Second); err != nil {
					sr.l.logf("    config change: %v", err)
					return
				}
			}
			tr.prop = append(tr.prop, time.Since(start))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// configVersion is the version a node serves (GET /config).
func configVersion(ctx context.Context, admin string) (int64, error) {
	return deps.ServedConfigVersion(ctx, controlClient, admin, AdminToken)
}

// waitServing polls every node's GET /config until each serves at least
// version v, or the bound passes.
func waitServing(ctx context.Context, admins []string, v int64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for _, a := range admins {
		for {
			got, err := configVersion(ctx, a)
			if err == nil && got >= v {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still serves version %d, not %d, after %v", a, got, v, bound)
			}
			time.Sleep(time.Millisecond) // /config has no change notification
		}
	}
	return nil
}
