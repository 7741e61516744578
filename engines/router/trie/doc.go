// Package trie is the "trie" router engine: a segment trie built once from the
// route table and only read afterwards.
//
// Contract (pipeline.Router):
//   - Immutable: New copies what it needs from the route table; nothing is
//     written after New returns, and the caller may reuse its slice.
//   - Concurrency: Match only reads, so any number of goroutines may call it
//     at once without locks.
//   - Allocations: Match allocates nothing. Segments are substrings of the
//     path (no splitting into a new slice, no string building); one pass over
//     a segment finds its end and computes its FNV-1a hash, and each node
//     keeps its children in a small open-addressing table keyed by that hash.
//   - Precedence: a node stands for a segment sequence. Exact routes hang on
//     the node of their whole path, prefix routes ("/a/b/*") on the node of
//     their base ("/a/b"; the catch-all "/*" on the root). Match walks down as
//     far as the path's segments lead; if the whole path was consumed, the
//     node's exact routes are tried first; then prefix routes are tried from
//     the deepest node reached up to the root, i.e. longest base first. Routes
//     on one node keep their table order. The first route allowing the method
//     wins; otherwise the union of the tried routes' methods makes a 405, and
//     an empty union a 404.
//
// Patterns are validated by engines/router/internal/routespec, shared by every
// router engine.
package trie
