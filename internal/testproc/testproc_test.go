package testproc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

func TestLineRegexp(t *testing.T) {
	for _, tc := range []struct {
		substr, line string
		want         bool
	}{
		{"listening", "upstream u listening on http://a:1", true},
		{"on http://a:1\n", "upstream u listening on http://a:1", true},
		{"on http://a:1\n", "upstream u listening on http://a:10", false},
		{"\nupstream u", "upstream u listening", true},
		{"\nupstream u", "x upstream u listening", false},
		{"a.b", "axb", false}, // literal, not a pattern
		{"(x)", "f(x)", true},
	} {
		re, err := lineRegexp(tc.substr)
		if err != nil {
			t.Fatalf("lineRegexp(%q): %v", tc.substr, err)
		}
		if got := re.MatchString(tc.line); got != tc.want {
			t.Errorf("lineRegexp(%q) on %q = %v, want %v", tc.substr, tc.line, got, tc.want)
		}
	}
	if _, err := lineRegexp("a\nb"); err == nil {
		t.Error("a substring spanning lines was accepted")
	}
}

func TestReadyLines(t *testing.T) {
	up := upstreamLine("u")
	for line, want := range map[string]string{
		"upstream u listening on http://a:1":    "http://a:1",
		"upstream uu listening on http://a:1":   "",
		"upstream u listening on ftp://a:1":     "",
		"x upstream u listening on http://a:1":  "",
		"upstream u listening on http://a:1 or": "",
	} {
		got := ""
		if m := up.FindStringSubmatch(line); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("upstream line %q: %q, want %q", line, got, want)
		}
	}
	m := servingLine.FindStringSubmatch("gatelab serving on http://127.0.0.1:5 (admin http://127.0.0.1:6) engines server=nethttp router=trie limiter=local config version 1 from f.yaml")
	if m == nil || m[1] != "127.0.0.1:5" || m[2] != "127.0.0.1:6" {
		t.Errorf("serving line: %q", m)
	}
}

func TestStartServeFreezeThaw(t *testing.T) {
	up := StartUpstream(t, "delta")
	cfg := filepath.Join(t.TempDir(), "gw.yaml")
	body := fmt.Sprintf(`
access_log: {output: "off"}
backends:
  - name: up
    instances: [{url: %q}]
routes:
  - {id: probe, pattern: /probe/*, backend: up, auth: none}
`, up)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartServe(t, "-config", cfg)
	if !strings.HasPrefix(s.Traffic, "127.0.0.1:") || !strings.HasPrefix(s.Admin, "127.0.0.1:") || s.Traffic == s.Admin {
		t.Fatalf("addresses %q and %q", s.Traffic, s.Admin)
	}
	if e := getEcho(t, "http://"+s.Traffic+"/probe/x"); e.Name != "delta" {
		t.Errorf("through the gateway: echo name %q", e.Name)
	}
	if u := s.Fleet().Usage(); u.CPU <= 0 || u.RSS <= 0 || u.PeakRSS < u.RSS {
		t.Errorf("usage of a serving gateway: %+v", u)
	}

	// Frozen: the kernel accepts the connection, nothing answers.
	if err := s.Freeze(); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := c.Get("http://" + s.Traffic + "/probe/x"); err == nil {
		resp.Body.Close()
		t.Errorf("a frozen gateway answered %s", resp.Status)
	}
	if err := s.Thaw(); err != nil {
		t.Fatal(err)
	}
	if e := getEcho(t, "http://"+s.Traffic+"/probe/y"); e.Name != "delta" {
		t.Errorf("after thaw: echo name %q", e.Name)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("serve exit after SIGTERM: %v", err)
	}
}
