package crdt

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

const (
	numShards = 256 // a power of two: the shard is the low bits of the key's maphash

	syncSweep  = 64 // slots per shard the sync loop inspects for idle records per round
	compactMin = 64 // shards with fewer slab slots are never compacted
)

// shardData is one shard's state; shard pads it to whole cache lines so that
// neighbouring mutexes do not share one.
type shardData struct {
	mu     sync.Mutex
	index  map[string]int32 // key -> slab position
	slab   []record
	free   []int32 // free slab positions
	dirty  []int32 // slab positions of records with unsent changes (record.queued)
	spare  []int32 // the other dirty buffer, swapped in by drain
	live   int
	cursor int // next slab position the incremental sweep inspects
}

type shard struct {
	shardData
	_ [(128 - unsafe.Sizeof(shardData{})%128) % 128]byte
}

func (sh *shard) init() { sh.index = make(map[string]int32) }

// insert stores a fresh record for key (copied) and returns its position.
func (sh *shard) insert(key string, algo pipeline.LimitAlgorithm, w, unit, now int64) int32 {
	k := strings.Clone(key)
	var pos int32
	if n := len(sh.free); n > 0 {
		pos = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		pos = int32(len(sh.slab))
		sh.slab = append(sh.slab, record{})
	}
	sh.slab[pos].init(k, algo, w, unit, now)
	sh.index[k] = pos
	sh.live++
	return pos
}

// markDirty records that cells bits of record i changed. It reports whether
// the shard's dirty list was empty before.
func (sh *shard) markDirty(i int32, bits uint8) (first bool) {
	r := &sh.slab[i]
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
		r := &sh.slab[i]
		if r.live && r.dirty != 0 {
			emit(r, r.dirty)
		}
		r.dirty, r.queued = 0, false
	}
	sh.spare = list[:0]
}

// release frees slab position i.
func (sh *shard) release(i int) {
	r := &sh.slab[i]
	delete(sh.index, r.key)
	remote := r.remote
	clear(remote)
	*r = record{remote: remote[:0]}
	sh.free = append(sh.free, int32(i))
	sh.live--
}

// idle reports whether the record at i may be dropped at now.
func (sh *shard) idle(i int, now int64) bool {
	r := &sh.slab[i]
	return r.live && !r.queued && now > r.idleAt
}

// sweepStep inspects up to k slab positions from the cursor on, freeing idle
// records. At the end of each pass it may compact the shard.
func (sh *shard) sweepStep(now int64, k int) {
	for ; k > 0; k-- {
		if sh.cursor >= len(sh.slab) {
			sh.cursor = 0
			sh.maybeCompact()
			if len(sh.slab) == 0 {
				return
			}
		}
		if sh.idle(sh.cursor, now) {
			sh.release(sh.cursor)
		}
		sh.cursor++
	}
}

// sweepAll frees every idle record and compacts if worthwhile.
func (sh *shard) sweepAll(now int64) {
	for i := range sh.slab {
		if sh.idle(i, now) {
			sh.release(i)
		}
	}
	sh.cursor = 0
	sh.maybeCompact()
}

// maybeCompact rebuilds the slab and index when under a quarter of the slab is
// live. It moves records, so it runs only when no position is held elsewhere
// (the dirty list is empty).
func (sh *shard) maybeCompact() {
	if len(sh.slab) < compactMin || sh.live*4 > len(sh.slab) || len(sh.dirty) > 0 {
		return
	}
	slab := make([]record, 0, sh.live+sh.live/2)
	index := make(map[string]int32, sh.live)
	for i := range sh.slab {
		if sh.slab[i].live {
			index[sh.slab[i].key] = int32(len(slab))
			slab = append(slab, sh.slab[i])
		}
	}
	sh.slab, sh.index, sh.free, sh.cursor = slab, index, nil, 0
}
