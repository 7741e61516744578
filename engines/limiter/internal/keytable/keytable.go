package keytable

import (
	"strings"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Entry is one key's slot: the Header the table manages and the engine's
// State. With Header's 32 bytes, a State of four int64 makes a 64-byte
// entry, one cache line.
type Entry[S any] struct {
	Header
	State S
}

// Header is the part of an entry the table manages.
type Header struct {
	Key    string // owned copy of the key; set by Insert
	IdleAt int64  // Unix ns after which the entry may be dropped; set by the engine
	Tag    uint32 // the key's hash bits the index files it under; set by Insert
	Live   bool   // the position holds a key; set by Insert, cleared by Release
	// Algo is the algorithm the engine's state counts in. The table never
	// reads it; it lives here to fill the header's padding.
	Algo pipeline.LimitAlgorithm
}

const (
	compactMin = 64 // shards with fewer slab positions are never compacted
	minIndex   = 8  // smallest index length
)

type slot struct {
	tag uint32
	ref uint32 // slab position + 1; 0 marks an empty slot
}

// Shard holds the entries of one shard, each with a State of type S. See the
// package doc.
type Shard[S any] struct {
	// Slab holds the entries; a position that is not Live is free.
	Slab []Entry[S]
	// Live is the number of live entries.
	Live int

	index  []slot
	free   []uint32 // free slab positions
	cursor int      // next slab position SweepStep inspects
}

// Find returns the slab position of key, filed under tag.
func (sh *Shard[S]) Find(tag uint32, key string) (uint32, bool) {
	if len(sh.index) == 0 {
		return 0, false
	}
	mask := uint32(len(sh.index) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		s := sh.index[i]
		if s.ref == 0 {
			return 0, false
		}
		if s.tag == tag && sh.Slab[s.ref-1].Key == key {
			return s.ref - 1, true
		}
	}
}

// Insert files key (copied) under tag, which Find has just not found, and
// returns its slab position. The entry's header holds Key, Tag and Live; the
// caller initialises the rest (see the package doc).
func (sh *Shard[S]) Insert(tag uint32, key string) uint32 {
	if (sh.Live+1)*2 > len(sh.index) {
		sh.reindex(max(minIndex, 2*len(sh.index)))
	}
	var pos uint32
	if n := len(sh.free); n > 0 {
		pos = sh.free[n-1]
		sh.free = sh.free[:n-1]
	} else {
		pos = uint32(len(sh.Slab))
		sh.Slab = append(sh.Slab, Entry[S]{})
	}
	sh.Slab[pos].Header = Header{Key: strings.Clone(key), Tag: tag, Live: true}
	sh.place(tag, pos)
	sh.Live++
	return pos
}

// Release frees slab position pos, which must be live.
func (sh *Shard[S]) Release(pos uint32) { sh.release(pos, &sh.Slab[pos].Header) }

// release frees slab position pos, whose header is h.
func (sh *Shard[S]) release(pos uint32, h *Header) {
	sh.unplace(h.Tag, pos)
	*h = Header{}
	sh.free = append(sh.free, pos)
	sh.Live--
}

// sweep frees the entry at pos if it is idle at now.
func (sh *Shard[S]) sweep(pos int, now int64) {
	if h := &sh.Slab[pos].Header; h.Live && now > h.IdleAt {
		sh.release(uint32(pos), h)
	}
}

// SweepStep inspects up to k slab positions from the cursor on, freeing idle
// entries. At the end of each pass over the slab it may compact the shard.
func (sh *Shard[S]) SweepStep(now int64, k int) {
	for ; k > 0; k-- {
		if sh.cursor >= len(sh.Slab) {
			sh.cursor = 0
			sh.maybeCompact()
			if len(sh.Slab) == 0 {
				return
			}
		}
		sh.sweep(sh.cursor, now)
		sh.cursor++
	}
}

// SweepAll frees every idle entry and compacts the shard if worthwhile.
func (sh *Shard[S]) SweepAll(now int64) {
	for i := range sh.Slab {
		sh.sweep(i, now)
	}
	sh.cursor = 0
	sh.maybeCompact()
}

// maybeCompact rebuilds the slab and index when under a quarter of the slab
// is live, returning the memory of keys that went idle.
func (sh *Shard[S]) maybeCompact() {
	if len(sh.Slab) < compactMin || sh.Live*4 > len(sh.Slab) {
		return
	}
	slab := make([]Entry[S], 0, sh.Live+sh.Live/2)
	for i := range sh.Slab {
		if sh.Slab[i].Live {
			slab = append(slab, sh.Slab[i])
		}
	}
	n := minIndex
	for n < 2*len(slab) {
		n *= 2
	}
	sh.Slab, sh.free, sh.cursor = slab, nil, 0
	sh.reindex(n)
}

// place records slab position pos under tag (the index has room).
func (sh *Shard[S]) place(tag, pos uint32) {
	mask := uint32(len(sh.index) - 1)
	i := tag & mask
	for sh.index[i].ref != 0 {
		i = (i + 1) & mask
	}
	sh.index[i] = slot{tag: tag, ref: pos + 1}
}

// unplace removes slab position pos (filed under tag) from the index,
// shifting later slots of its probe run back into the hole.
func (sh *Shard[S]) unplace(tag, pos uint32) {
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
func (sh *Shard[S]) reindex(n int) {
	sh.index = make([]slot, n)
	for i := range sh.Slab {
		if h := &sh.Slab[i].Header; h.Live {
			sh.place(h.Tag, uint32(i))
		}
	}
}
