package testproc

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

func TestMain(m *testing.M) { Main(m) }

func getEcho(t *testing.T, url string) upstream.Echo {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var e upstream.Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return e
}

func TestTwoUpstreamProcesses(t *testing.T) {
	a := StartUpstream(t, "alpha")
	b := StartUpstream(t, "beta")
	if a == b || !strings.HasPrefix(a, "http://127.0.0.1:") {
		t.Fatalf("upstream URLs %q and %q", a, b)
	}
	for _, tc := range []struct{ url, name string }{{a, "alpha"}, {b, "beta"}, {a, "alpha"}} {
		e := getEcho(t, tc.url+"/p%20q?x=1")
		if e.Name != tc.name || e.RawPath != "/p%20q" || e.Query != "x=1" {
			t.Errorf("%s: echo %+v, want name %q", tc.url, e, tc.name)
		}
	}
}

func TestFreeAddrWaitHTTPAndStop(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, "upstream", "-listen", addr, "-name", "gamma")
	WaitHTTP(t, "http://"+addr+upstream.HealthPath, 30*time.Second)
	p.WaitHTTP("http://"+addr+upstream.HealthPath, time.Second)
	p.WaitOutput("upstream gamma listening on http://"+addr+"\n", 5*time.Second)
	if e := getEcho(t, "http://"+addr+"/"); e.Name != "gamma" {
		t.Errorf("echo name %q", e.Name)
	}
	// SIGTERM: the command shuts down gracefully and exits with status 0.
	if err := p.Stop(); err != nil {
		t.Errorf("upstream exit after SIGTERM: %v\n%s", err, p.Output())
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if p.Stderr() != "" {
		t.Errorf("stderr: %q", p.Stderr())
	}
}

func TestCapturesExitAndStderr(t *testing.T) {
	p := Start(t, "no-such-command")
	<-p.Done()
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Errorf("exit: %v", err)
	}
	if !strings.Contains(p.Stderr(), `unknown command "no-such-command"`) || p.Stdout() != "" {
		t.Errorf("stdout %q stderr %q", p.Stdout(), p.Stderr())
	}
	if p.Output() != p.Stderr() {
		t.Errorf("Output %q differs from Stderr", p.Output())
	}
	// Output already written satisfies WaitOutput even after exit.
	p.WaitOutput("unknown command", time.Second)
}

func TestListeningURL(t *testing.T) {
	const prefix = "upstream u listening on "
	for out, want := range map[string]string{
		"":                                     "",
		"upstream u listening on http://a:1":   "", // line not complete yet
		"upstream u listening on http://a:1\n": "http://a:1",
		"noise\r\nupstream u listening on http://a:1\r\n": "http://a:1",
		"upstream uu listening on http://a:1\n":           "",
	} {
		if got := listeningURL(out, prefix); got != want {
			t.Errorf("listeningURL(%q) = %q, want %q", out, got, want)
		}
	}
}
