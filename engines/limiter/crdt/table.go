package crdt

import (
	"sync"
	"unsafe"

	"github.com/gatelab/gatelab/engines/limiter/internal/keytable"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

const (
	numShards = 256 // a power of two: the shard is the low bits of the key's maphash

	syncSweep = 64 // slots per shard the sync loop inspects for idle records per round
)

// shardData is one shard's state: its records (see
// engines/limiter/internal/keytable) and the positions of those with unsent
// changes, under its mutex. shard pads it to whole cache lines so that
// neighbouring mutexes do not share one.
type shardData struct {
	mu sync.Mutex
	keytable.Shard[replica]
	dirty []uint32 // slab positions of records with unsent changes (record.queued)
	spare []uint32 // the other dirty buffer, swapped in by drain
}

type shard struct {
	shardData
	_ [(128 - unsafe.Sizeof(shardData{})%128) % 128]byte
}

// insert stores a fresh record for key under tag and returns its position.
func (sh *shard) insert(tag uint32, key string, algo pipeline.LimitAlgorithm, w, unit, now int64) uint32 {
	pos := sh.Insert(tag, key)
	sh.record(pos).init(algo, w, unit, now)
	return pos
}

// record returns the record at slab position i.
func (sh *shard) record(i uint32) *record {
	return (*record)(&sh.Slab[i])
}

// markDirty records that cells bits of record i changed. It reports whether
// the shard's dirty list was empty before.
func (sh *shard) markDirty(i uint32, bits uint8) (first bool) {
	r := &sh.Slab[i].State
	r.dirty |= bits
	if !r.queued {
		r.queued = true
		first = len(sh.dirty) == 0
		sh.dirty = append(sh.dirty, i)
	}
	return first
}

// drain hands every record with unsent changes to emit and clears the marks.
func (sh *shard) drain(emit func(r *record, bits uint8)) {
	list := sh.dirty
	sh.dirty, sh.spare = sh.spare[:0], nil
	for _, i := range list {
		r := sh.record(i)
		if r.Live && r.State.dirty != 0 {
			emit(r, r.State.dirty)
		}
		r.State.dirty, r.State.queued = 0, false
	}
	sh.spare = list[:0]
}

// The dirty list holds slab positions, and a sweep may free and move
// records: the shard is swept only right after a drain, when the list is
// empty (so no record is queued either).

// sweepStep inspects up to k slab positions for idle records (see
// keytable.Shard.SweepStep) if no change is pending.
func (sh *shard) sweepStep(now int64, k int) {
	if len(sh.dirty) == 0 {
		sh.SweepStep(now, k)
	}
}

// sweepAll frees every idle record (see keytable.Shard.SweepAll) if no change
// is pending.
func (sh *shard) sweepAll(now int64) {
	if len(sh.dirty) == 0 {
		sh.SweepAll(now)
	}
}
