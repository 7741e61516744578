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

	compactMin = 64 // shards with fewer slab slots are never compacted
	minIndex   = 8  // smallest index length
)

// A shard finds a key's slab slot through index, an open-addressing table
// (linear probing, power-of-two length, at most half full) of 8-byte slots
// holding 32 bits of the key's hash and the slab position. The key's maphash
// is computed once per decision: its low bits pick the shard, its high 32 bits
// are the tag, whose low bits are the home position. A tag match is confirmed
// by comparing the key stored in the entry, so lookups are exact. The index
// holds no pointers (the GC never scans it) and deletion shifts entries back
// instead of leaving tombstones, so churn does not degrade probing.
type slot struct {
	tag uint32
	ref uint32 // slab position + 1; 0 marks an empty slot
}

// shardData is one shard's state; shard pads it to whole cache lines so that
// neighbouring mutexes do not share one.
type shardData struct {
	mu     sync.Mutex
	index  []slot
	slab   []entry
	free   []uint32 // free slab positions
	live   int      // live entries in slab (and slots used in index)
	cursor int      // next slab position the amortised sweep inspects
	ops    uint32   // decisions taken, for the periodic sweep
}

type shard struct {
	shardData
	_ [(128 - unsafe.Sizeof(shardData{})%128) % 128]byte
}

func (sh *shard) init() {
	sh.index = make([]slot, minIndex)
}

// find returns the slab position of key.
func (sh *shard) find(tag uint32, key string) (uint32, bool) {
	mask := uint32(len(sh.index) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		s := sh.index[i]
		if s.ref == 0 {
			return 0, false
		}
		if s.tag == tag && sh.slab[s.ref-1].key == key {
			return s.ref - 1, true
		}
	}
}

// place records slab position pos under tag (the index has room).
func (sh *shard) place(tag, pos uint32) {
	mask := uint32(len(sh.index) - 1)
	i := tag & mask
	for sh.index[i].ref != 0 {
		i = (i + 1) & mask
	}
	sh.index[i] = slot{tag: tag, ref: pos + 1}
}

// unplace removes slab position pos (stored under tag) from the index,
// shifting later entries of its probe run back into the hole.
func (sh *shard) unplace(tag, pos uint32) {
	mask := uint32(len(sh.index) - 1)
	j := tag & mask
	for sh.index[j].ref != pos+1 {
		j = (j + 1) & mask
	}
	for k := (j + 1) & mask; sh.index[k].ref != 0; k = (k + 1) & mask {
		// The slot at k may move to the hole at j unless its home position
		// lies cyclically in (j, k].
		home := sh.index[k].tag & mask
		if (k-home)&mask >= (k-j)&mask {
			sh.index[j] = sh.index[k]
			j = k
		}
	}
	sh.index[j] = slot{}
}

// reindex rebuilds the index with length n (a power of two) from the slab.
func (sh *shard) reindex(n int) {
	sh.index = make([]slot, n)
	for i := range sh.slab {
		if e := &sh.slab[i]; e.live {
			sh.place(e.tag, uint32(i))
		}
	}
}

// insert stores a fresh state for key (copied) and returns its slab position.
func (sh *shard) insert(tag uint32, key string, algo pipeline.LimitAlgorithm, unit, now, window int64) uint32 {
	if (sh.live+1)*2 > len(sh.index) {
		sh.reindex(2 * len(sh.index))
	}
	e := entry{
		key:    strings.Clone(key),
		idleAt: now + 2*window,
		unit:   unit,
		algo:   algo,
		live:   true,
		tag:    tag,
	}
	if algo == pipeline.SlidingWindow {
		e.win = floorDiv(now, window)
	}
	var pos uint32
	if n := len(sh.free); n > 0 {
		pos = sh.free[n-1]
		sh.free = sh.free[:n-1]
		sh.slab[pos] = e
	} else {
		pos = uint32(len(sh.slab))
		sh.slab = append(sh.slab, e)
	}
	sh.place(tag, pos)
	sh.live++
	return pos
}

// release frees slab position i.
func (sh *shard) release(i int) {
	sh.unplace(sh.slab[i].tag, uint32(i))
	sh.slab[i] = entry{}
	sh.free = append(sh.free, uint32(i))
	sh.live--
}

// sweepStep inspects up to k slab positions from the cursor on, freeing idle
// entries. At the end of each pass over the slab it may compact the shard.
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

// sweepAll frees every idle entry and compacts if worthwhile.
func (sh *shard) sweepAll(now int64) {
	for i := range sh.slab {
		if e := &sh.slab[i]; e.live && now > e.idleAt {
			sh.release(i)
		}
	}
	sh.cursor = 0
	sh.maybeCompact()
}

// maybeCompact rebuilds the slab and index when under a quarter of the slab is
// live, returning the memory of keys that went idle. It moves entries, so it
// runs only where no entry pointer is held.
func (sh *shard) maybeCompact() {
	if len(sh.slab) < compactMin || sh.live*4 > len(sh.slab) {
		return
	}
	slab := make([]entry, 0, sh.live+sh.live/2)
	for i := range sh.slab {
		if sh.slab[i].live {
			slab = append(slab, sh.slab[i])
		}
	}
	n := minIndex
	for n < 2*len(slab) {
		n *= 2
	}
	sh.slab, sh.free, sh.cursor = slab, nil, 0
	sh.reindex(n)
}
