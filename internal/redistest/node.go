package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/serverproc"
)

// Output lines that tell a starting server is up. Sentinel mode never prints
// the data server's line; it prints its +monitor event once it listens.
const (
	readyServer   = "Ready to accept connections"
	readySentinel = "+monitor master"
)

// cliAvailable returns the redis-cli binary, or why there is none.
func cliAvailable() (string, error) {
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", fmt.Errorf("no redis-cli on PATH: %w", err)
	}
	return bin, nil
}

// topologyBins returns redis-server and redis-cli, or skips t (fails it under
// EnvRequire=1) when either is missing. Clusters and sentinels always run as
// local processes, whatever EnvMode says: they announce their own addresses
// to clients, which a container's published ports would not match.
func topologyBins(t testing.TB) (server, cli string) {
	t.Helper()
	server, err := ProcessAvailable()
	if err == nil {
		cli, err = cliAvailable()
	}
	if err != nil {
		unavailable(t, err.Error()+" (clusters and sentinels need local redis-server and redis-cli)")
	}
	return server, cli
}

// startNode starts one server process for t, on nports free ports (the first
// is its client port, the server's Addr), killed when t ends. args builds the
// command line from the ports and the process's own directory; the server's
// output must contain ready once it serves. A port taken between the pick and
// the bind is retried with others.
func startNode(t testing.TB, bin, ready string, nports int, args func(ports []int, dir string) ([]string, error)) *proc {
	t.Helper()
	p := &proc{bin: bin, dir: t.TempDir(), out: &serverproc.RingLog{Max: 200}}
	var err error
	for range 5 {
		var ports []int
		if ports, err = freePorts(nports); err != nil {
			break
		}
		p.port = ports[0]
		var a []string
		if a, err = args(ports, p.dir); err != nil {
			break
		}
		if err = p.startArgs(a, ready); err == nil || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	if err != nil {
		p.kill()
		t.Fatalf("redistest: starting %s: %v\n%s", bin, err, p.logs())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redistest: output of the server on port %d:\n%s", p.port, p.logs())
		}
		if err := p.kill(); err != nil {
			t.Errorf("redistest: stopping the server on port %d: %v", p.port, err)
		}
	})
	return p
}

// freePorts returns n distinct free ports (see freePort).
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := serverproc.FreePort()
		if err != nil {
			return nil, err
		}
		dup := false
		for _, q := range ports {
			dup = dup || q == p
		}
		if !dup {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// startArgs is start with a given command line and readiness line: it runs
// the server and returns once its output has shown ready and it answers
// PING, or it has exited.
func (p *proc) startArgs(args []string, ready string) error {
	run, err := serverproc.Run(exec.Command(p.bin, args...), p.out, ready)
	if err != nil {
		return err
	}
	cmd, readyc, done := run.Cmd, run.Ready, run.Done
	p.cmd, p.done = cmd, done

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-readyc:
	case <-done:
		if strings.Contains(p.out.String(), "Address already in use") {
			return fmt.Errorf("port %d in use", p.port)
		}
		return fmt.Errorf("%s exited before it was ready: %v", p.bin, cmd.ProcessState)
	case <-timer.C:
		p.kill()
		return fmt.Errorf("%s not ready within %v", p.bin, startTimeout)
	}
	return ping(net127(p.port), 5*time.Second)
}

// respError is an error reply.
type respError string

func (e respError) Error() string { return string(e) }

// command sends one command on a new connection and returns its reply,
// all within timeout: a string (simple or bulk; "" for a nil bulk), an
// int64, a []any, or an error (a respError for an error reply).
func command(addr string, timeout time.Duration, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	v, err := readReply(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	if e, ok := v.(respError); ok {
		return nil, e
	}
	return v, nil
}

// commandString is command for a reply that is a string.
func commandString(addr string, timeout time.Duration, args ...string) (string, error) {
	v, err := command(addr, timeout, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: reply %v is not a string", args[0], v)
	}
	return s, nil
}

// readReply reads one RESP2 reply. An error reply is returned as a value.
func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return []any(nil), err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}

// infoField returns field's value in an INFO or CLUSTER INFO text.
func infoField(info, field string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return ""
}

// poll calls cond until it returns nil or within has passed, and returns
// its last error. Failures come back at once (refused connections, a
// state not reached yet): the loop is paced by a short pause.
func poll(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v: %w", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
