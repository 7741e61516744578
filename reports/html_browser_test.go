package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Environment of the browser test.
//
//	GATELAB_CHROMIUM          the browser binary (default: chromium on PATH, /usr/bin/chromium)
//	GATELAB_REQUIRE_CHROMIUM  =1: fail instead of skip when there is none
//	GATELAB_ARTIFACTS         directory for report.html and report-screenshot.png (default: a temp dir)
//	GATELAB_HTML_RESULTS      a results.json to render instead of the built-in one
const (
	envChromium        = "GATELAB_CHROMIUM"
	envRequireChromium = "GATELAB_REQUIRE_CHROMIUM"
	envArtifacts       = "GATELAB_ARTIFACTS"
	envHTMLResults     = "GATELAB_HTML_RESULTS"
)

// chromiumPath finds the browser, or skips (fails when required).
func chromiumPath(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "/usr/bin/chromium", "chromium-browser"}
	if p := os.Getenv(envChromium); p != "" {
		names = []string{p}
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(envRequireChromium) == "1" {
		t.Fatalf("no chromium found (tried %v) and %s=1", names, envRequireChromium)
	}
	t.Skipf("no chromium found (tried %v; install the Debian package chromium or set $%s); set %s=1 to make this a failure", names, envChromium, envRequireChromium)
	return ""
}

// chartStat is what the page reports about one figure.
type chartStat struct {
	ID, Kind   string
	SVGs       int
	Paths      int     // path elements with a non-empty d
	PathsBoxed int     // of them, with a bounding box of non-zero width or height
	W, H       float64 // the svg's bounding box (getBBox)
	Texts      int
}

// statsJS measures every chart figure in the rendered page.
const statsJS = `Array.from(document.querySelectorAll('figure.chart')).map(f => {
	const svgs = f.querySelectorAll('svg');
	const s = {ID: f.id, Kind: f.dataset.chart, SVGs: svgs.length, Paths: 0, PathsBoxed: 0, W: 0, H: 0, Texts: 0};
	if (svgs.length > 0) {
		const box = svgs[0].getBBox();
		s.W = box.width; s.H = box.height;
		s.Texts = svgs[0].querySelectorAll('text').length;
		for (const p of svgs[0].querySelectorAll('path')) {
			if (!(p.getAttribute('d') || '').trim()) continue;
			s.Paths++;
			const b = p.getBBox();
			if (b.width > 0 || b.height > 0) s.PathsBoxed++;
		}
	}
	return s;
})`

// TestHTMLInChromium opens report.html from a file:// URL in headless
// Chromium with the network off (emulated offline, and a proxy on a
// closed loopback port) and fails on any console error, uncaught
// exception, log error or request that is not file://. It measures every
// chart in the page and keeps a full-page screenshot.
func TestHTMLInChromium(t *testing.T) {
	bin := chromiumPath(t)

	r := testResults(t, evilTarget)
	if p := os.Getenv(envHTMLResults); p != "" {
		var err error
		if r, err = Read(p); err != nil {
			t.Fatal(err)
		}
	}
	page := render(t, r)
	wantFigures := bytes.Count(page, []byte(`<figure class="chart"`))
	if wantFigures == 0 {
		t.Fatal("the page has no chart to check")
	}
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	htmlPath, err := filepath.Abs(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(htmlPath, page, 0o644); err != nil {
		t.Fatal(err)
	}

	// The whole browser lives under this deadline: when it passes, the
	// allocator kills it and every call returns.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		// Belt and braces besides the offline emulation: any request
		// that reaches the network stack goes to a closed port.
		chromedp.ProxyServer("127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
	)
	defer cancelAlloc()

	var (
		mu       sync.Mutex
		problems []string
		files    int
	)
	note := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	listener := func(ev any) { // runs on chromedp's reader: record and return
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				note("console.%s: %s", e.Type, strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			note("exception at %s:%d: %s", d.URL, d.LineNumber, d.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				note("log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		case *network.EventRequestWillBeSent:
			if !strings.HasPrefix(e.Request.URL, "file://") {
				note("network request: %s", e.Request.URL)
			} else {
				mu.Lock()
				files++
				mu.Unlock()
			}
		}
	}
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithListener(listener), chromedp.WithLogf(t.Logf))
	defer cancelBrowser()

	if _, err := chromedp.Call(bctx, log.Enable, struct{}{}); err != nil {
		t.Fatalf("starting chromium %s: %v", bin, err)
	}
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	offline := []*network.Conditions{{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}}
	if _, err := chromedp.Call(bctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: offline}); err != nil {
		t.Fatalf("emulating offline: %v", err)
	}
	if _, err := chromedp.Call(bctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		t.Fatalf("emulating offline: %v", err)
	}

	url := "file://" + htmlPath
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	stats, err := chromedp.Run(bctx, chromedp.Evaluate[[]chartStat](statsJS))
	if err != nil {
		t.Fatalf("measuring the charts: %v", err)
	}
	resources, err := chromedp.Run(bctx, chromedp.Evaluate[int](`performance.getEntriesByType('resource').length`))
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(dir, "report-screenshot.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s (%d bytes); screenshot: %s (%d bytes)", htmlPath, len(page), shot, len(png))

	if len(stats) != wantFigures {
		t.Errorf("the browser sees %d charts, the page has %d", len(stats), wantFigures)
	}
	for _, s := range stats {
		t.Logf("chart %s (%s): %d svg, %d paths (%d with a box), %d texts, %.0fx%.0f", s.ID, s.Kind, s.SVGs, s.Paths, s.PathsBoxed, s.Texts, s.W, s.H)
		switch {
		case s.SVGs != 1:
			t.Errorf("chart %s (%s): %d svg elements, want 1", s.ID, s.Kind, s.SVGs)
		case s.W <= 0 || s.H <= 0:
			t.Errorf("chart %s (%s): empty bounding box %gx%g", s.ID, s.Kind, s.W, s.H)
		case s.PathsBoxed < 10 || s.Texts < 5:
			t.Errorf("chart %s (%s): %d drawn paths and %d texts, want at least 10 and 5", s.ID, s.Kind, s.PathsBoxed, s.Texts)
		}
	}
	if resources != 0 {
		t.Errorf("the page loaded %d resources", resources)
	}
	mu.Lock()
	defer mu.Unlock()
	if files == 0 {
		t.Error("saw no request at all, not even for the file: is the request listener working?")
	}
	for _, p := range problems {
		t.Error(p)
	}
}
