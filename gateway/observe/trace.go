package observe

import (
	"encoding/binary"
	"math/rand/v2"
)

// Random source. The top-level functions of math/rand/v2 read the runtime's
// per-thread ChaCha8 generator, which the runtime seeds from the operating
// system's entropy source: lock-free, allocation-free and unpredictable to
// clients. Request, trace and span ids only need to be unique and
// unguessable enough not to collide; they are not secrets. crypto/rand is
// also allocation-free but costs several times more per id (see
// BenchmarkRandomSource).

func random16(b *[16]byte) {
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
}

const hexLower = "0123456789abcdef"

// RequestIDLen is the length of a generated request id.
const RequestIDLen = 36

// AppendRequestID appends a new random request id, a version 4 UUID in its
// canonical lower-case text form (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx), to
// dst. It does not allocate when cap(dst)-len(dst) >= RequestIDLen.
func AppendRequestID(dst []byte) []byte {
	var u [16]byte
	random16(&u)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexLower[c>>4], hexLower[c&0x0f])
	}
	return dst
}

// NewRequestID returns a new request id as a string (one allocation, the
// string itself). Use AppendRequestID to write it into an existing buffer.
func NewRequestID() string {
	var b [RequestIDLen]byte
	return string(AppendRequestID(b[:0]))
}

// MaxRequestIDLen is the longest client-supplied X-Request-ID accepted.
const MaxRequestIDLen = 128

var requestIDChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "._:-" {
		t[c] = true
	}
	return t
}()

// ValidRequestID reports whether a client-supplied X-Request-ID may be kept:
// 1 to 128 characters from [A-Za-z0-9._:-]. Anything else (spaces, quotes,
// control characters, non-ASCII, overlong values) is replaced by a generated
// id, so a client cannot inject log lines, break header syntax or bloat logs.
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !requestIDChars[s[i]] {
			return false
		}
	}
	return true
}

// W3C Trace Context (https://www.w3.org/TR/trace-context/), traceparent
// header:
//
//	version "-" trace-id "-" parent-id "-" trace-flags
//	00      -   32 hex   -   16 hex    -   2 hex        (55 characters)
//
// Gateway behaviour (implemented by the pipeline with StartSpan): when the
// request carries a valid traceparent, the gateway keeps its trace id and
// flags and sends upstream a traceparent with the same trace id, the same
// flags and a new span id of its own as the parent id (the gateway is a hop
// in the trace). When the header is missing or invalid the gateway starts a
// new trace: new trace id, new span id, flags 01 (sampled). The gateway
// always sends version 00, whatever version it received.

// TraceparentLen is the length of a version 00 traceparent value.
const TraceparentLen = 55

// FlagSampled is the sampled bit of trace-flags.
const FlagSampled byte = 0x01

// hexVal maps a lower-case hex digit to its value and everything else
// (including upper-case digits, which the spec forbids) to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < 16; i++ {
		t[hexLower[i]] = byte(i)
	}
	return t
}()

// decodeHex fills dst from the 2*len(dst) lower-case hex digits of s and
// reports whether they were all valid and not all zero.
func decodeHex(dst []byte, s string) bool {
	var or byte
	for i := range dst {
		hi, lo := hexVal[s[2*i]], hexVal[s[2*i+1]]
		if hi > 0x0f || lo > 0x0f {
			return false
		}
		dst[i] = hi<<4 | lo
		or |= dst[i]
	}
	return or != 0
}

// ParseTraceparent parses a traceparent header value. It accepts version 00
// exactly as specified (55 characters, lower-case hex, trace id and parent id
// not all zeros) and, following the spec's forward-compatibility rules, any
// later version except the invalid ff: such a value must be at least 55
// characters, and if longer, the 56th character must be '-'; its first four
// fields are parsed as for version 00 and whatever follows is ignored. The
// flags are returned as sent. It does not allocate.
func ParseTraceparent(s string) (traceID [16]byte, parentID [8]byte, flags byte, ok bool) {
	if len(s) < TraceparentLen {
		return
	}
	var v [1]byte
	if !decodeHexVersion(&v, s[:2]) || v[0] == 0xff {
		return
	}
	if v[0] == 0 && len(s) != TraceparentLen {
		return
	}
	if len(s) > TraceparentLen && s[TraceparentLen] != '-' {
		return
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return
	}
	if !decodeHex(traceID[:], s[3:35]) || !decodeHex(parentID[:], s[36:52]) {
		return [16]byte{}, [8]byte{}, 0, false
	}
	hi, lo := hexVal[s[53]], hexVal[s[54]]
	if hi > 0x0f || lo > 0x0f {
		return [16]byte{}, [8]byte{}, 0, false
	}
	return traceID, parentID, hi<<4 | lo, true
}

// decodeHexVersion decodes the two-digit version; zero is allowed here.
func decodeHexVersion(v *[1]byte, s string) bool {
	hi, lo := hexVal[s[0]], hexVal[s[1]]
	if hi > 0x0f || lo > 0x0f {
		return false
	}
	v[0] = hi<<4 | lo
	return true
}

// AppendTraceparent appends a version 00 traceparent value to dst. It does
// not allocate when cap(dst)-len(dst) >= TraceparentLen.
func AppendTraceparent(dst []byte, traceID [16]byte, spanID [8]byte, flags byte) []byte {
	dst = append(dst, '0', '0', '-')
	for _, c := range traceID {
		dst = append(dst, hexLower[c>>4], hexLower[c&0x0f])
	}
	dst = append(dst, '-')
	for _, c := range spanID {
		dst = append(dst, hexLower[c>>4], hexLower[c&0x0f])
	}
	return append(dst, '-', hexLower[flags>>4], hexLower[flags&0x0f])
}

// NewTraceID returns a random trace id, never all zeros.
func NewTraceID() [16]byte {
	var id [16]byte
	for {
		random16(&id)
		if binary.LittleEndian.Uint64(id[:8])|binary.LittleEndian.Uint64(id[8:]) != 0 {
			return id
		}
	}
}

// NewSpanID returns a random span (parent) id, never all zeros.
func NewSpanID() [8]byte {
	var id [8]byte
	for {
		x := rand.Uint64()
		if x != 0 {
			binary.LittleEndian.PutUint64(id[:], x)
			return id
		}
	}
}

// StartSpan applies the gateway's trace behaviour to an incoming traceparent
// value (empty when absent): it returns the trace id and flags to propagate,
// a new span id to send upstream as the parent id, and whether an incoming
// trace was continued. A missing or invalid header starts a new sampled
// trace.
func StartSpan(incoming string) (traceID [16]byte, spanID [8]byte, flags byte, continued bool) {
	traceID, _, flags, continued = ParseTraceparent(incoming)
	if !continued {
		traceID, flags = NewTraceID(), FlagSampled
	}
	return traceID, NewSpanID(), flags, continued
}
