package faults

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Action is one fault of a timeline: Apply at At (from the timeline's
// start), Revert at At+For. Either function may be nil.
type Action struct {
	Name   string
	Kind   string
	At     time.Duration
	For    time.Duration
	Apply  func(ctx context.Context) error
	Revert func(ctx context.Context) error
}

// Event is what happened to one action, in offsets from the start.
type Event struct {
	Name, Kind string
	Applied    time.Duration // when Apply returned
	Reverted   time.Duration // when Revert returned (0: never applied)
	Err        error
}

// Run plays the actions against the clock from start and returns when every
// applied action has been reverted: at its end, or at once when ctx ends (so
// a cancelled run never leaves Redis frozen or an upstream killed). Revert
// runs with a fresh 30 s context. Events come back in the actions' order.
func Run(ctx context.Context, start time.Time, actions []Action) []Event {
	type step struct {
		at     time.Duration
		i      int
		revert bool
	}
	var steps []step
	for i, a := range actions {
		steps = append(steps, step{a.At, i, false}, step{a.At + a.For, i, true})
	}
	sort.SliceStable(steps, func(a, b int) bool {
		if steps[a].at != steps[b].at {
			return steps[a].at < steps[b].at
		}
		return steps[a].revert && !steps[b].revert // end one fault before the next starts
	})
	events := make([]Event, len(actions))
	applied := make([]bool, len(actions))
	for i, a := range actions {
		events[i] = Event{Name: a.Name, Kind: a.Kind}
	}
	var mu sync.Mutex
	revert := func(i int) {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if f := actions[i].Revert; f != nil {
			err = f(rctx)
		}
		mu.Lock()
		events[i].Reverted = time.Since(start)
		if err != nil && events[i].Err == nil {
			events[i].Err = fmt.Errorf("reverting %s: %w", actions[i].Name, err)
		}
		applied[i] = false
		mu.Unlock()
	}
	for _, s := range steps {
		if d := time.Until(start.Add(s.at)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			break
		}
		if s.revert {
			if applied[s.i] {
				revert(s.i)
			}
			continue
		}
		var err error
		if f := actions[s.i].Apply; f != nil {
			err = f(ctx)
		}
		events[s.i].Applied = time.Since(start)
		applied[s.i] = true
		if err != nil {
			events[s.i].Err = fmt.Errorf("applying %s: %w", actions[s.i].Name, err)
		}
	}
	for i := range actions {
		if applied[i] {
			revert(i)
		}
	}
	return events
}
