package targets

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gatelab/gatelab/harness/fleet"
	"github.com/gatelab/gatelab/harness/peers"
	"github.com/gatelab/gatelab/suites"
)

// PeerFeatures are the features nginx and haproxy get from the config the
// lab's renderer (harness/peers) writes: prefix routes, the longest
// winning, with strip_prefix (a pattern "/x/*" routes /x too: peers.Route
// Base), and X-Request-ID kept or generated (peers.Config.RequestID, on
// for these targets only: the lab's comparisons render without it). Not
// declared, and why:
//
//   - headers.forwarded: the renderer sets X-Forwarded-For only (nginx
//     proxy_set_header, haproxy option forwardfor), not -Proto or -Host.
//     Adding those two would not be enough: the forwarded-set case also
//     needs the client's Forwarded header dropped, address-claims-stripped
//     needs X-Real-IP, True-Client-IP and the like dropped (gatelab strips
//     about twenty such headers by default; haproxy forwards their
//     '_'-spelled variants too), and the extended via-appended case needs
//     a Via entry;
//   - upstream.errors: refused and timed-out upstreams get the peer's own
//     HTML error pages, not JSON bodies with a request_id;
//   - routing.exact, routing.methods: a peers.Route is a prefix for every
//     method;
//   - auth, rate limits, limits, identity headers, traceparent: a plain
//     proxy has none of them.
//
// The report lists them as unsupported; the cases needing them are skipped.
var PeerFeatures = []suites.Feature{suites.RoutingPrefix, suites.HeadersRequestID}

// PeerOptions start nginx or haproxy in front of the fixture.
type PeerOptions struct {
	Kind    string // peers.KindNginx or peers.KindHAProxy
	Fixture *Fixture
	// Dir holds the rendered config, pid file and logs (a temporary
	// directory, removed by Close, when empty). It must be absolute.
	Dir string
}

// LeftOut is a fixture route a target does not carry, and why.
type LeftOut struct {
	Route  string
	Reason string
}

// Peer is nginx or haproxy as a Target: the fixture's routes that a plain
// proxy can express, rendered by harness/peers and started by peers.Start.
type Peer struct {
	kind    string
	peer    *peers.Peer
	carried []peers.Route
	left    []LeftOut
	tmp     string
}

// StartPeer renders the routes of suites.Routes that the peer's features
// allow (PeerRoutes) and starts the peer on a free loopback port. A peer
// not installed on this machine gives an error wrapping
// peers.ErrNotInstalled, so callers can skip it with the reason.
func StartPeer(ctx context.Context, o PeerOptions) (*Peer, error) {
	if _, err := peers.Find(o.Kind); err != nil {
		return nil, err
	}
	if o.Fixture == nil {
		return nil, fmt.Errorf("starting %s: no fixture", o.Kind)
	}
	p := &Peer{kind: o.Kind}
	p.carried, p.left = PeerRoutes(suites.Routes, o.Fixture.Backends, PeerFeatures)
	if len(p.carried) == 0 {
		return nil, fmt.Errorf("starting %s: no fixture route it can carry", o.Kind)
	}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gatelab-conform-"+o.Kind+"-"); err != nil {
			return nil, fmt.Errorf("starting %s: %w", o.Kind, err)
		}
		p.tmp = dir
	}
	// The port is free when picked but not held: retry with another one
	// when something took it before the peer bound it.
	var err error
	for range 5 {
		var port int
		if port, err = fleet.FreePort(); err != nil {
			break
		}
		c := peers.Config{Listen: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Routes: p.carried, Dir: dir, RequestID: true}
		if p.peer, err = peers.Start(ctx, o.Kind, c); err == nil {
			return p, nil
		}
		if !strings.Contains(strings.ToLower(err.Error()), "in use") || ctx.Err() != nil {
			break
		}
	}
	p.Close()
	return nil, err
}

// PeerRoutes turns fixture routes into the lab's neutral peer routes: a
// pattern "/x/*" becomes the prefix "/x/" with Base (so it matches /x
// itself and everything below /x/, not /xy, as gatelab does), Strip
// becomes StripPrefix, the backend its address. A route
// is left out, with the reason, when it needs a feature not in have or
// asks for something a plain proxy does not do (an exact path, methods,
// credentials, a rate limit, a body limit).
func PeerRoutes(routes []suites.Route, backends map[string]string, have []suites.Feature) ([]peers.Route, []LeftOut) {
	var out []peers.Route
	var left []LeftOut
	for _, r := range routes {
		why := ""
		addr, ok := backends[r.Backend]
		switch {
		case r.Needs != "" && !slices.Contains(have, r.Needs):
			why = "needs " + string(r.Needs)
		case !strings.HasSuffix(r.Pattern, "/*"):
			why = "an exact path (" + r.Pattern + ")"
		case len(r.Methods) > 0:
			why = "limited to methods " + strings.Join(r.Methods, ", ")
		case r.Auth != "" && r.Auth != suites.NoAuth:
			why = "needs credentials (" + r.Auth + ")"
		case len(r.Scopes) > 0:
			why = "needs scopes"
		case r.Tier != "":
			why = "rate limited (tier " + r.Tier + ")"
		case r.MaxBodyBytes > 0:
			why = "has a body limit"
		case !ok:
			why = "no address for backend " + r.Backend
		}
		if why != "" {
			left = append(left, LeftOut{Route: r.ID, Reason: why})
			continue
		}
		out = append(out, peers.Route{
			ID:          r.ID,
			Prefix:      strings.TrimSuffix(r.Pattern, "*"),
			Base:        r.Pattern != "/*", // the catch-all has no base path
			StripPrefix: r.Strip,
			Upstreams:   []string{addr},
			TimeoutMS:   r.TimeoutMS,
		})
	}
	return out, left
}

// Close stops the peer and removes its temporary directory.
func (p *Peer) Close() {
	if p.peer != nil {
		p.peer.Stop()
	}
	if p.tmp != "" {
		os.RemoveAll(p.tmp)
	}
}

// Name is the peer kind: "nginx" or "haproxy".
func (p *Peer) Name() string { return p.kind }

// Implementation is the peer with its version; the mode says where its
// config came from, how many workers it runs and that it sets X-Request-ID.
func (p *Peer) Implementation() suites.Implementation {
	return suites.Implementation{Name: p.kind, Version: p.peer.Version,
		Mode: map[string]string{"config": "harness/peers", "workers": strconv.Itoa(peers.DefaultWorkers), "request_id": "on"}}
}

// URL is the peer's listener.
func (p *Peer) URL() string { return p.peer.URL }

// Features are PeerFeatures.
func (p *Peer) Features() []suites.Feature { return slices.Clone(PeerFeatures) }

// Reconfigure is not supported: the peer's config is rendered once.
func (p *Peer) Reconfigure(context.Context, []suites.Route) error { return suites.ErrUnsupported }

// ConfigPath is the rendered config file (removed by Close when Dir was
// a temporary directory).
func (p *Peer) ConfigPath() string { return p.peer.ConfigPath }

// LeftOut lists the fixture routes the peer does not carry, with reasons.
func (p *Peer) LeftOut() []LeftOut { return slices.Clone(p.left) }
