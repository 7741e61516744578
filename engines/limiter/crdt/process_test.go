package crdt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/engines"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

// The helper node of TestSeparateProcesses: started by the test in a child
// process (the test binary re-executed), it joins the parent's node, admits
// the requested number of requests, reports, and leaves when its stdin
// closes.
func TestMain(m *testing.M) {
	if peer := os.Getenv("CRDT_TEST_HELPER_PEER"); peer != "" {
		os.Exit(helperNode(peer))
	}
	os.Exit(m.Run())
}

var processPolicy = pipeline.Policy{Name: "proc", Limit: 1000, Window: time.Hour}

func helperNode(peer string) int {
	n, _ := strconv.Atoi(os.Getenv("CRDT_TEST_HELPER_N"))
	l, err := New(engines.LimiterOptions{}, Settings{
		Node:  "child",
		Bind:  "127.0.0.1:0",
		Peers: []string{peer},
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for range n {
		if _, err := l.Allow(context.Background(), "proc/key", processPolicy); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	m, _ := l.(*Limiter).Members()
	fmt.Println("admitted", n, "members", m)
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	if err := l.(*Limiter).Close(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	return 0
}

// TestSeparateProcesses: two nodes in two OS processes, built from options
// only, share a key's count and the parent sees the child leave.
func TestSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	parent := startNode(t, 0, "", nil, Settings{})
	const n = 37
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CRDT_TEST_HELPER_PEER="+parent.Addr(), "CRDT_TEST_HELPER_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	defer func() {
		stdin.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("child did not exit")
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() { done <- cmd.Wait() }()
	if err != nil || !strings.HasPrefix(line, "admitted") {
		t.Fatalf("child said %q (%v)", line, err)
	}
	t.Logf("child: %s", strings.TrimSpace(line))
	waitFor(t, 5*time.Second, "the parent sees the child's count", func() bool {
		c, p, _ := parent.Totals("proc/key")
		return c+p == n
	})
	if d := allow(t, parent, "proc/key", processPolicy); !d.Allowed || d.Remaining != processPolicy.Limit-n-1 {
		t.Errorf("parent's decision %+v, want Remaining %d", d, processPolicy.Limit-n-1)
	}
	stdin.Close()
	waitFor(t, 5*time.Second, "the child leaves", func() bool {
		m, size := parent.Members()
		return m == 1 && size == 1
	})
}
