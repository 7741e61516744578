package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Wire format, version 1. Every message is
//
//	version  byte (1)
//	kind     byte (kindDelta, kindFull, kindBye)
//	nodes    uvarint, 1..maxNodes; then per node: uvarint length (1..maxName), name
//	entries  until the end of the message, each:
//	  uvarint key length (1..maxKeyLen), key bytes
//	  flags   byte: bit 0 set = GCRA, other bits zero
//	  uvarint window (ns, 1..maxWindow)
//	  uvarint unit (GCRA only: emission interval, 1..window; a sliding window's unit is its window)
//	  varint  idx (window index, or GCRA epoch), |idx| <= maxIndex
//	  varint  base (max-register), |base| <= maxBase
//	  uvarint slots (0..nodes); then per slot: uvarint node (index into the
//	          message's node table), uvarint value (0..maxCount)
//
// The first node of the table is the sender. A delta carries only the sender's
// own slot of the cells that changed since its last sync; a full state (join,
// push/pull, push after a rejoin) carries every slot the sender knows, naming
// the nodes they belong to. A bye has no entries: the sender leaves for good.
const (
	wireVersion = 1

	kindDelta = 1
	kindFull  = 2
	kindBye   = 3

	maxNodes  = 1024 // node table entries per message (and peers a node tracks)
	maxName   = 255  // bytes in a node name
	maxKeyLen = 1024 // bytes in a gossiped key; longer keys are decided locally only
	maxIndex  = 1 << 62

	flagGCRA = 1
)

var errMalformed = errors.New("crdt: malformed message")

// slotVal is one node's value in an entry (node indexes the message's table).
type slotVal struct {
	node  int
	value int64
}

// entry is one decoded (key, window) cell. key aliases the message buffer.
type entry struct {
	key   []byte
	algo  pipeline.LimitAlgorithm
	w     int64
	unit  int64
	idx   int64
	base  int64
	slots []slotVal
}

// message is a decoded header; entries are visited by decodeEntries.
type message struct {
	kind  byte
	nodes [][]byte // aliases the buffer; nodes[0] is the sender
	body  []byte
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errMalformed
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint(maxV uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > maxV {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint(maxAbs int64) int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 || v > maxAbs || v < -maxAbs {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(minLen, maxLen uint64) []byte {
	n := r.uvarint(maxLen)
	if r.err != nil || n < minLen || uint64(len(r.b)) < n {
		r.fail()
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// decodeHeader parses a message's version, kind and node table.
func decodeHeader(buf []byte) (message, error) {
	r := reader{b: buf}
	if v := r.byte(); r.err == nil && v != wireVersion {
		return message{}, fmt.Errorf("%w: version %d, want %d", errMalformed, v, wireVersion)
	}
	kind := r.byte()
	if r.err == nil && (kind < kindDelta || kind > kindBye) {
		return message{}, fmt.Errorf("%w: kind %d", errMalformed, kind)
	}
	n := r.uvarint(maxNodes)
	if r.err == nil && n == 0 {
		r.fail()
	}
	if r.err != nil {
		return message{}, r.err
	}
	nodes := make([][]byte, 0, min(n, uint64(len(r.b))))
	for range n {
		name := r.bytes(1, maxName)
		if r.err != nil {
			return message{}, r.err
		}
		nodes = append(nodes, name)
	}
	if kind == kindBye && len(r.b) > 0 {
		return message{}, fmt.Errorf("%w: bye with a body", errMalformed)
	}
	return message{kind: kind, nodes: nodes, body: r.b}, nil
}

// decodeEntries calls visit for every entry of m's body, in order, stopping at
// the first malformed one (entries before it have been visited). slots is
// scratch space for the slot lists; visit must not keep e.slots or e.key.
func decodeEntries(m message, slots []slotVal, visit func(e *entry)) error {
	r := reader{b: m.body}
	nodes := uint64(len(m.nodes))
	var e entry
	for len(r.b) > 0 {
		e.key = r.bytes(1, maxKeyLen)
		flags := r.byte()
		if flags&^flagGCRA != 0 {
			r.fail()
		}
		e.algo = pipeline.SlidingWindow
		if flags&flagGCRA != 0 {
			e.algo = pipeline.GCRA
		}
		e.w = int64(r.uvarint(maxWindow))
		if r.err == nil && e.w == 0 {
			r.fail()
		}
		e.unit = e.w
		if e.algo == pipeline.GCRA {
			e.unit = int64(r.uvarint(uint64(e.w)))
			if r.err == nil && e.unit == 0 {
				r.fail()
			}
		}
		e.idx = r.varint(maxIndex)
		e.base = r.varint(maxBase)
		if e.algo == pipeline.SlidingWindow && e.base < 0 {
			r.fail()
		}
		ns := r.uvarint(nodes)
		slots = slots[:0]
		for range ns {
			node := r.uvarint(nodes - 1)
			v := r.uvarint(maxCount)
			if r.err != nil {
				break
			}
			slots = append(slots, slotVal{node: int(node), value: int64(v)})
		}
		if r.err != nil {
			return r.err
		}
		e.slots = slots
		visit(&e)
	}
	return nil
}

// appendHeader starts a message of kind from the given node table.
func appendHeader(b []byte, kind byte, nodes []string) []byte {
	b = append(b, wireVersion, kind)
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = binary.AppendUvarint(b, uint64(len(n)))
		b = append(b, n...)
	}
	return b
}

// appendEntryHead appends an entry up to (excluding) its slot list.
func appendEntryHead(b []byte, r *record, c *cell) []byte {
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	if r.Algo == pipeline.GCRA {
		b = append(b, flagGCRA)
		b = binary.AppendUvarint(b, uint64(r.State.w))
		b = binary.AppendUvarint(b, uint64(r.State.unit))
	} else {
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(r.State.w))
	}
	b = binary.AppendVarint(b, c.idx)
	return binary.AppendVarint(b, c.base)
}

var appendUvarint = binary.AppendUvarint

// appendSlot appends one (node, value) pair.
func appendSlot(b []byte, node int, v int64) []byte {
	b = binary.AppendUvarint(b, uint64(node))
	return binary.AppendUvarint(b, uint64(v))
}
