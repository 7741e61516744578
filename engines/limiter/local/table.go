package local

import (
	"sync"
	"unsafe"

	"github.com/gatelab/gatelab/engines/limiter/internal/keytable"
)

const (
	numShards = 256 // a power of two: the shard is the hash's low bits

	insertSweep   = 4  // slots inspected after inserting a key
	hitSweepEvery = 32 // every this many decisions on a shard ...
	hitSweep      = 4  // ... inspect this many slots
)

// shardData is one shard's state: its keys (see engines/limiter/internal/keytable)
// under its mutex. shard pads it to whole cache lines so that neighbouring
// mutexes do not share one.
type shardData struct {
	mu sync.Mutex
	keytable.Shard[state]
	ops uint32 // decisions taken, for the periodic sweep
}

type shard struct {
	shardData
	_ [(128 - unsafe.Sizeof(shardData{})%128) % 128]byte
}
