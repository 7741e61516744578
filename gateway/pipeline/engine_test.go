package pipeline

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// fakeExchange is a scripted engine: it reads a body through Forward.Body
// and fails (or answers) as told.
type fakeExchange struct {
	req     Request
	body    io.Reader // the client's body; nil: none
	fail    UpstreamFailure
	status  int // upstream status when fail == FailNone
	kept    map[string]bool
	upHdrs  map[string]string
	answers []answer
	fwds    int
	partial bool // read only 3 bytes of the body, as an upstream that failed mid-upload
}

type answer struct {
	status int
	close  bool
	body   string
}

func (x *fakeExchange) ReadRequest(req *Request, _ *[64]byte) {
	conn := x.req.Connection
	*req = x.req
	req.Connection, req.conn = "", req.conn[:0]
	if conn != "" {
		req.AddConnection(conn)
	}
}

func (x *fakeExchange) Answer(status int, _ []Header, body []byte, close bool) {
	x.answers = append(x.answers, answer{status, close, string(body)})
}

func (x *fakeExchange) Forward(f *Forward) Forwarded {
	x.fwds++
	x.kept = map[string]bool{}
	for _, h := range []string{"X-Real-IP", "X_Original_URL", "X-Custom", "Accept", "Expect", "X-Listed", "Authorization"} {
		x.kept[h] = f.KeepHeader(h)
	}
	x.upHdrs = map[string]string{}
	for _, h := range f.UpstreamHeaders() {
		x.upHdrs[h.Key] = h.Value
	}
	if x.body != nil {
		r := f.Body.Wrap(x.body, x.req.ContentLength)
		if x.partial {
			io.CopyN(io.Discard, r, 3)
		} else {
			io.Copy(io.Discard, r)
		}
	}
	if x.fail != FailNone {
		return Forwarded{Failure: x.fail}
	}
	return Forwarded{Status: x.status, HeadersAt: f.Now()}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// failingReader yields some bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		k := min(r.n, len(p))
		r.n -= k
		return k, nil
	}
	return 0, r.err
}

func TestServeBlamesOnlyTheBackend(t *testing.T) {
	f := newFixture(t)
	tok := f.tok("u1")
	post := func(body io.Reader, cl int64, fail UpstreamFailure) *fakeExchange {
		return &fakeExchange{req: Request{Method: MethodPost, MethodText: "POST", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
			ContentLength: cl, Authorization: "Bearer " + tok}, body: body, fail: fail}
	}
	cases := []struct {
		name   string
		ex     *fakeExchange
		status int
		close  bool
	}{
		{"client body too slow", post(&failingReader{3, timeoutErr{}}, 10, FailOther), 408, true},
		{"client hung up mid-body", post(&failingReader{3, io.ErrUnexpectedEOF}, 10, FailOther), 400, true},
		{"short body then EOF", post(&failingReader{3, io.EOF}, 10, FailOther), 400, true},
		{"backend failed mid-upload", partial(post(strings.NewReader("0123456789"), 10, FailOther)), 502, true},
		{"route timeout while the body trickles", partial(post(strings.NewReader("0123456789"), 10, FailTimeout)), 504, true},
		{"local pool full", post(strings.NewReader("0123456789"), 10, FailNoFreeConns), 503, false},
		{"body over the route limit", post(io.LimitReader(zeros{}, 20<<20), -1, FailOther), 413, true},
	}
	// None of these is the backend's verdict: run each more times than
	// passive ejection allows; the backend must stay in.
	for _, c := range cases {
		for i := 0; i < 8; i++ {
			ex := *c.ex
			switch r := c.ex.body.(type) {
			case *failingReader:
				cp := *r
				ex.body = &cp
			case *strings.Reader:
				cp := *r
				ex.body = &cp
			case *io.LimitedReader:
				cp := *r
				ex.body = &cp
			}
			f.g.Serve(context.Background(), &ex)
			if len(ex.answers) != 1 {
				t.Fatalf("%s: %d answers", c.name, len(ex.answers))
			}
			a := ex.answers[0]
			if a.status != c.status || a.close != c.close {
				t.Fatalf("%s: answer %d close=%v, want %d close=%v (%s)", c.name, a.status, a.close, c.status, c.close, a.body)
			}
		}
	}
	if h, n := f.g.HealthyBackends(); h != n {
		t.Fatalf("client faults took a backend out: %d of %d healthy", h, n)
	}
	// The backend's own failures do count: passive ejection after 5.
	for i := 0; i < 6; i++ {
		ex := post(strings.NewReader("0123456789"), 10, FailOther)
		f.g.Serve(context.Background(), ex)
		if i == 0 && (len(ex.answers) != 1 || ex.answers[0].status != 502) {
			t.Fatalf("backend failure answered %+v, want 502", ex.answers)
		}
	}
	if h, _ := f.g.HealthyBackends(); h != 0 {
		t.Fatal("backend failures did not eject the backend")
	}
}

func partial(x *fakeExchange) *fakeExchange { x.partial = true; return x }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestServeRefusesFramingInConnection(t *testing.T) {
	f := newFixture(t)
	tok := f.tok("u1")
	for _, conn := range []string{"Content-Length", "keep-alive, transfer-encoding", "Host"} {
		ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
			Authorization: "Bearer " + tok, Connection: conn}, status: 200}
		f.g.Serve(context.Background(), ex)
		if ex.fwds != 0 || len(ex.answers) != 1 || ex.answers[0].status != 400 || !ex.answers[0].close {
			t.Fatalf("Connection: %s: forwarded %d, answers %+v; want one 400 with close", conn, ex.fwds, ex.answers)
		}
	}
	ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
		Authorization: "Bearer " + tok, Head: HeadAmbiguous}, status: 200}
	f.g.Serve(context.Background(), ex)
	if ex.fwds != 0 || len(ex.answers) != 1 || ex.answers[0].status != 400 || !ex.answers[0].close {
		t.Fatalf("ambiguous framing: forwarded %d, answers %+v; want one 400 with close", ex.fwds, ex.answers)
	}
}

func TestForwardHeaderPolicy(t *testing.T) {
	f := newFixture(t)
	tok := f.tok("u1")
	ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
		Host: "api.example", Authorization: "Bearer " + tok, Connection: "X-Listed, Authorization"}, status: 200}
	f.g.Serve(context.Background(), ex)
	if len(ex.answers) != 0 || ex.fwds != 1 {
		t.Fatalf("not forwarded: %+v", ex.answers)
	}
	want := map[string]bool{"X-Real-IP": false, "X_Original_URL": false, "X-Custom": true, "Accept": true, "Expect": false,
		"X-Listed": false, "Authorization": false}
	for h, keep := range want {
		if ex.kept[h] != keep {
			t.Errorf("KeepHeader(%s) = %v, want %v", h, ex.kept[h], keep)
		}
	}
	if ex.upHdrs[HeaderUserID] != "u1" || ex.upHdrs[HeaderXFF] != "192.0.2.1" || ex.upHdrs[HeaderXFHost] != "api.example" {
		t.Errorf("upstream headers %v", ex.upHdrs)
	}
	if !strings.Contains(ex.upHdrs[HeaderVia], "gatelab-") {
		t.Errorf("Via %q", ex.upHdrs[HeaderVia])
	}
}

func TestErrorKindBlame(t *testing.T) {
	for k := KindNone; k < kindCount; k++ {
		if k != KindNone && k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
	backend := map[ErrorKind]bool{KindUpstreamTimeout: true, KindUpstreamRefused: true, KindUpstreamError: true, KindUpstreamBody: true}
	for k := KindNone + 1; k < kindCount; k++ {
		if got := k.Blame() == BlameBackend; got != backend[k] {
			t.Errorf("%s: backend blame %v, want %v", k, got, backend[k])
		}
	}
	if DialFailed(errors.New("x")) || !IsTimeout(timeoutErr{}) {
		t.Error("error helpers")
	}
}

func TestServeRefusesUnreadableHeads(t *testing.T) {
	f := newFixture(t)
	tok := f.tok("u1")
	cases := []struct {
		name   string
		head   HeadProblem
		expect string
		status int
	}{
		{"unsupported coding", HeadUnsupportedCoding, "", 501},
		{"bad version", HeadBadVersion, "", 505},
		{"ambiguous", HeadAmbiguous, "", 400},
		{"unknown expectation", HeadOK, "foo", 417},
	}
	for _, c := range cases {
		ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
			Authorization: "Bearer " + tok, Head: c.head, Expect: c.expect}, status: 200}
		f.g.Serve(context.Background(), ex)
		if ex.fwds != 0 || len(ex.answers) != 1 || ex.answers[0].status != c.status || !ex.answers[0].close {
			t.Errorf("%s: forwarded %d, answers %+v; want one %d with close", c.name, ex.fwds, ex.answers, c.status)
		}
	}
	ex := &fakeExchange{req: Request{Method: MethodGet, MethodText: "GET", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1",
		Authorization: "Bearer " + tok, Expect: "100-Continue"}, status: 200}
	f.g.Serve(context.Background(), ex)
	if ex.fwds != 1 {
		t.Errorf("Expect: 100-continue was refused: %+v", ex.answers)
	}
}

func TestBodyTimedOut(t *testing.T) {
	f := newFixture(t)
	ex := &fakeExchange{req: Request{Method: MethodPost, MethodText: "POST", RawPath: "/api/v2/users/1", ClientIP: "192.0.2.1"}}
	f.g.BodyTimedOut(ex)
	if len(ex.answers) != 1 || ex.answers[0].status != 408 || !ex.answers[0].close {
		t.Fatalf("answers %+v, want one 408 with close", ex.answers)
	}
	if !strings.Contains(ex.answers[0].body, `"error":"request_timeout","request_id":"`) || strings.Contains(ex.answers[0].body, `"request_id":""`) {
		t.Fatalf("body %s: want the request_timeout error with a request id", ex.answers[0].body)
	}
	if got := rejections(t, f.g, "users", "client_timeout"); got != 1 {
		t.Fatalf("client_timeout rejections on route users = %v, want 1", got)
	}
}

// rejections reads gatelab_rejections_total{route, reason} from g's registry.
func rejections(t *testing.T, g *Gateway, route, reason string) float64 {
	t.Helper()
	mfs, err := g.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatelab_rejections_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
