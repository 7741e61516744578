// Package all blank-imports every engine so it registers itself. The binary,
// the node assembly and the lab import this package; adding an engine is one
// folder plus one line here.
package all

import (
	_ "github.com/gatelab/gatelab/engines/limiter/crdt"
	_ "github.com/gatelab/gatelab/engines/limiter/local"
	_ "github.com/gatelab/gatelab/engines/limiter/redis"
	_ "github.com/gatelab/gatelab/engines/router/mux"
	_ "github.com/gatelab/gatelab/engines/router/regex"
	_ "github.com/gatelab/gatelab/engines/router/trie"
	_ "github.com/gatelab/gatelab/engines/server/fasthttp"
	_ "github.com/gatelab/gatelab/engines/server/nethttp"
)
