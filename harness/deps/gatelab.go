package deps

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// GatelabLocalImage is the reference GatelabImage builds.
const GatelabLocalImage = "gatelab-node:local"

// Paths and ports inside a gatelab node container.
const (
	GatelabBinPath     = "/usr/local/bin/gatelab" // the binary in GatelabImage
	GatelabConfigMount = "/cfg"                   // GatelabNodesOptions.ConfigDir, read-only
	GatelabTrafficPort = 8080                     // -listen 0.0.0.0:8080
	GatelabAdminPort   = 9090                     // -admin 0.0.0.0:9090
	GatelabGossipPort  = 7946                     // -bind <gossip IP>:7946
)

// LabelGroup labels the containers and networks of one StartGatelabNodes
// call with the call's unique name.
const LabelGroup = "org.gatelab.deps.group"

// gatelabReadyLine is what "gatelab serve" prints once both listeners are
// up.
const gatelabReadyLine = "gatelab serving on "

// Bounds of the gatelab node operations, applied when ctx has no deadline
// (and per step otherwise).
const (
	gatelabStartTimeout = 3 * time.Minute  // the whole StartGatelabNodes
	gatelabReadyTimeout = 60 * time.Second // one node's ready line and /readyz
	gatelabOpTimeout    = 30 * time.Second // Partition, Heal, one Docker call
	gatelabCloseTimeout = 60 * time.Second
	gatelabMaxNodes     = 64
)

// GatelabImage describes an image holding the gatelab binary bin (at
// GatelabBinPath, with its shared libraries if it is not static) and the
// extra files, with ENTRYPOINT gatelab and CMD serve. Ensure builds it.
// Configuration and fixture files are better mounted (GatelabNodesOptions.
// ConfigDir) than baked in: the image then changes only with the binary.
func GatelabImage(bin string, extra []File) *Image {
	files := append([]File{{Path: GatelabBinPath, From: bin, Mode: 0o755, Libs: true}}, extra...)
	return &Image{
		Ref:        GatelabLocalImage,
		Files:      files,
		Entrypoint: []string{GatelabBinPath},
		Cmd:        []string{"serve"},
		Expose: []string{
			strconv.Itoa(GatelabTrafficPort) + "/tcp",
			strconv.Itoa(GatelabAdminPort) + "/tcp",
			strconv.Itoa(GatelabGossipPort) + "/tcp",
			strconv.Itoa(GatelabGossipPort) + "/udp",
		},
		Labels: map[string]string{"org.gatelab.image": "gatelab-node"},
	}
}

// GatelabNodesOptions configures StartGatelabNodes.
type GatelabNodesOptions struct {
	// Image is the node image (built by Ensure if needed); nil:
	// GatelabImage(Bin, nil).
	Image *Image
	// Bin is the gatelab binary for the default image.
	Bin string
	// N is the number of nodes (default 3, at most 64).
	N int
	// ConfigDir is a host directory mounted read-only at /cfg in every
	// node; paths in the config (keys, JWKS, API keys) must be /cfg/...
	ConfigDir string
	// ConfigFile is the config's name inside ConfigDir (default
	// gateway.yaml).
	ConfigFile string
	// Args are extra "gatelab serve" flags (-server, -router, -drain...);
	// the limiter, node, bind, peers, listen, admin and config flags are
	// set here.
	Args []string
	// ReadyTimeout bounds each node's start (default 60s).
	ReadyTimeout time.Duration
	// Log, if set, receives progress messages.
	Log func(format string, args ...any)
}

// GatelabNode is one running node, as the host reaches it.
type GatelabNode struct {
	Name       string // the crdt node name (-node), also in the container name
	TrafficURL string // http://127.0.0.1:<published port>
	AdminURL   string // http://127.0.0.1:<published port>
	GossipAddr string // <IP on the gossip network>:7946, inside Docker only
}

// GatelabNodes is a cluster of gatelab nodes (crdt limiter) in containers:
// each on a private "traffic" network through which its traffic and admin
// ports are published on 127.0.0.1, and on an internal "gossip" network
// that carries memberlist and nothing else. Partition cuts one node off
// the gossip network; its traffic keeps flowing.
type GatelabNodes struct {
	Nodes []GatelabNode

	mu          sync.Mutex
	cli         dockerAPI
	group       string
	ids         []string // container IDs, parallel to Nodes
	ips         []netip.Addr
	partitioned []bool
	nets        []string // network IDs: traffic, gossip
	gossipID    string
	closed      bool
	log         func(format string, args ...any)
}

// StartGatelabNodes creates the two networks and N containers running
// "gatelab serve -limiter crdt", joined on the gossip network, and returns
// once every node printed its ready line and answered /readyz through its
// published admin port. On error everything made so far is removed. Docker
// unreachable: an error wrapping ErrUnavailable.
func StartGatelabNodes(ctx context.Context, o GatelabNodesOptions) (*GatelabNodes, error) {
	if o.N == 0 {
		o.N = 3
	}
	if o.N < 1 || o.N > gatelabMaxNodes {
		return nil, fmt.Errorf("starting gatelab nodes: N = %d, want 1..%d", o.N, gatelabMaxNodes)
	}
	if o.ConfigFile == "" {
		o.ConfigFile = "gateway.yaml"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = gatelabReadyTimeout
	}
	if o.ConfigDir == "" {
		return nil, errors.New("starting gatelab nodes: no ConfigDir")
	}
	dir, err := filepath.Abs(o.ConfigDir)
	if err != nil {
		return nil, fmt.Errorf("starting gatelab nodes: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, o.ConfigFile)); err != nil {
		return nil, fmt.Errorf("starting gatelab nodes: the config: %w", err)
	}
	im := o.Image
	if im == nil {
		if o.Bin == "" {
			return nil, errors.New("starting gatelab nodes: neither Image nor Bin")
		}
		im = GatelabImage(o.Bin, nil)
	}
	cli, err := dockerClient()
	if err != nil {
		return nil, fmt.Errorf("starting gatelab nodes: %w: %w", ErrUnavailable, err)
	}
	ctx, cancel := withDefaultTimeout(ctx, gatelabStartTimeout)
	defer cancel()

	t0 := time.Now()
	built, err := im.Ensure(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting gatelab nodes: %w", err)
	}
	logf(o.Log, "deps: gatelab node image %s%s in %v", im.Ref, builtNote(built), time.Since(t0).Round(time.Millisecond))

	g := &GatelabNodes{cli: cli, group: "gatelab-" + randomHex(6), log: o.Log}
	ok := false
	defer func() {
		if !ok {
			g.Close()
		}
	}()
	if err := g.makeNetworks(ctx, o.N); err != nil {
		return nil, fmt.Errorf("starting gatelab nodes: %w", err)
	}
	for i := range o.N {
		g.Nodes = append(g.Nodes, GatelabNode{
			Name:       "n" + strconv.Itoa(i),
			GossipAddr: netip.AddrPortFrom(g.ips[i], GatelabGossipPort).String(),
		})
	}
	g.partitioned = make([]bool, o.N)
	for i := range o.N {
		if err := g.createNode(ctx, i, im.Ref, dir, o); err != nil {
			return nil, fmt.Errorf("starting gatelab node %s: %w", g.Nodes[i].Name, err)
		}
	}
	for i := range o.N {
		if err := g.waitReady(ctx, i, o.ReadyTimeout); err != nil {
			return nil, fmt.Errorf("starting gatelab node %s: %w\n%s", g.Nodes[i].Name, err, g.Logs(i))
		}
	}
	ok = true
	logf(o.Log, "deps: %d gatelab nodes (%s) ready in %v", o.N, g.group, time.Since(t0).Round(time.Millisecond))
	return g, nil
}

// makeNetworks creates the traffic network (a bridge whose containers
// cannot talk to each other) and the internal gossip network on a /24 of
// 10.213.0.0/16 that no other Docker network or host interface uses, and
// picks the nodes' gossip IPs (.10 onwards).
func (g *GatelabNodes) makeNetworks(ctx context.Context, n int) error {
	labels := g.labels()
	c, cancel := context.WithTimeout(ctx, gatelabOpTimeout)
	res, err := g.cli.NetworkCreate(c, g.group+"-traffic", client.NetworkCreateOptions{
		Driver:  "bridge",
		Labels:  labels,
		Options: map[string]string{"com.docker.network.bridge.enable_icc": "false"},
	})
	cancel()
	if err != nil {
		return fmt.Errorf("creating the traffic network: %w", err)
	}
	g.nets = append(g.nets, res.ID)

	used := hostPrefixes()
	var lastErr error
	for try := 0; try < 8; try++ {
		b := make([]byte, 1)
		rand.Read(b)
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, b[0], 0}), 24)
		if overlaps(subnet, used) {
			lastErr = fmt.Errorf("subnet %s is used on this host", subnet)
			continue
		}
		c, cancel := context.WithTimeout(ctx, gatelabOpTimeout)
		res, err := g.cli.NetworkCreate(c, g.group+"-gossip", client.NetworkCreateOptions{
			Driver:   "bridge",
			Internal: true,
			Labels:   labels,
			IPAM:     &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}},
		})
		cancel()
		if err != nil {
			lastErr = err
			if strings.Contains(err.Error(), "overlap") {
				continue
			}
			return fmt.Errorf("creating the gossip network on %s: %w", subnet, err)
		}
		g.nets = append(g.nets, res.ID)
		g.gossipID = res.ID
		base := subnet.Addr().As4()
		for i := range n {
			ip := base
			ip[3] = byte(10 + i)
			g.ips = append(g.ips, netip.AddrFrom4(ip))
		}
		return nil
	}
	return fmt.Errorf("creating the gossip network: no free subnet in 10.213.0.0/16: %w", lastErr)
}

// hostPrefixes are the host's interface networks.
func hostPrefixes() []netip.Prefix {
	var out []netip.Prefix
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func overlaps(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

func (g *GatelabNodes) labels() map[string]string {
	return map[string]string{
		LabelOwner: "1",
		LabelHost:  thisHost(),
		LabelPID:   strconv.Itoa(os.Getpid()),
		LabelGroup: g.group,
	}
}

// createNode creates node i on the traffic network, connects it to the
// gossip network at its fixed IP and starts it.
func (g *GatelabNodes) createNode(ctx context.Context, i int, image, dir string, o GatelabNodesOptions) error {
	var peers []string
	for j, n := range g.Nodes {
		if j != i {
			peers = append(peers, n.GossipAddr)
		}
	}
	cmd := []string{"serve",
		"-config", GatelabConfigMount + "/" + o.ConfigFile,
		"-limiter", "crdt",
		"-node", g.Nodes[i].Name,
		"-bind", g.Nodes[i].GossipAddr,
		"-listen", "0.0.0.0:" + strconv.Itoa(GatelabTrafficPort),
		"-admin", "0.0.0.0:" + strconv.Itoa(GatelabAdminPort),
	}
	if len(peers) > 0 {
		cmd = append(cmd, "-peers", strings.Join(peers, ","))
	}
	cmd = append(cmd, o.Args...)
	traffic := network.MustParsePort(strconv.Itoa(GatelabTrafficPort) + "/tcp")
	admin := network.MustParsePort(strconv.Itoa(GatelabAdminPort) + "/tcp")
	loopback := netip.MustParseAddr("127.0.0.1")
	c, cancel := context.WithTimeout(ctx, gatelabOpTimeout)
	defer cancel()
	res, err := g.cli.ContainerCreate(c, client.ContainerCreateOptions{
		Name:  g.group + "-" + g.Nodes[i].Name,
		Image: image,
		Config: &container.Config{
			Cmd:          cmd,
			Labels:       g.labels(),
			ExposedPorts: network.PortSet{traffic: {}, admin: {}},
		},
		HostConfig: &container.HostConfig{
			Binds:       []string{dir + ":" + GatelabConfigMount + ":ro"},
			NetworkMode: container.NetworkMode(g.nets[0]),
			// Host port "": Docker picks a free one, on loopback only.
			PortBindings: network.PortMap{
				traffic: {{HostIP: loopback}},
				admin:   {{HostIP: loopback}},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("creating the container: %w", err)
	}
	g.ids = append(g.ids, res.ID)
	if err := g.connectGossip(c, i); err != nil {
		return err
	}
	if _, err := g.cli.ContainerStart(c, res.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting the container: %w", err)
	}
	st, err := g.cli.ContainerInspect(c, res.ID, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspecting the container: %w", err)
	}
	if st.Container.NetworkSettings == nil {
		return errors.New("the started container has no network settings")
	}
	url := func(p network.Port) (string, error) {
		for _, b := range st.Container.NetworkSettings.Ports[p] {
			if b.HostIP == loopback && b.HostPort != "" {
				return "http://127.0.0.1:" + b.HostPort, nil
			}
		}
		return "", fmt.Errorf("port %s is not published on 127.0.0.1: %v", p, st.Container.NetworkSettings.Ports[p])
	}
	if g.Nodes[i].TrafficURL, err = url(traffic); err != nil {
		return err
	}
	if g.Nodes[i].AdminURL, err = url(admin); err != nil {
		return err
	}
	return nil
}

func (g *GatelabNodes) connectGossip(ctx context.Context, i int) error {
	_, err := g.cli.NetworkConnect(ctx, g.gossipID, client.NetworkConnectOptions{
		Container: g.ids[i],
		EndpointConfig: &network.EndpointSettings{
			IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: g.ips[i]},
		},
	})
	if err != nil {
		return fmt.Errorf("connecting node %s to the gossip network: %w", g.Nodes[i].Name, err)
	}
	return nil
}

// waitReady follows node i's output to its ready line (a signal, no
// polling), then asks /readyz through the published admin port (a bounded
// loop: docker-proxy accepts before the container's listener does).
func (g *GatelabNodes) waitReady(ctx context.Context, i int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := g.cli.ContainerLogs(ctx, g.ids[i], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return fmt.Errorf("following the container's output: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() { _, err := stdcopy.StdCopy(pw, pw, rc); pw.CloseWithError(err) }()
	defer pr.Close()
	sc := bufio.NewScanner(pr)
	found := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), gatelabReadyLine) {
			found = true
			break
		}
	}
	if !found {
		if ctx.Err() != nil {
			return fmt.Errorf("no ready line within %v", timeout)
		}
		return fmt.Errorf("the container's output ended before its ready line (exited?): %v", sc.Err())
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	for try := 0; try < 200; try++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.Nodes[i].AdminURL+"/readyz", nil)
		res, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s/readyz: %v (%w)", g.Nodes[i].AdminURL, last, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("GET %s/readyz: %w", g.Nodes[i].AdminURL, last)
}

func (g *GatelabNodes) check(i int) error {
	if g.closed {
		return errors.New("the nodes are closed")
	}
	if i < 0 || i >= len(g.Nodes) {
		return fmt.Errorf("no node %d (have %d)", i, len(g.Nodes))
	}
	return nil
}

// Partition disconnects node i from the gossip network: it no longer
// reaches the other nodes nor they it, while its traffic and admin ports
// keep answering. Partitioning a partitioned node does nothing.
func (g *GatelabNodes) Partition(ctx context.Context, i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(i); err != nil {
		return fmt.Errorf("partitioning gatelab node: %w", err)
	}
	if g.partitioned[i] {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx, gatelabOpTimeout)
	defer cancel()
	if _, err := g.cli.NetworkDisconnect(ctx, g.gossipID, client.NetworkDisconnectOptions{Container: g.ids[i]}); err != nil {
		return fmt.Errorf("partitioning gatelab node %s: %w", g.Nodes[i].Name, err)
	}
	g.partitioned[i] = true
	logf(g.log, "deps: gatelab node %s partitioned from the gossip network", g.Nodes[i].Name)
	return nil
}

// Heal reconnects node i to the gossip network at its former IP. Healing a
// node that is not partitioned does nothing.
func (g *GatelabNodes) Heal(ctx context.Context, i int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(i); err != nil {
		return fmt.Errorf("healing gatelab node: %w", err)
	}
	if !g.partitioned[i] {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx, gatelabOpTimeout)
	defer cancel()
	if err := g.connectGossip(ctx, i); err != nil {
		return fmt.Errorf("healing: %w", err)
	}
	g.partitioned[i] = false
	logf(g.log, "deps: gatelab node %s back on the gossip network", g.Nodes[i].Name)
	return nil
}

// Partitioned reports whether node i is cut off by Partition.
func (g *GatelabNodes) Partitioned(i int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return i >= 0 && i < len(g.partitioned) && g.partitioned[i]
}

// Group is the unique name of these nodes' containers and networks (the
// LabelGroup value).
func (g *GatelabNodes) Group() string { return g.group }

// Logs returns the last lines (up to 64 KiB) of node i's output.
func (g *GatelabNodes) Logs(i int) string {
	if i < 0 || i >= len(g.ids) {
		return fmt.Sprintf("(no node %d)", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := g.cli.ContainerLogs(ctx, g.ids[i], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "500"})
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var b limitedBuffer
	b.max = 64 << 10
	stdcopy.StdCopy(&b, &b, rc)
	return b.String()
}

// limitedBuffer keeps the first max bytes written and discards the rest.
type limitedBuffer struct {
	strings.Builder
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Builder.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Close removes the containers (killing them) and the networks, even after
// errors; it returns every failure. Idempotent.
func (g *GatelabNodes) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), gatelabCloseTimeout)
	defer cancel()
	var errs []error
	for i, id := range g.ids {
		if _, err := g.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("removing gatelab node %s: %w", g.Nodes[i].Name, err))
		}
	}
	for _, id := range g.nets {
		if _, err := g.cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("removing network %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// removeOrphanNetworks removes the networks labelled by processes of this
// host that are gone (after their containers: a network in use cannot be
// removed).
func removeOrphanNetworks(ctx context.Context, cli dockerAPI) {
	res, err := cli.NetworkList(ctx, client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", LabelOwner+"=1", LabelHost+"="+thisHost()),
	})
	if err != nil {
		return
	}
	for _, n := range res.Items {
		pid, err := strconv.Atoi(n.Labels[LabelPID])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
	}
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func logf(f func(string, ...any), format string, args ...any) {
	if f != nil {
		f(format, args...)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func thisHost() string {
	h, _ := os.Hostname()
	return h
}
