package resilience

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Flap damping: an instance that went out flapCount times within flapWindow
// comes back only after FlapHolddown of continuous health.
const (
	flapCount  = 3
	flapWindow = time.Minute
)

// never is the readmitAt of an instance that does not come back by time.
const never = math.MaxInt64

// instState is an instance's runtime state. It is shared by the instances
// with the same URL of successive Backends of one name (see NewBackend), so a
// hot reload keeps it. The atomics are read on the hot path; everything else
// changes under mu.
type instState struct {
	// Read by every pick; written on transitions only.
	up        atomic.Bool  // in rotation
	readmitAt atomic.Int64 // clock value when an ejected instance returns by time; never otherwise
	_         [48]byte
	// Written by every request.
	inflight atomic.Int64
	passive  atomic.Int64 // failed requests in a row
	_        [48]byte

	mu           sync.Mutex
	okRun        int   // good probes in a row
	failRun      int   // failed probes in a row
	healthySince int64 // clock value of the first probe of okRun
	damped       bool  // went out flapCount times within flapWindow
	outs         [flapCount]int64
	nOuts        int
	reason       string
}

func newInstState() *instState {
	st := &instState{}
	st.up.Store(true) // instances start in rotation
	st.readmitAt.Store(never)
	return st
}

// reasons are a backend's transition messages, formatted once.
type reasons struct {
	probesFailing, requestsFailing, probesPassing, ejectElapsed, holdDone, damped string
}

func newReasons(h HealthSettings) reasons {
	return reasons{
		probesFailing:   fmt.Sprintf("%d failed health probes in a row", h.UnhealthyAfter),
		requestsFailing: fmt.Sprintf("%d failed requests in a row", h.PassiveFailures),
		probesPassing:   fmt.Sprintf("%d good health probes in a row", h.HealthyAfter),
		ejectElapsed:    fmt.Sprintf("ejected for %s", h.EjectFor),
		holdDone:        fmt.Sprintf("healthy for %s after flapping", h.FlapHolddown),
		damped:          fmt.Sprintf(" (flapping: %d times out within %s, held down until healthy for %s)", flapCount, flapWindow, h.FlapHolddown),
	}
}

// goOut takes st out of rotation. Called under st.mu.
func (b *Backend) goOut(st *instState, now int64, reason string) {
	st.up.Store(false)
	copy(st.outs[:], st.outs[1:])
	st.outs[flapCount-1] = now
	st.nOuts = min(st.nOuts+1, flapCount)
	st.damped = st.nOuts == flapCount && now-st.outs[0] <= int64(flapWindow)
	st.okRun, st.healthySince = 0, 0
	st.reason = reason
	if st.damped {
		st.reason = reason + b.why.damped
	}
	if b.s.Health.Disabled {
		wait := b.s.Health.EjectFor
		if st.damped {
			wait = max(wait, b.s.Health.FlapHolddown)
		}
		st.readmitAt.Store(now + int64(wait))
	}
}

// comeBack puts st back into rotation. Called under st.mu.
func (b *Backend) comeBack(st *instState, reason string) {
	st.damped = false
	st.failRun = 0
	st.passive.Store(0)
	st.readmitAt.Store(never)
	st.reason = reason
	st.up.Store(true)
}

// ObserveProbe applies one active health-check result to inst: it goes out
// of rotation after UnhealthyAfter failures in a row and comes back after
// HealthyAfter successes in a row (after FlapHolddown of successes when it
// has been flapping). Start calls it for every probe; tests call it to drive
// the state machine without HTTP.
func (b *Backend) ObserveProbe(inst *Instance, ok bool) {
	now := b.clk()
	st := inst.st
	st.mu.Lock()
	if ok {
		st.failRun = 0
		st.okRun++
		if st.okRun == 1 {
			st.healthySince = now
		}
	} else {
		st.okRun = 0
		st.failRun++
	}
	var changed bool
	var reason string
	h := b.s.Health
	switch {
	case st.up.Load():
		if !ok && st.failRun >= h.UnhealthyAfter {
			b.goOut(st, now, b.why.probesFailing)
			changed, reason = true, st.reason
		}
	case ok && st.okRun >= h.HealthyAfter && !st.damped:
		b.comeBack(st, b.why.probesPassing)
		changed, reason = true, st.reason
	case ok && st.okRun >= h.HealthyAfter && now-st.healthySince >= int64(h.FlapHolddown):
		b.comeBack(st, b.why.holdDone)
		changed, reason = true, st.reason
	}
	up := st.up.Load()
	st.mu.Unlock()
	if changed {
		b.healthHook(inst, up, reason)
	}
}

// eject takes inst out after PassiveFailures failed requests in a row.
func (b *Backend) eject(inst *Instance) {
	st := inst.st
	st.mu.Lock()
	if !st.up.Load() || st.passive.Load() < int64(b.s.Health.PassiveFailures) {
		st.mu.Unlock()
		return
	}
	b.goOut(st, b.clk(), b.why.requestsFailing)
	reason := st.reason
	st.mu.Unlock()
	b.healthHook(inst, false, reason)
}

// available reports whether inst is in rotation, first bringing it back if
// its ejection time has passed (active probes disabled).
func (b *Backend) available(inst *Instance) bool {
	return inst.st.up.Load() || b.readmit(inst)
}

// readmit brings an ejected inst back if its time has come.
func (b *Backend) readmit(inst *Instance) bool {
	st := inst.st
	if ra := st.readmitAt.Load(); ra == never || b.clk() < ra {
		return false
	}
	st.mu.Lock()
	back := !st.up.Load() && b.clk() >= st.readmitAt.Load()
	if back {
		b.comeBack(st, b.why.ejectElapsed)
	}
	up := st.up.Load()
	st.mu.Unlock()
	if back {
		b.healthHook(inst, true, b.why.ejectElapsed)
	}
	return up
}

func (b *Backend) healthHook(inst *Instance, healthy bool, reason string) {
	if f := b.hooks.InstanceHealth; f != nil {
		f(b.name, inst.URL, healthy, reason)
	}
}

// Start begins active health checking: one goroutine per instance sends GET
// <scheme>://<host><Path> right away and then every Interval, with Timeout;
// a 2xx answer is a good probe, anything else or an error a failed one. A nil
// client means http.DefaultClient. Start does nothing when health checks are
// disabled, when already started, or after Stop.
//
// On a reload, Start the new Backend and Stop the previous one: while both
// run, instances they share are probed twice.
func (b *Backend) Start(client *http.Client) {
	if b.s.Health.Disabled || b.s.Health.Interval <= 0 {
		return
	}
	if client == nil {
		client = http.DefaultClient
	}
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.cancel != nil || b.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	for _, inst := range b.insts {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.probeLoop(ctx, client, inst)
		}()
	}
}

// Stop ends health checking and waits for the probe goroutines to return. It
// is idempotent; a stopped Backend keeps serving Acquire and Release.
func (b *Backend) Stop() {
	b.runMu.Lock()
	b.stopped = true
	cancel := b.cancel
	b.cancel = nil
	b.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	b.wg.Wait()
}

func (b *Backend) probeLoop(ctx context.Context, client *http.Client, inst *Instance) {
	t := time.NewTicker(b.s.Health.Interval)
	defer t.Stop()
	for {
		ok := b.probe(ctx, client, inst)
		if ctx.Err() != nil {
			return // stopped mid-probe: not the instance's fault
		}
		b.ObserveProbe(inst, ok)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Backend) probe(ctx context.Context, client *http.Client, inst *Instance) bool {
	ctx, cancel := context.WithTimeout(ctx, b.s.Health.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.probeURL, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "gatelab-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
