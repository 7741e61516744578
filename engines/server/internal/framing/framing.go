package framing

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gatelab/gatelab/gateway/pipeline"
)

// Listen wraps ln: every accepted connection is a *Conn.
func Listen(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Of finds the *Conn under c (through wrappers with a NetConn method), or
// nil.
func Of(c net.Conn) *Conn {
	for c != nil {
		if fc, ok := c.(*Conn); ok {
			return fc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

// MaxChunkLine bounds a chunk-size line with its extensions (net/http's
// limit): a longer one fails the connection's read.
const MaxChunkLine = 4096

// ErrChunkLine is the read error for a chunk-size line over MaxChunkLine.
var ErrChunkLine = errors.New("chunk size line with extensions over 4096 bytes")

type state uint8

const (
	stHead state = iota
	stFixed
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailer
	stStop // the request was refused: nothing more is tracked
)

// Conn is a connection whose request heads are checked as they are read.
type Conn struct {
	net.Conn

	mu sync.Mutex
	st state
	// line holds the start of the line being read (enough for a header
	// name and a short value); lineLen counts all of it.
	line    [96]byte
	lineLen int
	last    byte        // the line's last byte so far
	failed  atomic.Bool // a chunk line went over MaxChunkLine: every read fails

	// Head being read.
	started   bool // the request line was seen
	http10    bool
	badVer    bool
	bareLF    bool
	fold      bool // obs-fold, or a framing field too long to read: ambiguous
	emptyHost bool
	clCount   int
	cl        int64
	teCount   int
	chunked   bool // the last transfer coding is chunked
	remaining int64
	// heads is a queue of verdicts, served in order; pipelined requests
	// can be read ahead of their handlers.
	heads [8]pipeline.HeadProblem
	first int
	count int
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.failed.Load() {
		return 0, ErrChunkLine
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan(p[:n])
		c.mu.Unlock()
		if c.failed.Load() {
			// Withhold the whole read: an engine that already has the
			// rest of a small request buffered would not read again.
			n, err = 0, ErrChunkLine
		}
	}
	return n, err
}

// Next returns the verdict on the head of the request being served (heads
// are served in order on a connection). Call it once per request.
func (c *Conn) Next() pipeline.HeadProblem {
	if c == nil {
		return pipeline.HeadOK
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count == 0 {
		return pipeline.HeadOK
	}
	v := c.heads[c.first]
	c.first = (c.first + 1) % len(c.heads)
	c.count--
	return v
}

// Refusable reports whether the head the engine is still waiting for has
// a problem already (a line ending in a bare LF, which net/http refuses at
// once while fasthttp waits for CRLF CRLF): the engine should answer it 400
// rather than close silently on its timeout.
func (c *Conn) Refusable() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count > 0 {
		return c.heads[c.first] != pipeline.HeadOK
	}
	return c.st == stHead && c.started && c.bareLF
}

func (c *Conn) push(v pipeline.HeadProblem) {
	if c.count == len(c.heads) {
		// More heads ahead of their handlers than any client pipelines:
		// forget the oldest.
		c.first = (c.first + 1) % len(c.heads)
		c.count--
	}
	c.heads[(c.first+c.count)%len(c.heads)] = v
	c.count++
}

func (c *Conn) scan(p []byte) {
	for len(p) > 0 {
		switch c.st {
		case stStop:
			return
		case stFixed, stChunkData:
			k := int64(len(p))
			if k > c.remaining {
				k = c.remaining
			}
			p = p[k:]
			c.remaining -= k
			if c.remaining == 0 {
				if c.st == stFixed {
					c.st = stHead
				} else {
					c.st = stChunkEnd
				}
			}
		case stChunkEnd:
			// The CRLF after chunk data.
			b := p[0]
			p = p[1:]
			if b == '\n' {
				c.st = stChunkSize
			}
		default: // line-oriented states
			i := bytes.IndexByte(p, '\n')
			chunk := p
			if i >= 0 {
				chunk = p[:i]
			}
			if c.lineLen < len(c.line) {
				copy(c.line[c.lineLen:], chunk)
			}
			c.lineLen += len(chunk)
			if len(chunk) > 0 {
				c.last = chunk[len(chunk)-1]
			}
			if c.st == stChunkSize && c.lineLen > MaxChunkLine {
				c.failed.Store(true)
				c.st = stStop
				return
			}
			if i < 0 {
				return
			}
			p = p[i+1:]
			line := c.line[:min(c.lineLen, len(c.line))]
			cr := c.lineLen > 0 && c.last == '\r'
			if cr && c.lineLen <= len(c.line) {
				line = line[:len(line)-1]
			}
			long := c.lineLen > len(c.line)
			empty := c.lineLen == 0 || (cr && c.lineLen == 1)
			c.lineLen = 0
			c.endLine(line, empty, cr, long)
		}
	}
}

func (c *Conn) endLine(line []byte, empty, cr, long bool) {
	switch c.st {
	case stHead:
		if empty {
			if !c.started {
				return // empty lines before a request line are ignored
			}
			if !cr {
				c.bareLF = true
			}
			c.endHead()
			return
		}
		if !cr {
			c.bareLF = true
		}
		if !c.started {
			c.started = true
			c.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
			c.badVer = !c.http10 && !bytes.HasSuffix(line, []byte(" HTTP/1.1"))
			return
		}
		if line[0] == ' ' || line[0] == '\t' {
			c.fold = true
			return
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case asciiFold(name, "content-length"):
			c.clCount++
			c.cl = parseDecimal(value)
			// A value too long to read here (padding) would leave the
			// tracker unsure where the body ends: refuse the head.
			c.fold = c.fold || long
		case asciiFold(name, "transfer-encoding"):
			c.teCount++
			c.fold = c.fold || long
			last := value
			if j := bytes.LastIndexByte(value, ','); j >= 0 {
				last = bytes.TrimSpace(value[j+1:])
			}
			c.chunked = !long && asciiFold(last, "chunked") && bytes.IndexByte(value, ',') < 0
		case asciiFold(name, "host"):
			c.emptyHost = len(value) == 0 && !long
		}
	case stChunkSize:
		size, ok := parseHex(line)
		switch {
		case !ok || long:
			c.st = stStop // the engine refuses it and closes
		case size == 0:
			c.st = stTrailer
		default:
			c.st, c.remaining = stChunkData, size
		}
	case stTrailer:
		if empty {
			c.st = stHead
		}
	}
}

// endHead records the verdict on a complete head and follows its body.
func (c *Conn) endHead() {
	v := pipeline.HeadOK
	switch {
	case c.badVer:
		v = pipeline.HeadBadVersion
	case c.teCount > 0 && (c.http10 || c.teCount > 1 || !c.chunked):
		v = pipeline.HeadUnsupportedCoding
	case c.clCount > 1, c.clCount > 0 && c.teCount > 0, c.fold, c.bareLF, c.emptyHost && !c.http10:
		v = pipeline.HeadAmbiguous
	}
	c.push(v)
	switch {
	case v == pipeline.HeadUnsupportedCoding || v == pipeline.HeadBadVersion:
		c.st = stStop // refused; the connection closes after the answer
	case c.teCount > 0:
		c.st = stChunkSize
	case c.clCount > 0 && c.cl > 0:
		c.st, c.remaining = stFixed, c.cl
	}
	c.started, c.http10, c.badVer, c.bareLF, c.fold, c.emptyHost = false, false, false, false, false, false
	c.clCount, c.cl, c.teCount, c.chunked = 0, 0, 0, false
}

func asciiFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != lower[i] {
			return false
		}
	}
	return true
}

func parseDecimal(b []byte) int64 {
	var n int64
	for _, x := range b {
		if x < '0' || x > '9' || n > 1<<50 {
			return 0
		}
		n = n*10 + int64(x-'0')
	}
	return n
}

// parseHex reads a chunk size, up to a chunk extension (';').
func parseHex(line []byte) (int64, bool) {
	if j := bytes.IndexByte(line, ';'); j >= 0 {
		line = line[:j]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return 0, false
	}
	var n int64
	for _, x := range line {
		var v byte
		switch {
		case '0' <= x && x <= '9':
			v = x - '0'
		case 'a' <= x && x <= 'f':
			v = x - 'a' + 10
		case 'A' <= x && x <= 'F':
			v = x - 'A' + 10
		default:
			return 0, false
		}
		if n > 1<<50 {
			return 0, false
		}
		n = n<<4 | int64(v)
	}
	return n, true
}

// CloseWrite half-closes the connection when the wrapped one can (net/http
// half-closes before closing after an error answer, so the client reads it
// instead of getting a reset).
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
