package peers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/upstream"
)

func TestRenderStaticGolden(t *testing.T) {
	c := StaticConfig{Listen: "127.0.0.1:19001", Name: "users", Dir: `/var/lib/gatelab/run 1/it's "odd"; {x}`,
		KeepAliveRequests: 1000, KeepAliveTimeout: 2 * time.Second}
	got, err := RenderStatic(c)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "nginx-static.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("RenderStatic differs from %s (go test -update rewrites it); got:\n%s", golden, got)
	}
	if again, _ := RenderStatic(c); again != got {
		t.Error("two renders of the same StaticConfig differ")
	}
}

// TestRenderStaticSettings: the zero fields take nginx's own defaults, the
// set ones land in the file, and the answer is the fixed JSON body.
func TestRenderStaticSettings(t *testing.T) {
	cases := []struct {
		name string
		c    StaticConfig
		want []string
	}{
		{"defaults", StaticConfig{}, []string{"worker_processes 1;", "keepalive_requests 1000;", "keepalive_timeout 75s;"}},
		{"set", StaticConfig{Workers: 2, KeepAliveRequests: 3, KeepAliveTimeout: 2 * time.Second},
			[]string{"worker_processes 2;", "keepalive_requests 3;", "keepalive_timeout 2s;"}},
		{"milliseconds", StaticConfig{KeepAliveTimeout: 1500 * time.Millisecond}, []string{"keepalive_timeout 1500ms;"}},
	}
	common := []string{
		"daemon off;", "listen 127.0.0.1:18080;", "access_log off;", "default_type application/json;",
		`return 200 '{"ok":true}';`, `pid "/tmp/run/nginx.pid";`, `"name":"users"`,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Listen, c.Name, c.Dir = "127.0.0.1:18080", "users", "/tmp/run"
			got, err := RenderStatic(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range append(tc.want, common...) {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			if strings.Contains(got, "proxy_pass") || strings.Contains(got, "upstream route_") {
				t.Errorf("a static responder proxies:\n%s", got)
			}
		})
	}
}

func TestRenderStaticProblems(t *testing.T) {
	_, err := RenderStatic(StaticConfig{Listen: "127.0.0.1", Name: "a b", Dir: "run/$x", Workers: -1, KeepAliveRequests: -1, KeepAliveTimeout: time.Microsecond})
	var ie *InvalidConfigError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an *InvalidConfigError", err)
	}
	want := []string{`listen "127.0.0.1": not host:port`, `name "a b"`, `dir "run/$x"`, "workers: -1", "keepalive_requests: -1", "keepalive_timeout: 1µs"}
	if len(ie.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %q", len(ie.Problems), len(want), ie.Problems)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q not in:\n%v", w, err)
		}
	}
	if _, err := RenderStatic(StaticConfig{Listen: "127.0.0.1:1", Dir: "/d"}); err == nil || !strings.Contains(err.Error(), `name ""`) {
		t.Errorf("no name: %v", err)
	}
}

// readResponse reads one response from a raw connection, body included.
func readResponse(t *testing.T, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading a body: %v", err)
	}
	return resp, string(b)
}

// TestStaticKeepAliveRequests starts the static responder with
// keepalive_requests 3 and sends requests over one raw keep-alive
// connection: the first two keep it open, the third response carries
// "Connection: close" and nginx closes the connection after it. A parity
// probe on a second connection gets the echo.
func TestStaticKeepAliveRequests(t *testing.T) {
	need(t, KindNginx)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartStatic(ctx, StaticConfig{Listen: listen(t), Name: "users", Dir: oddDir(t, "static"), KeepAliveRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if p.Kind != KindNginx || p.Proc.Name() != "nginx-upstream-users" || len(p.Proc.PIDs()) < 2 {
		t.Errorf("kind %q, process %q, pids %v: want nginx-upstream-users, a master and a worker", p.Kind, p.Proc.Name(), p.Proc.PIDs())
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := 1; i <= 3; i++ {
		if _, err := io.WriteString(conn, "GET /users/me?i=1 HTTP/1.1\r\nHost: upstream\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, body := readResponse(t, br)
		if resp.StatusCode != 200 || body != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: %d %q %q, want 200 {\"ok\":true} application/json", i, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if got, want := resp.Close, i == 3; got != want {
			t.Errorf("request %d: Connection %q, close %v; want close only on the 3rd", i, resp.Header.Get("Connection"), got)
		}
	}
	if n, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the 3rd response: read %v, %v; want EOF (nginx closes the connection)", n, err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/users/me?a=1", nil)
	req.Header.Set(upstream.HeaderEcho, "1")
	req.Header.Set("X-Forwarded-For", "127.0.0.1")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e upstream.Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("the echo: %v", err)
	}
	if e.Name != "users" || e.Method != "GET" || e.Path != "/users/me" || e.Query != "a=1" ||
		len(e.Headers["X-Forwarded-For"]) != 1 || len(e.Headers[upstream.HeaderEcho]) != 1 {
		t.Errorf("echo %+v", e)
	}
}

// TestStaticFaults: the lab's upstream.freeze and upstream.kill act on the
// static responder's Proc: frozen, nothing answers; thawed, it answers
// again; killed, master and worker are gone, and Restart brings it back on
// the same address.
func TestStaticFaults(t *testing.T) {
	need(t, KindNginx)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartStatic(ctx, StaticConfig{Listen: listen(t), Name: "users", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	answers := func(timeout time.Duration) error {
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		resp, err := client.Get(p.URL + "/x")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	}
	if err := answers(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Proc.Freeze(); err != nil {
		t.Fatal(err)
	}
	if err := answers(300 * time.Millisecond); err == nil {
		t.Error("a frozen nginx answered")
	}
	if err := p.Proc.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := answers(5 * time.Second); err != nil {
		t.Errorf("after the thaw: %v", err)
	}
	pids := p.Proc.PIDs()
	np, err := p.Proc.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { np.Stop(StopGrace) })
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the killed nginx is still running", pid)
		}
	}
	// The restarted master logged its worker's start, but may not have
	// accepted yet: waitAccept is Start's own bounded wait.
	if err := waitAccept(ctx, np, strings.TrimPrefix(p.URL, "http://"), AcceptTimeout); err != nil {
		t.Fatal(err)
	}
	if err := answers(5 * time.Second); err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
