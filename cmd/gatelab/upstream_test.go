package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

// startUpstreamCmd runs "gatelab upstream ARGS" in-process and returns its URL
// and a stop function that returns the command's error.
func startUpstreamCmd(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	errc := make(chan error, 1)
	go func() {
		err := serveUpstream(ctx, args, pw, &stderr)
		pw.CloseWithError(io.EOF)
		errc <- err
	}()
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("no ready line within 10s")
	}
	m := regexp.MustCompile(`^upstream (\S+) listening on (http://\S+)\n$`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("ready line %q; stderr %s", line, stderr.String())
	}
	stop := func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("upstream did not stop within 10s")
			return nil
		}
	}
	return m[2], stop
}

func upstreamGet(t *testing.T, client *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestUpstreamFlags(t *testing.T) {
	url, stop := startUpstreamCmd(t, "-listen", "127.0.0.1:0", "-name", "flagged",
		"-static", "-body-bytes", "100", "-delay", "fixed:1ms", "-error-status", "503",
		"-max-conn-requests", "2", "-idle-timeout", "1m", "-seed", "3")
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	resp, b := upstreamGet(t, client, url+"/x")
	if resp.StatusCode != 200 || !bytes.Equal(b, upstream.Payload(100)) || resp.Close {
		t.Errorf("first: status %d, %d bytes, close %v", resp.StatusCode, len(b), resp.Close)
	}
	if resp, _ = upstreamGet(t, client, url+"/x"); !resp.Close {
		t.Error("second response on the connection does not close it (-max-conn-requests 2)")
	}
	_, b = upstreamGet(t, client, url+upstream.ControlBehaviorPath)
	const want = `{"delay":"fixed:1ms","error_rate":0,"error_status":503,"stall":false,"down":false,"max_conn_requests":2}`
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("behaviour\n got %s\nwant %s", got, want)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestUpstreamErrorRateFlag(t *testing.T) {
	url, stop := startUpstreamCmd(t, "-listen", "127.0.0.1:0", "-error-rate", "1", "-error-status", "502")
	resp, b := upstreamGet(t, http.DefaultClient, url+"/echoed")
	if resp.StatusCode != 502 || !strings.Contains(string(b), `"path":"/echoed"`) {
		t.Errorf("status %d body %s", resp.StatusCode, b)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func TestUpstreamBadFlags(t *testing.T) {
	code, _, stderr := runCLI("upstream", "-listen", "127.0.0.1:0", "-delay", "soon", "-error-rate", "2",
		"-error-status", "99", "-body-bytes", "5", "-max-conn-requests", "-1", "-idle-timeout", "-1s")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{"-delay", "soon", "error_rate", "error_status", "static", "max_conn_requests", "idle timeout"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
}

func TestUpstreamUsage(t *testing.T) {
	code, stdout, _ := runCLI("upstream", "-h")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"-static", "-body-bytes", "-delay", "-error-rate", "-error-status",
		"-max-conn-requests", "-idle-timeout", "-seed", "-listen", "-name", "/_control/behavior", "lognormal"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("usage does not mention %q", want)
		}
	}
}
