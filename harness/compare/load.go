package compare

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Trial is one measured window of one target.
type Trial struct {
	Rep            int       `json:"rep"`
	Target         string    `json:"target"`
	Started        time.Time `json:"started"`
	WarmupRequests int64     `json:"warmup_requests"` // dropped
	Requests       int64     `json:"requests"`        // responses and errors in the measured window
	OK             int64     `json:"ok"`              // 2xx among them
	// Seconds is the measured window: from its start to the last response
	// of a request sent in it.
	Seconds      float64          `json:"seconds"`
	RPS          float64          `json:"rps"` // Requests / Seconds
	SuccessRatio float64          `json:"success_ratio"`
	Status       map[string]int64 `json:"status"`           // by status code; "0" is a transport error
	Errors       map[string]int64 `json:"errors,omitempty"` // by message, the first maxErrorKinds kinds
	Latency      Latency          `json:"latency_us"`
	// Histogram is the HDR histogram of latencies in microseconds, V2
	// compressed and base64-encoded (hdrhistogram.Decode reads it).
	Histogram string `json:"hdr_histogram"`
	CPU       CPU    `json:"cpu"`
	Valid     bool   `json:"valid"`
	Invalid   string `json:"invalid,omitempty"`
}

// Latency holds percentiles in microseconds, from the time a worker sent the
// request to the end of the response (closed loop: no intended schedule).
type Latency struct {
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	Max  int64   `json:"max"`
	Mean float64 `json:"mean"`
}

// CPU is the CPU each party used during the measured window, in cores
// (CPU seconds per second of wall time). On a shared 2-core machine this
// shows who was short of CPU.
type CPU struct {
	Generator float64 `json:"generator"` // this process: vegeta and the Go HTTP client
	Target    float64 `json:"target"`    // the proxy (nginx: master and workers); 0 for direct
	Upstream  float64 `json:"upstream"`
}

const (
	// minSuccess is the 2xx ratio below which a trial is INVALID.
	minSuccess = 0.99
	// maxErrorKinds bounds the distinct error messages kept per trial.
	maxErrorKinds = 20
	// requestTimeout bounds every request of the load.
	requestTimeout = 10 * time.Second
	// hdrMaxMicros is the largest latency the histogram tracks (60 s).
	hdrMaxMicros = 60_000_000
)

// loadSpec is what one trial sends.
type loadSpec struct {
	Name     string // vegeta attack name (the X-Vegeta-Attack header)
	URL      string
	Token    string
	Workers  int
	Warmup   time.Duration
	Duration time.Duration
	// TargetPIDs returns the processes of the target, for CPU accounting;
	// UpstreamPID is the upstream's.
	TargetPIDs  func() []int
	UpstreamPID int
}

// runLoad runs one closed-loop trial: Workers workers, each with its own
// keep-alive connection, send GET URL back to back for Warmup+Duration.
// Results of requests sent during the warm-up are dropped. ctx ends the trial
// early (the caller marks the run interrupted).
func runLoad(ctx context.Context, s loadSpec) Trial {
	tr := &http.Transport{
		Proxy:               nil, // 127.0.0.1 only, never through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: s.Workers,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: requestTimeout}
	n := uint64(s.Workers)
	atk := vegeta.NewAttacker(
		vegeta.Client(client),
		vegeta.KeepAlive(true),
		vegeta.Connections(s.Workers),
		vegeta.Workers(n),
		vegeta.MaxWorkers(n), // with rate 0: exactly n workers, closed loop
		vegeta.MaxBody(0),    // bodies are read and discarded, not kept
	)
	target := vegeta.Target{Method: http.MethodGet, URL: s.URL, Header: http.Header{"Authorization": {"Bearer " + s.Token}}}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	hist := hdrhistogram.New(1, hdrMaxMicros, 3)
	t := Trial{Target: s.Name, Status: map[string]int64{}, Errors: map[string]int64{}}

	var cpuStart cpuSample
	cpuStarted := make(chan struct{})
	start := time.Now()
	windowStart := start.Add(s.Warmup)
	t.Started = windowStart
	timer := time.AfterFunc(s.Warmup, func() {
		cpuStart = sampleCPU(s.TargetPIDs, s.UpstreamPID)
		close(cpuStarted)
	})
	defer timer.Stop()

	var lastEnd time.Time
	// Rate 0 means "no pacing": each worker sends as soon as it is free.
	for r := range atk.Attack(vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: 0}, s.Warmup+s.Duration, s.Name) {
		if r.Timestamp.Before(windowStart) {
			t.WarmupRequests++
			continue
		}
		t.Requests++
		t.Status[strconv.Itoa(int(r.Code))]++
		if r.Code >= 200 && r.Code < 300 {
			t.OK++
		} else if r.Error != "" {
			addError(t.Errors, r.Error)
		}
		us := max(r.Latency.Microseconds(), 1)
		_ = hist.RecordValue(min(us, hdrMaxMicros))
		if e := r.End(); e.After(lastEnd) {
			lastEnd = e
		}
	}
	if timer.Stop() { // the attack ended before the warm-up did
		cpuStart = sampleCPU(s.TargetPIDs, s.UpstreamPID)
		close(cpuStarted)
	}
	<-cpuStarted
	cpuEnd := sampleCPU(s.TargetPIDs, s.UpstreamPID)

	if t.Requests > 0 && lastEnd.After(windowStart) {
		t.Seconds = lastEnd.Sub(windowStart).Seconds()
		t.RPS = float64(t.Requests) / t.Seconds
		t.SuccessRatio = float64(t.OK) / float64(t.Requests)
	}
	t.CPU = cpuEnd.since(cpuStart)
	t.Latency = Latency{
		P50:  hist.ValueAtQuantile(50),
		P90:  hist.ValueAtQuantile(90),
		P99:  hist.ValueAtQuantile(99),
		Max:  hist.Max(),
		Mean: finite(hist.Mean()),
	}
	if enc, err := hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		t.Histogram = string(enc)
	}
	if len(t.Errors) == 0 {
		t.Errors = nil
	}
	t.Valid, t.Invalid = judgeTrial(t)
	return t
}

// addError counts an error message, keeping at most maxErrorKinds kinds.
func addError(m map[string]int64, msg string) {
	if _, ok := m[msg]; ok || len(m) < maxErrorKinds {
		m[msg]++
		return
	}
	m["(other errors)"]++
}

// cpuSample is cumulative CPU time at one instant.
type cpuSample struct {
	at                          time.Time
	generator, target, upstream time.Duration
}

func (e cpuSample) since(s cpuSample) CPU {
	wall := e.at.Sub(s.at).Seconds()
	if wall <= 0 {
		return CPU{}
	}
	return CPU{
		Generator: round3((e.generator - s.generator).Seconds() / wall),
		Target:    round3((e.target - s.target).Seconds() / wall),
		Upstream:  round3((e.upstream - s.upstream).Seconds() / wall),
	}
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func sampleCPU(targetPIDs func() []int, upstreamPID int) cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.generator = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if targetPIDs != nil {
		for _, pid := range targetPIDs() {
			s.target += procCPU(pid)
		}
	}
	if upstreamPID > 0 {
		s.upstream = procCPU(upstreamPID)
	}
	return s
}

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100
// on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the user+system CPU time of a process from /proc, or 0.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its closing parenthesis.
func parseStatCPU(stat string) time.Duration {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * clockTick
}

// withChildren returns pid and its direct children (nginx's workers).
func withChildren(pid int) []int {
	pids := []int{pid}
	p := strconv.Itoa(pid)
	b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	if err != nil {
		return pids
	}
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			pids = append(pids, c)
		}
	}
	return pids
}
