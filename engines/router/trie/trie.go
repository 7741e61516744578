package trie

import (
	"strings"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/engines/router/internal/routespec"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func init() { engines.RegisterRouter("trie", New) }

var _ pipeline.Router = (*Router)(nil)

// Router is a segment trie. See the package documentation for the contract.
type Router struct {
	root *node
}

// cand is one route hanging on a node.
type cand struct {
	route   int
	methods pipeline.MethodSet
}

// node is one segment sequence (the root is the empty one).
type node struct {
	// slots is an open-addressing hash table of the children, indexed by
	// the FNV-1a hash of the child's segment, linear probing, a power of two
	// in size and at most half full, so a probe always reaches an empty slot.
	slots  []slot
	exact  []cand // exact routes whose path is this node, table order
	prefix []cand // prefix routes whose base is this node, table order
	// up is the nearest strict ancestor that has prefix routes, so the
	// fallback walk skips nodes without any.
	up *node

	kids map[string]*node // children while building; nil once New returns
}

type slot struct {
	key   string
	child *node // nil: empty slot
	hash  uint32
}

// FNV-1a, 32 bits. The table is built from the configuration, not from
// requests, so a request can cause at most a hash match that fails the
// string comparison; it cannot lengthen a probe sequence.
const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func hashSegment(s string) uint32 {
	h := uint32(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= fnvPrime
	}
	return h
}

// New builds a trie router. It returns an error for an invalid route table.
func New(routes []pipeline.RouteSpec) (pipeline.Router, error) {
	rs, err := routespec.Parse(routes)
	if err != nil {
		return nil, err
	}
	root := &node{}
	for _, r := range rs { // table order, so routes on one node keep it
		n := root
		if r.Base != "" { // "" is the catch-all's base: the root itself
			for _, seg := range strings.Split(r.Base[1:], "/") {
				c := n.kids[seg]
				if c == nil {
					c = &node{}
					if n.kids == nil {
						n.kids = map[string]*node{}
					}
					n.kids[seg] = c
				}
				n = c
			}
		}
		c := cand{route: r.Index, methods: r.Methods}
		if r.Prefix {
			n.prefix = append(n.prefix, c)
		} else {
			n.exact = append(n.exact, c)
		}
	}
	root.freeze(nil)
	return &Router{root: root}, nil
}

// freeze turns the build-time child maps into hash tables and sets the up
// pointers; fallback is the nearest strict ancestor of n with prefix routes.
func (n *node) freeze(fallback *node) {
	n.up = fallback
	if len(n.prefix) > 0 {
		fallback = n
	}
	if len(n.kids) > 0 {
		size := 2
		for size < 2*len(n.kids) {
			size *= 2
		}
		n.slots = make([]slot, size)
		mask := uint32(size - 1)
		for seg, c := range n.kids {
			h := hashSegment(seg)
			i := h & mask
			for n.slots[i].child != nil {
				i = (i + 1) & mask
			}
			n.slots[i] = slot{key: seg, child: c, hash: h}
			c.freeze(fallback)
		}
	}
	n.kids = nil
}

// child returns the child labelled seg, whose hash is h, or nil.
func (n *node) child(seg string, h uint32) *node {
	if len(n.slots) == 0 {
		return nil
	}
	mask := uint32(len(n.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &n.slots[i]
		if s.child == nil {
			return nil
		}
		if s.hash == h && s.key == seg {
			return s.child
		}
	}
}

// Match implements pipeline.Router.
func (r *Router) Match(m pipeline.Method, path string) pipeline.Match {
	if len(path) == 0 || path[0] != '/' {
		return pipeline.Match{Status: pipeline.NotFound}
	}
	// Walk down segment by segment. One pass over each segment both finds
	// its end and hashes it; the segment is a substring of path, never a copy.
	n := r.root
	consumed := false
	for i := 1; ; { // path[i:] starts the next segment
		h := uint32(fnvOffset)
		j := i
		for ; j < len(path) && path[j] != '/'; j++ {
			h ^= uint32(path[j])
			h *= fnvPrime
		}
		c := n.child(path[i:j], h)
		if c == nil {
			break
		}
		n = c
		if j == len(path) {
			consumed = true
			break
		}
		i = j + 1
	}

	var allow pipeline.MethodSet
	if consumed {
		for _, c := range n.exact {
			if c.methods.Has(m) {
				return pipeline.Match{Route: c.route, Status: pipeline.Found}
			}
			allow |= c.methods
		}
	}
	// Every node on the way down is a prefix of the path at a segment
	// boundary, so its prefix routes match; deepest (longest base) first.
	p := n
	if len(p.prefix) == 0 {
		p = p.up
	}
	for ; p != nil; p = p.up {
		for _, c := range p.prefix {
			if c.methods.Has(m) {
				return pipeline.Match{Route: c.route, Status: pipeline.Found}
			}
			allow |= c.methods
		}
	}
	if allow != 0 {
		return pipeline.Match{Status: pipeline.MethodNotAllowed, Allow: allow}
	}
	return pipeline.Match{Status: pipeline.NotFound}
}
