package local

import (
	"strings"
	"sync"
	"unsafe"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

const (
	numShards = 256 // a power of two: the shard is the hash's low bits

	insertSweep   = 4  // slots inspected after inserting a key
	hitSweepEvery = 32 // every this many decisions on a shard ...
	hitSweep      = 4  // ... inspect this many slots

	compactMin = 64 // shards with fewer slots are never compacted
)

// shardData is one shard's state; shard pads it to whole cache lines so that
// neighbouring mutexes do not share one.
type shardData struct {
	mu     sync.Mutex
	index  map[string]uint32 // key -> slot in slab
	slab   []entry
	free   []uint32 // free slots in slab
	live   int      // live entries in slab
	cursor int      // next slot the amortised sweep inspects
	ops    uint32   // decisions taken, for the periodic sweep
}

type shard struct {
	shardData
	_ [(128 - unsafe.Sizeof(shardData{})%128) % 128]byte
}

func (sh *shard) init() {
	sh.index = make(map[string]uint32)
}

// insert stores a fresh state for key (copied) and returns its slot.
func (sh *shard) insert(key string, algo pipeline.LimitAlgorithm, unit, now, window int64) uint32 {
	e := entry{
		key:    strings.Clone(key),
		idleAt: now + 2*window,
		unit:   unit,
		algo:   algo,
		live:   true,
	}
	if algo == pipeline.SlidingWindow {
		e.win = floorDiv(now, window)
	}
	var i uint32
	if n := len(sh.free); n > 0 {
		i = sh.free[n-1]
		sh.free = sh.free[:n-1]
		sh.slab[i] = e
	} else {
		i = uint32(len(sh.slab))
		sh.slab = append(sh.slab, e)
	}
	sh.index[e.key] = i
	sh.live++
	return i
}

// release frees slot i.
func (sh *shard) release(i int) {
	delete(sh.index, sh.slab[i].key)
	sh.slab[i] = entry{}
	sh.free = append(sh.free, uint32(i))
	sh.live--
}

// sweepStep inspects up to k slots from the cursor on, freeing idle ones. At
// the end of each pass over the slab it may compact the shard.
func (sh *shard) sweepStep(now int64, k int) {
	for ; k > 0; k-- {
		if sh.cursor >= len(sh.slab) {
			sh.cursor = 0
			sh.maybeCompact()
			if len(sh.slab) == 0 {
				return
			}
		}
		if e := &sh.slab[sh.cursor]; e.live && now > e.idleAt {
			sh.release(sh.cursor)
		}
		sh.cursor++
	}
}

// sweepAll frees every idle slot and compacts if worthwhile.
func (sh *shard) sweepAll(now int64) {
	for i := range sh.slab {
		if e := &sh.slab[i]; e.live && now > e.idleAt {
			sh.release(i)
		}
	}
	sh.cursor = 0
	sh.maybeCompact()
}

// maybeCompact rebuilds the map and slab when under a quarter of the slots
// are live, returning the memory of keys that went idle. It moves entries, so
// it runs only where no entry pointer is held.
func (sh *shard) maybeCompact() {
	if len(sh.slab) < compactMin || sh.live*4 > len(sh.slab) {
		return
	}
	slab := make([]entry, 0, sh.live+sh.live/2)
	index := make(map[string]uint32, sh.live)
	for i := range sh.slab {
		if sh.slab[i].live {
			index[sh.slab[i].key] = uint32(len(slab))
			slab = append(slab, sh.slab[i])
		}
	}
	sh.slab, sh.index, sh.free, sh.cursor = slab, index, nil, 0
}
