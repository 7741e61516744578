package deps

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/gatelab/gatelab/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// gatelabTestConfig needs no upstream: the one route is the gateway's own
// health answer.
const gatelabTestConfig = `
access_log: {output: "off"}
limiter:
  crdt: {sync_interval: 25ms, expected_nodes: 3}
routes:
  - {id: health, pattern: /health, methods: [GET], backend: self, auth: none}
`

// TestGatelabImageRootFS: the image holds the binary at GatelabBinPath,
// executable, and every library ldd lists for it.
func TestGatelabImageRootFS(t *testing.T) {
	bin := testproc.Binary(t)
	libs, err := sharedLibraries(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	im := GatelabImage(bin, []File{{Path: "/etc/gatelab/x", Data: []byte("x")}})
	if err := im.WriteRootFS(&buf); err != nil {
		t.Fatal(err)
	}
	modes := map[string]int64{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		modes["/"+strings.TrimSuffix(h.Name, "/")] = h.Mode
	}
	if m, ok := modes[GatelabBinPath]; !ok || m&0o111 == 0 {
		t.Errorf("%s: present %v, mode %o; want an executable", GatelabBinPath, ok, m)
	}
	if _, ok := modes["/etc/gatelab/x"]; !ok {
		t.Error("the extra file is missing")
	}
	for _, l := range libs {
		// A library under a directory that is a link on the host (/lib ->
		// usr/lib) is stored under the link's target.
		real, err := filepath.EvalSymlinks(filepath.Dir(l))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := modes[filepath.Join(real, filepath.Base(l))]; !ok {
			t.Errorf("library %s (%s) is missing", l, real)
		}
	}
	t.Logf("%d libraries: %v", len(libs), libs)
}

func TestGatelabNodesOptionsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.yaml"), []byte(gatelabTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, o := range []GatelabNodesOptions{
		{N: -1, ConfigDir: dir, Bin: "/bin/true"},
		{N: gatelabMaxNodes + 1, ConfigDir: dir, Bin: "/bin/true"},
		{Bin: "/bin/true"},                     // no ConfigDir
		{ConfigDir: dir, Bin: "/bin/true"},     // no gateway.yaml in it
		{ConfigDir: dir, ConfigFile: "x.yaml"}, // neither Image nor Bin
	} {
		if g, err := StartGatelabNodes(ctx, o); err == nil {
			g.Close()
			t.Errorf("%+v: no error", o)
		}
	}
}

// TestGatelabNodesPartition runs three crdt nodes in containers, cuts one
// off the gossip network and heals it, reading the membership each node
// reports; then checks that Close leaves nothing behind.
func TestGatelabNodesPartition(t *testing.T) {
	needDocker(t)
	bin := testproc.Binary(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gw.yaml"), []byte(gatelabTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	t0 := time.Now()
	g, err := StartGatelabNodes(ctx, GatelabNodesOptions{Bin: bin, N: 3, ConfigDir: dir, ConfigFile: "gw.yaml",
		Args: []string{"-drain", "1s"}, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Since(t0)
	closed := false
	t.Cleanup(func() {
		if t.Failed() {
			for i := range g.Nodes {
				t.Logf("node %d output:\n%s", i, g.Logs(i))
			}
		}
		if !closed {
			g.Close()
		}
	})
	for _, n := range g.Nodes {
		t.Logf("node %s: traffic %s admin %s gossip %s", n.Name, n.TrafficURL, n.AdminURL, n.GossipAddr)
		for _, u := range []string{n.TrafficURL, n.AdminURL} {
			if !strings.HasPrefix(u, "http://127.0.0.1:") {
				t.Errorf("node %s: %s is not on 127.0.0.1", n.Name, u)
			}
		}
	}

	t1 := time.Now()
	waitPeers(t, g, []int{2, 2, 2}, 30*time.Second)
	joined := time.Since(t1)
	for i := range g.Nodes {
		mustGet(t, g.Nodes[i].TrafficURL+"/health", 200)
	}

	if err := g.Partition(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if !g.Partitioned(2) {
		t.Error("Partitioned(2) is false after Partition(2)")
	}
	if err := g.Partition(ctx, 2); err != nil {
		t.Fatalf("second Partition: %v", err)
	}
	t2 := time.Now()
	waitPeers(t, g, []int{1, 1, 0}, 15*time.Second)
	detected := time.Since(t2)
	// Traffic still reaches every node, the cut-off one included.
	for i := range g.Nodes {
		mustGet(t, g.Nodes[i].TrafficURL+"/health", 200)
	}

	if err := g.Heal(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if g.Partitioned(2) {
		t.Error("Partitioned(2) is true after Heal(2)")
	}
	if err := g.Heal(ctx, 2); err != nil {
		t.Fatalf("second Heal: %v", err)
	}
	t3 := time.Now()
	waitPeers(t, g, []int{2, 2, 2}, 15*time.Second)
	healed := time.Since(t3)
	t.Logf("timings: start %v, membership of 3 %v, partition seen %v, heal seen %v",
		started.Round(time.Millisecond), joined.Round(time.Millisecond), detected.Round(time.Millisecond), healed.Round(time.Millisecond))

	if err := g.Partition(ctx, 3); err == nil {
		t.Error("Partition(3) of 3 nodes: no error")
	}

	closed = true
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := g.Partition(ctx, 0); err == nil {
		t.Error("Partition after Close: no error")
	}
	filter := make(client.Filters).Add("label", LabelGroup+"="+g.Group())
	cs, err := docker.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) != 0 {
		t.Errorf("after Close, %d containers labelled %s", len(cs.Items), g.Group())
	}
	ns, err := docker.cli.NetworkList(ctx, client.NetworkListOptions{Filters: filter})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Items) != 0 {
		t.Errorf("after Close, %d networks labelled %s", len(ns.Items), g.Group())
	}
	if _, err := http.Get(g.Nodes[0].AdminURL + "/metrics"); err == nil {
		t.Error("node 0's admin port still answers after Close")
	}
}

// waitPeers polls every node's gatelab_crdt_peers every 200 ms until each
// shows want[i], or fails after limit.
func waitPeers(t *testing.T, g *GatelabNodes, want []int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	got := make([]int, len(want))
	var errs []error
	for {
		errs = errs[:0]
		done := true
		for i := range want {
			v, err := crdtPeers(g.Nodes[i].AdminURL)
			got[i] = v
			if err != nil {
				errs = append(errs, err)
			}
			done = done && err == nil && v == want[i]
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatelab_crdt_peers per node: %v, want %v within %v (%v)", got, want, limit, errors.Join(errs...))
		}
		time.Sleep(200 * time.Millisecond) // polling pace: the metric has no push signal
	}
}

// crdtPeers reads gatelab_crdt_peers from a node's /metrics (-1 on error).
func crdtPeers(admin string) (int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(admin + "/metrics")
	if err != nil {
		return -1, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return -1, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "gatelab_crdt_peers "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return -1, fmt.Errorf("%s/metrics has no gatelab_crdt_peers", admin)
}

func mustGet(t *testing.T, url string, want int) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", url, res.StatusCode, want)
	}
}

// TestRemoveOrphanNetworks: a network labelled by a process of this host
// that is gone is removed; one labelled by this process is kept.
func TestRemoveOrphanNetworks(t *testing.T) {
	needDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := child.Process.Pid
	group := "gatelab-test-" + randomHex(4)
	create := func(pid int) string {
		res, err := docker.cli.NetworkCreate(ctx, group+"-"+strconv.Itoa(pid), client.NetworkCreateOptions{
			Driver: "bridge", Internal: true,
			Labels: map[string]string{LabelOwner: "1", LabelHost: thisHost(), LabelPID: strconv.Itoa(pid), LabelGroup: group},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { docker.cli.NetworkRemove(context.Background(), res.ID, client.NetworkRemoveOptions{}) })
		return res.ID
	}
	orphan, mine := create(dead), create(os.Getpid())
	removeOrphanNetworks(ctx, docker.cli)
	exists := func(id string) bool {
		_, err := docker.cli.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
		return err == nil
	}
	if exists(orphan) {
		t.Errorf("the network of dead pid %d was not removed", dead)
	}
	if !exists(mine) {
		t.Error("the network of this process was removed")
	}
}
