package framing

import (
	"strings"
	"testing"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// verdicts feeds raw to a Conn in pieces of size step and returns the
// verdict of every head, in order.
func verdicts(raw string, step int) ([]pipeline.HeadProblem, error) {
	c := &Conn{}
	for len(raw) > 0 {
		k := min(step, len(raw))
		c.scan([]byte(raw[:k]))
		raw = raw[k:]
		if c.failed.Load() {
			break
		}
	}
	var out []pipeline.HeadProblem
	for c.count > 0 {
		out = append(out, c.Next())
	}
	var err error
	if c.failed.Load() {
		err = ErrChunkLine
	}
	return out, err
}

func TestVerdicts(t *testing.T) {
	ok, amb, te, ver := pipeline.HeadOK, pipeline.HeadAmbiguous, pipeline.HeadUnsupportedCoding, pipeline.HeadBadVersion
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	cases := []struct {
		name string
		raw  string
		want []pipeline.HeadProblem
	}{
		{"plain", get, []pipeline.HeadProblem{ok}},
		{"pipelined", get + get + get, []pipeline.HeadProblem{ok, ok, ok}},
		{"leading empty line", "\r\n" + get, []pipeline.HeadProblem{ok}},
		{"fixed body skipped", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 27\r\n\r\nGET / HTTP/1.1\r\nX: y\r\n\r\n" + get, []pipeline.HeadProblem{ok, ok}},
		{"chunked body skipped", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nGET\r\n0\r\nTrailer: x\r\n\r\n" + get, []pipeline.HeadProblem{ok, ok}},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get, []pipeline.HeadProblem{amb, ok}},
		{"CL twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx" + get, []pipeline.HeadProblem{amb, ok}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", []pipeline.HeadProblem{amb}},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", []pipeline.HeadProblem{amb}},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", []pipeline.HeadProblem{amb}},
		{"empty host on 1.0", "GET / HTTP/1.0\r\nHost:\r\n\r\n", []pipeline.HeadProblem{ok}},
		{"TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", []pipeline.HeadProblem{te}},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", []pipeline.HeadProblem{te}},
		{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\nx", []pipeline.HeadProblem{te}},
		{"TE twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", []pipeline.HeadProblem{te}},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", []pipeline.HeadProblem{ver}},
		{"padded Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:" + strings.Repeat(" ", 200) + "3\r\n\r\nabc", []pipeline.HeadProblem{amb}},
		{"long header line", "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + strings.Repeat("v", 500) + "\r\n\r\n" + get, []pipeline.HeadProblem{ok, ok}},
	}
	for _, c := range cases {
		for _, step := range []int{1, 7, 4096} {
			got, err := verdicts(c.raw, step)
			if err != nil {
				t.Errorf("%s (step %d): %v", c.name, step, err)
			}
			if len(got) != len(c.want) {
				t.Errorf("%s (step %d): verdicts %v, want %v", c.name, step, got, c.want)
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s (step %d): verdicts %v, want %v", c.name, step, got, c.want)
					break
				}
			}
		}
	}
}

func TestLongChunkLineFailsTheRead(t *testing.T) {
	raw := "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("e", 8000) + "\r\nhello\r\n0\r\n\r\n"
	for _, step := range []int{1, 1000, 1 << 16} {
		if _, err := verdicts(raw, step); err != ErrChunkLine {
			t.Errorf("step %d: err %v, want ErrChunkLine", step, err)
		}
	}
	// A long extension under the limit is fine.
	raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("e", 3000) + "\r\nhello\r\n0\r\n\r\n"
	if got, err := verdicts(raw, 100); err != nil || len(got) != 1 || got[0] != pipeline.HeadOK {
		t.Errorf("3000-byte extension: %v %v", got, err)
	}
}
