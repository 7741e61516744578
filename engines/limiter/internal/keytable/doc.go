// Package keytable is the per-key state table of the in-process limiter
// engines (local, crdt): one Shard holds the entries of the keys whose hash
// falls in it, in a slab, found through an open-addressing index, and frees
// the entries that went idle. An engine keeps an array of shards, each under
// its own mutex; the table itself takes no lock and is not safe for
// concurrent use.
//
// # Entries
//
// A shard's slab holds Entry[S] values: a Header, which the table manages,
// and the engine's State S. The table owns Key, Tag and Live; the engine sets
// IdleAt (the instant after which dropping the entry changes no decision)
// and Algo, which the table never reads. An engine usually declares its
// entry as a defined type with methods, type entry keytable.Entry[state],
// and converts: (*entry)(&sh.Slab[i]). The table reads the header's fields
// directly (no method call per probe or per swept slot), which keeps a
// lookup inlinable. Insert copies the key (strings.Clone: a caller's key is
// only valid during its call), so a lookup of a key already held allocates
// nothing.
//
// Insert returns the position of a slot whose header is set and whose State
// is whatever Release left there: the caller initialises it. Release clears
// the header (dropping the key) and leaves the State, so an engine may reuse
// buffers a State owned (crdt keeps its per-peer slots).
//
// # Index
//
// The index is a linear-probing table of 8-byte slots (power-of-two length,
// at most half full) holding 32 bits of the key's hash, the Tag, and the slab
// position. The caller computes the key's hash once per decision: some bits
// choose the shard, 32 others are the tag, whose low bits are the home
// position. A tag match is confirmed by comparing the stored key, so lookups
// are exact. The index holds no pointers (the GC never scans it) and Release
// shifts later entries back instead of leaving tombstones, so churn does not
// degrade probing.
//
// # Collection
//
// An entry is idle at now when it is live and now > IdleAt. SweepStep
// inspects the next k slab positions from a cursor (the amortised sweep an
// engine drives from its own calls), SweepAll every one. At the end of each
// pass, when under a quarter of a slab of at least 64 positions is live, the
// slab and index are rebuilt compactly, which moves entries: a position is
// valid until the next SweepStep or SweepAll, a pointer into the slab only
// until the next Insert too (which may grow the slab).
//
// The zero Shard is empty and ready to use.
package keytable
