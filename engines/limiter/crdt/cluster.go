package crdt

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatelab/gatelab/engines"
)

const (
	// maxChunk bounds a delta message: memberlist's UDP buffer is 1400 bytes,
	// less 1 byte of message type and 5 of checksum it adds (no compression,
	// no encryption, no label). One entry with the longest gossiped key and
	// the longest node name still fits.
	maxChunk = 1380
	// reconnectMin bounds how often the reconnect loop runs.
	reconnectMin = 20 * time.Millisecond
	// bulkChunks: a round with more delta chunks than this goes to each
	// member as one message over TCP (one connection per member and round)
	// instead of that many UDP packets.
	bulkChunks   = 4
	byeRepeats   = 2
	leaveTimeout = 250 * time.Millisecond
)

var errFiltered = errors.New("crdt: link blocked by the link filter")

// cluster is a Limiter's membership and transport side.
type cluster struct {
	l     *Limiter
	ml    *memberlist.Memberlist
	tr    *filterTransport
	addr  string
	seeds []string

	mu     sync.Mutex
	known  map[string]*member // other nodes seen, until they say bye
	pushTo map[string]bool    // rejoined nodes owed our full state
	alive  atomic.Pointer[[]*memberlist.Node]
	kick   chan struct{}
	bulk   map[string]bool // members with a bulk delta in flight (c.mu)

	collectors []prometheus.Collector
	reg        prometheus.Registerer

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type member struct {
	node  memberlist.Node
	alive bool
}

// New builds a crdt limiter node: it binds s.Bind (default
// 127.0.0.1:0, an ephemeral loopback port: see Addr), joins s.Peers
// (one attempt before New returns; failures are retried in the background)
// and starts gossiping. opts.Now is the clock of every window computation;
// opts.Registerer, if set, receives the engine's metrics. Close leaves the
// cluster.
func New(opts engines.LimiterOptions, s Settings) (engines.Limiter, error) {
	l, err := newNode(opts, s)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func newNode(opts engines.LimiterOptions, c Settings) (*Limiter, error) {
	if c.Node == "" {
		c.Node = opts.Instance
	}
	switch c.PartitionMode {
	case "", ModeScale, ModeOpen, ModeClosed:
	default:
		return nil, fmt.Errorf("crdt limiter: unknown partition mode %q (want scale, open or closed)", c.PartitionMode)
	}
	if c.ExpectedNodes < 0 || c.ExpectedNodes > maxNodes {
		return nil, fmt.Errorf("crdt limiter: ExpectedNodes must be in [0, %d], got %d", maxNodes, c.ExpectedNodes)
	}
	if c.SyncInterval < 0 {
		return nil, fmt.Errorf("crdt limiter: SyncInterval must not be negative, got %v", c.SyncInterval)
	}
	bind := c.Bind
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, fmt.Errorf("crdt limiter: bind address %q: %w", bind, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("crdt limiter: bind address %q: host must be an IP address", bind)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("crdt limiter: bind address %q: bad port", bind)
	}
	if len(c.Node) > maxName {
		return nil, fmt.Errorf("crdt limiter: node name longer than %d bytes", maxName)
	}

	mlog := memberlistLogger() // memberlist's lines, through slog at their level
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{host},
		BindPort:  port,
		Logger:    mlog,
	})
	if err != nil {
		return nil, fmt.Errorf("crdt limiter: %w", err)
	}
	bound := nt.GetAutoBindPort()
	name := c.Node
	if name == "" {
		// Unique per host and port; on a wildcard bind the IP says nothing.
		where := host
		if net.ParseIP(host).IsUnspecified() {
			if h, err := os.Hostname(); err == nil {
				where = h
			}
		}
		name = "crdt-" + net.JoinHostPort(where, strconv.Itoa(bound))
	}

	l := newCore(name, opts, c)
	cl := &cluster{
		l:      l,
		known:  map[string]*member{},
		pushTo: map[string]bool{},
		bulk:   map[string]bool{},
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	cl.alive.Store(new([]*memberlist.Node))
	l.cl = cl
	cl.tr = newFilterTransport(nt)

	cfg := memberlist.DefaultLANConfig()
	cfg.Name = name
	cfg.BindAddr = host
	cfg.BindPort = bound
	cfg.AdvertiseAddr = ""
	cfg.AdvertisePort = bound
	cfg.Transport = cl.tr
	cfg.Delegate = cl
	cfg.Events = cl
	cfg.Logger = mlog
	// Loopback / LAN timings: a failed node is declared dead about a second
	// after it stops answering (a probe round, then a suspicion of 3 probe
	// intervals, halved by confirmations) and state changes spread within a
	// few gossip rounds. Probe timeouts leave room for a busy host: a false
	// "dead" scales the limits down until the node refutes it.
	cfg.ProbeInterval = 200 * time.Millisecond
	cfg.ProbeTimeout = 100 * time.Millisecond
	cfg.SuspicionMult = 3
	cfg.SuspicionMaxTimeoutMult = 2
	cfg.GossipInterval = 20 * time.Millisecond
	cfg.GossipToTheDeadTime = 2 * time.Second
	cfg.PushPullInterval = 5 * time.Second
	cfg.TCPTimeout = time.Second
	cfg.DeadNodeReclaimTime = time.Second
	cfg.EnableCompression = false
	cfg.HandoffQueueDepth = 8192

	ml, err := memberlist.Create(cfg)
	if err != nil {
		_ = cl.tr.Shutdown()
		return nil, fmt.Errorf("crdt limiter: %w", err)
	}
	cl.ml = ml
	cl.addr = ml.LocalNode().Address()
	for _, p := range c.Peers {
		if p != "" && p != cl.addr {
			cl.seeds = append(cl.seeds, p)
		}
	}
	if opts.Registerer != nil {
		if err := cl.register(opts.Registerer); err != nil {
			_ = ml.Shutdown()
			return nil, err
		}
	}
	if len(cl.seeds) > 0 {
		_, _ = ml.Join(cl.seeds) // on failure the reconnect loop retries
	}
	cl.wg.Add(2)
	go cl.syncLoop()
	go cl.reconnectLoop()
	return l, nil
}

// Addr returns the address other nodes reach this node at (host:port), the
// value to list in their Settings.Peers. Empty for a limiter without
// networking.
func (l *Limiter) Addr() string {
	if l.cl == nil {
		return ""
	}
	return l.cl.addr
}

// SetLinkFilter installs a fault-injection filter on this node's gossip
// transport: packets to, and connections to, an address (host:port, as Addr
// reports it) for which allow returns false are dropped (a dial fails), as a
// network would drop them. Only outgoing traffic is filtered, so a partition
// is simulated by installing matching filters on both sides. nil removes the
// filter.
func (l *Limiter) SetLinkFilter(allow func(addr string) bool) {
	if l.cl == nil {
		return
	}
	if allow == nil {
		l.cl.tr.allow.Store(nil)
		return
	}
	l.cl.tr.allow.Store(&allow)
}

// Close leaves the cluster (a bye to every visible member, then memberlist's
// leave), stops the gossip and reconnect loops and releases the port. The
// limiter keeps deciding afterwards, on its own counts only. Close is
// idempotent.
func (l *Limiter) Close() error {
	if l.cl == nil {
		return nil
	}
	c := l.cl
	c.closeOnce.Do(func() {
		close(c.stop)
		c.tr.closing.Store(true) // a join in flight fails fast
		c.wg.Wait()
		bye := appendHeader(nil, kindBye, []string{l.name})
		for range byeRepeats {
			for _, n := range *c.alive.Load() {
				_ = c.ml.SendBestEffort(n, bye)
			}
		}
		_ = c.ml.Leave(leaveTimeout)
		c.closeErr = c.ml.Shutdown()
		c.setAlive(nil)
		l.setMembers(1, max(1, l.expected))
		if c.reg != nil {
			for _, col := range c.collectors {
				c.reg.Unregister(col)
			}
		}
	})
	return c.closeErr
}

// ---- membership (memberlist.EventDelegate) ----

// NotifyJoin is called by memberlist when a node becomes alive.
func (c *cluster) NotifyJoin(n *memberlist.Node) {
	if n.Name == c.l.name {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, seen := c.known[n.Name]
	if !seen {
		m = &member{}
		c.known[n.Name] = m
	}
	if seen && !m.alive {
		// A node coming back (partition healed, restart) may have missed our
		// deltas: it gets our full state.
		c.pushTo[n.Name] = true
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	m.node = copyNode(n)
	m.alive = true
	c.recount()
}

// NotifyLeave is called by memberlist when a node is declared dead or left.
func (c *cluster) NotifyLeave(n *memberlist.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.known[n.Name]; ok {
		m.alive = false
		c.recount()
	}
}

// NotifyUpdate is called by memberlist when a node's metadata changes.
func (c *cluster) NotifyUpdate(n *memberlist.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.known[n.Name]; ok {
		m.node = copyNode(n)
		c.recount()
	}
}

// forget drops a node that said bye: it no longer counts toward N.
func (c *cluster) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.known[name]; ok {
		delete(c.known, name)
		delete(c.pushTo, name)
		c.recount()
	}
}

func copyNode(n *memberlist.Node) memberlist.Node {
	cp := *n
	cp.Addr = append(net.IP(nil), n.Addr...)
	cp.Meta = nil
	return cp
}

// recount publishes the member counts and the send list (c.mu held).
func (c *cluster) recount() {
	alive := make([]*memberlist.Node, 0, len(c.known))
	for _, m := range c.known {
		if m.alive {
			n := m.node
			alive = append(alive, &n)
		}
	}
	c.setAlive(alive)
	size := c.l.expected
	if size == 0 {
		size = 1 + int64(len(c.known))
	}
	c.l.setMembers(1+int64(len(alive)), size)
}

func (c *cluster) setAlive(nodes []*memberlist.Node) { c.alive.Store(&nodes) }

// ---- gossip payload (memberlist.Delegate) ----

// NodeMeta is part of memberlist.Delegate; the engine has no metadata.
func (c *cluster) NodeMeta(int) []byte { return nil }

// NotifyMsg receives deltas, full states pushed after a rejoin, and byes.
func (c *cluster) NotifyMsg(b []byte) { c.l.handleMsg(b) }

// GetBroadcasts is part of memberlist.Delegate; deltas are sent directly to
// every member instead (one hop, no retransmission queue).
func (c *cluster) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState is this node's full state for a push/pull (join or periodic).
func (c *cluster) LocalState(bool) []byte { return c.l.fullState() }

// MergeRemoteState merges the other side's full state of a push/pull.
func (c *cluster) MergeRemoteState(buf []byte, _ bool) { c.l.handleMsg(buf) }

// ---- loops ----

// syncLoop sends the deltas every SyncInterval, and early when Allow asks
// (a key close to its limit), at most once per urgentGap.
func (c *cluster) syncLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.l.interval)
	defer tick.Stop()
	last := time.Now()
	for {
		full := false
		select {
		case <-c.stop:
			return
		case <-tick.C:
			full = true
		case <-c.l.urgent:
			if wait := urgentGap - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-c.stop:
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
		last = time.Now()
		c.round(full)
	}
}

// round drains the changes and sends them to every visible member: as UDP
// packets, or for a big round as one TCP message per member, sent in the
// background (at most one in flight per member; a member still busy with
// the previous one gets packets).
func (c *cluster) round(full bool) {
	l := c.l
	peers := *c.alive.Load()
	chunks := l.buildDeltas(l.now().UnixNano(), full, len(peers) > 0)
	l.lastRound.Store(time.Now().UnixNano())
	if len(chunks) == 0 || len(peers) == 0 {
		return
	}
	var bulk []byte
	if len(chunks) > bulkChunks {
		n := len(l.deltaHeader)
		for _, ch := range chunks {
			n += len(ch) - len(l.deltaHeader)
		}
		bulk = make([]byte, 0, n)
		bulk = append(bulk, l.deltaHeader...)
		for _, ch := range chunks {
			bulk = append(bulk, ch[len(l.deltaHeader):]...)
		}
	}
	for _, n := range peers {
		if bulk != nil && c.startBulk(n.Name) {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				if err := c.ml.SendReliable(n, bulk); err == nil {
					l.deltaBytes.Add(uint64(len(bulk)))
				}
				c.endBulk(n.Name)
			}()
			continue
		}
		for _, ch := range chunks {
			if err := c.ml.SendBestEffort(n, ch); err == nil {
				l.deltaBytes.Add(uint64(len(ch)))
			}
		}
	}
}

func (c *cluster) startBulk(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bulk[name] {
		return false
	}
	c.bulk[name] = true
	return true
}

func (c *cluster) endBulk(name string) {
	c.mu.Lock()
	delete(c.bulk, name)
	c.mu.Unlock()
}

// reconnectLoop pushes full state to rejoined nodes and, every two sync
// intervals, re-joins the known nodes memberlist declared dead (a partition
// healed, a node restarted) and, while this node sees nobody, its seeds.
// A join is a push/pull: both sides exchange full state.
func (c *cluster) reconnectLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(max(reconnectMin, 2*c.l.interval))
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		case <-c.kick:
		}
		c.pushFull()
		if targets := c.missing(); len(targets) > 0 {
			_, _ = c.ml.Join(targets)
		}
	}
}

// missing lists the addresses worth a join attempt.
func (c *cluster) missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	alive := 0
	for _, m := range c.known {
		if m.alive {
			alive++
		} else {
			out = append(out, m.node.Address())
		}
	}
	if alive == 0 {
		out = append(out, c.seeds...)
	}
	return out
}

// pushFull sends our full state to the nodes owed one.
func (c *cluster) pushFull() {
	c.mu.Lock()
	var to []memberlist.Node
	for name := range c.pushTo {
		if m, ok := c.known[name]; ok && m.alive {
			to = append(to, m.node)
		}
	}
	clear(c.pushTo)
	c.mu.Unlock()
	if len(to) == 0 {
		return
	}
	state := c.l.fullState()
	for i := range to {
		_ = c.ml.SendReliable(&to[i], state)
	}
}

// ---- transport with a link filter ----

// filterTransport is memberlist's NetTransport with a fault-injection filter
// on the address of the other end of every packet sent and connection
// dialled. Received traffic is not filtered (a connection's source port says
// nothing about the sender, and passing received packets through a filter
// would cost every packet a goroutine hop): a partition is two filters, one
// on each side.
type filterTransport struct {
	*memberlist.NetTransport
	allow   atomic.Pointer[func(string) bool]
	closing atomic.Bool
}

var _ memberlist.NodeAwareTransport = (*filterTransport)(nil)

func newFilterTransport(nt *memberlist.NetTransport) *filterTransport {
	return &filterTransport{NetTransport: nt}
}

func (t *filterTransport) allowed(addr string) bool {
	f := t.allow.Load()
	return f == nil || (*f)(addr)
}

// WriteTo implements memberlist.Transport; a filtered packet is dropped as
// the network would drop it.
func (t *filterTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if !t.allowed(addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *filterTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if !t.allowed(a.Addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

// DialTimeout implements memberlist.Transport.
func (t *filterTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *filterTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.closing.Load() || !t.allowed(a.Addr) {
		return nil, errFiltered
	}
	return t.NetTransport.DialAddressTimeout(a, timeout)
}
