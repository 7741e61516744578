package faults

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Toxiproxy is an in-process toxiproxy server: TCP proxies on 127.0.0.1
// whose toxics (latency, timeout, reset, bandwidth) and up/down state the
// lab sets. It has no HTTP API listener; the lab calls it directly.
type Toxiproxy struct {
	srv *toxiproxy.ApiServer
	mu  sync.Mutex
	all []*Proxy
}

// NewToxiproxy returns a server with no proxies and no logging.
func NewToxiproxy() *Toxiproxy {
	return &Toxiproxy{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())}
}

// Proxy is one TCP proxy in front of an upstream address.
type Proxy struct {
	name     string
	upstream string
	p        *toxiproxy.Proxy
	mu       sync.Mutex
}

// Proxy starts a proxy named name on a free 127.0.0.1 port forwarding to
// upstream (host:port).
func (t *Toxiproxy) Proxy(name, upstream string) (*Proxy, error) {
	if !strings.HasPrefix(upstream, "127.") && !strings.HasPrefix(upstream, "localhost:") && !strings.HasPrefix(upstream, "[::1]:") {
		return nil, fmt.Errorf("starting proxy %s: upstream %q is not a loopback address", name, upstream)
	}
	p := toxiproxy.NewProxy(t.srv, name, "127.0.0.1:0", upstream)
	if err := t.srv.Collection.Add(p, true); err != nil {
		return nil, fmt.Errorf("starting proxy %s: %w", name, err)
	}
	px := &Proxy{name: name, upstream: upstream, p: p}
	t.mu.Lock()
	t.all = append(t.all, px)
	t.mu.Unlock()
	return px, nil
}

// Close stops every proxy and closes their connections.
func (t *Toxiproxy) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.all {
		p.p.Stop()
	}
	t.all = nil
}

// Addr is the proxy's listen address (stable across Down and Up).
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.p.Listen
}

// Latency adds latency (with jitter) to the answers coming back from the
// upstream, replacing an earlier latency toxic.
func (p *Proxy) Latency(latency, jitter time.Duration) error {
	return p.addToxic("latency", fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d,"jitter":%d}}`,
		latency.Milliseconds(), jitter.Milliseconds()))
}

// Blackhole makes the proxy swallow data: connections stay open, nothing
// comes back (toxiproxy's timeout toxic with no timeout).
func (p *Proxy) Blackhole() error {
	return p.addToxic("blackhole", `{"name":"blackhole","type":"timeout","stream":"downstream","toxicity":1,"attributes":{"timeout":0}}`)
}

// ResetPeer makes the proxy reset (TCP RST) every connection as soon as
// data arrives on it: a peer that crashes mid-request.
func (p *Proxy) ResetPeer() error {
	return p.addToxic("reset", `{"name":"reset","type":"reset_peer","stream":"upstream","toxicity":1,"attributes":{"timeout":0}}`)
}

// Bandwidth limits the answers coming back to rate KB/s.
func (p *Proxy) Bandwidth(kbps int64) error {
	return p.addToxic("bandwidth", fmt.Sprintf(`{"name":"bandwidth","type":"bandwidth","stream":"downstream","toxicity":1,"attributes":{"rate":%d}}`, kbps))
}

// addToxic replaces the toxic called name with the one body describes.
func (p *Proxy) addToxic(name, body string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.p.Toxics.RemoveToxic(context.Background(), name)
	if _, err := p.p.Toxics.AddToxicJson(strings.NewReader(body)); err != nil {
		return fmt.Errorf("adding %s to proxy %s: %w", name, p.name, err)
	}
	return nil
}

// Down closes the listener and every connection: new connections are
// refused until Up.
func (p *Proxy) Down() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Stop()
	return nil
}

// Up listens again on the same address.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p.Enabled {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ { // the port can take a moment to be free again
		if err = p.p.Start(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("restarting proxy %s on %s: %w", p.name, p.p.Listen, err)
}

// Reset removes every toxic and brings the proxy up.
func (p *Proxy) Reset() error {
	p.mu.Lock()
	p.p.Toxics.ResetToxics(context.Background())
	p.mu.Unlock()
	return p.Up()
}
