package observe

import (
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestAppendRequestID(t *testing.T) {
	seen := make(map[string]bool, 10000)
	for range 10000 {
		id := string(AppendRequestID(nil))
		if len(id) != RequestIDLen || !uuidV4.MatchString(id) {
			t.Fatalf("%q is not a v4 UUID", id)
		}
		if !ValidRequestID(id) {
			t.Fatalf("generated id %q fails ValidRequestID", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	prefix := AppendRequestID([]byte("rid="))
	if !strings.HasPrefix(string(prefix), "rid=") || !uuidV4.MatchString(string(prefix[4:])) {
		t.Errorf("AppendRequestID does not append: %q", prefix)
	}
	if id := NewRequestID(); !uuidV4.MatchString(id) {
		t.Errorf("NewRequestID = %q", id)
	}
}

func TestValidRequestID(t *testing.T) {
	for s, want := range map[string]bool{
		"abc":                                  true,
		"0b8a5f4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b": true,
		"A.b_c:d-9":                            true,
		strings.Repeat("x", 128):               true,
		"":                                     false,
		strings.Repeat("x", 129):               false,
		"has space":                            false,
		"new\nline":                            false,
		"cr\rlf":                               false,
		`quote"`:                               false,
		"semi;colon":                           false,
		"slash/":                               false,
		"ünicode":                              false,
		"nul\x00":                              false,
		"{json}":                               false,
		"a=b":                                  false,
	} {
		if got := ValidRequestID(s); got != want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", s, got, want)
		}
	}
}

const specExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		flags  byte
		trace  string
		parent string
	}{
		{in: specExample, ok: true, flags: 1, trace: "4bf92f3577b34da6a3ce929d0e0e4736", parent: "00f067aa0ba902b7"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", ok: true, flags: 0, trace: "4bf92f3577b34da6a3ce929d0e0e4736", parent: "00f067aa0ba902b7"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", ok: true, flags: 0xff, trace: "4bf92f3577b34da6a3ce929d0e0e4736", parent: "00f067aa0ba902b7"},
		// Future versions: at least 55 chars, extra data after a dash is ignored.
		{in: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ok: true, flags: 1, trace: "4bf92f3577b34da6a3ce929d0e0e4736", parent: "00f067aa0ba902b7"},
		{in: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-the-future-holds", ok: true, flags: 9, trace: "4bf92f3577b34da6a3ce929d0e0e4736", parent: "00f067aa0ba902b7"},
		{in: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"},
		// Version ff is invalid; version 00 must be exactly 55 characters.
		{in: "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{in: specExample + "-extra"},
		{in: specExample + " "},
		{in: " " + specExample},
		// Upper case is forbidden everywhere.
		{in: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"},
		{in: "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		// All-zero ids.
		{in: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"},
		// Wrong lengths and separators, non-hex.
		{in: ""},
		{in: "00"},
		{in: specExample[:54]},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"},
		{in: "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01"},
		{in: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"},
		{in: "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	} {
		trace, parent, flags, ok := ParseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseTraceparent(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if !ok {
			if trace != [16]byte{} || parent != [8]byte{} || flags != 0 {
				t.Errorf("ParseTraceparent(%q) failed but returned data", tc.in)
			}
			continue
		}
		if hex.EncodeToString(trace[:]) != tc.trace || hex.EncodeToString(parent[:]) != tc.parent || flags != tc.flags {
			t.Errorf("ParseTraceparent(%q) = %x %x %02x", tc.in, trace, parent, flags)
		}
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	for range 1000 {
		trace, span, flags := NewTraceID(), NewSpanID(), byte(rand.Uint32())
		s := string(AppendTraceparent(nil, trace, span, flags))
		if len(s) != TraceparentLen {
			t.Fatalf("len(%q) = %d", s, len(s))
		}
		gt, gs, gf, ok := ParseTraceparent(s)
		if !ok || gt != trace || gs != span || gf != flags {
			t.Fatalf("round trip of %q failed", s)
		}
	}
	if got := string(AppendTraceparent(nil, mustTrace("4bf92f3577b34da6a3ce929d0e0e4736"),
		[8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, 1)); got != specExample {
		t.Errorf("AppendTraceparent = %s, want %s", got, specExample)
	}
}

func mustTrace(s string) (id [16]byte) {
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		panic(err)
	}
	return id
}

func TestStartSpan(t *testing.T) {
	trace, span, flags, continued := StartSpan(specExample)
	if !continued || hex.EncodeToString(trace[:]) != "4bf92f3577b34da6a3ce929d0e0e4736" || flags != 1 {
		t.Errorf("valid header not continued: %x %02x %v", trace, flags, continued)
	}
	if hex.EncodeToString(span[:]) == "00f067aa0ba902b7" || span == [8]byte{} {
		t.Errorf("span id %x reused the parent or is zero", span)
	}
	_, _, flags, _ = StartSpan("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	if flags != 0 {
		t.Errorf("unsampled flag not kept: %02x", flags)
	}

	for _, in := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		trace, span, flags, continued := StartSpan(in)
		if continued || flags != FlagSampled || trace == [16]byte{} || span == [8]byte{} {
			t.Errorf("StartSpan(%q) = %x %x %02x %v, want a new sampled trace", in, trace, span, flags, continued)
		}
	}
	a, _, _, _ := StartSpan("")
	b, _, _, _ := StartSpan("")
	if a == b {
		t.Error("two new traces share an id")
	}
}

func TestTraceAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	var sink bool
	trace, span := NewTraceID(), NewSpanID()
	for name, f := range map[string]func(){
		"AppendRequestID":   func() { buf = AppendRequestID(buf[:0]) },
		"ValidRequestID":    func() { sink = ValidRequestID("0b8a5f4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b") },
		"ParseTraceparent":  func() { _, _, _, sink = ParseTraceparent(specExample) },
		"AppendTraceparent": func() { buf = AppendTraceparent(buf[:0], trace, span, 1) },
		"NewTraceID":        func() { trace = NewTraceID() },
		"NewSpanID":         func() { span = NewSpanID() },
		"StartSpan":         func() { trace, span, _, sink = StartSpan(specExample) },
		"StartSpanNew":      func() { trace, span, _, sink = StartSpan("") },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs, want 0", name, a)
		}
	}
	if a := testing.AllocsPerRun(1000, func() { _ = NewRequestID() }); a != 1 {
		t.Errorf("NewRequestID: %v allocs, want 1 (the string)", a)
	}
	_ = sink
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add(specExample)
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		trace, parent, flags, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if trace == [16]byte{} || parent == [8]byte{} {
			t.Fatalf("accepted an all-zero id: %q", s)
		}
		out := string(AppendTraceparent(nil, trace, parent, flags))
		if s[:2] == "00" && out != s {
			t.Fatalf("version 00 %q re-encodes as %q", s, out)
		}
		if out[3:] != s[3:TraceparentLen] {
			t.Fatalf("%q re-encodes as %q", s, out)
		}
	})
}

func BenchmarkAppendRequestID(b *testing.B) {
	buf := make([]byte, 0, RequestIDLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRequestID(buf[:0])
	}
}

func BenchmarkParseTraceparent(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := ParseTraceparent(specExample); !ok {
			b.Fatal("not ok")
		}
	}
}

func BenchmarkAppendTraceparent(b *testing.B) {
	buf := make([]byte, 0, TraceparentLen)
	trace, span := NewTraceID(), NewSpanID()
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendTraceparent(buf[:0], trace, span, 1)
	}
}

func BenchmarkStartSpan(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		StartSpan(specExample)
	}
}

// BenchmarkRandomSource compares the two candidate sources for 16 random
// bytes: the runtime's ChaCha8 (math/rand/v2, used) and crypto/rand.
func BenchmarkRandomSource(b *testing.B) {
	b.Run("math-rand-v2", func(b *testing.B) {
		var u [16]byte
		b.ReportAllocs()
		for b.Loop() {
			random16(&u)
		}
	})
	b.Run("crypto-rand", func(b *testing.B) {
		var u [16]byte
		b.ReportAllocs()
		for b.Loop() {
			crand.Read(u[:])
		}
	})
	b.Run("math-rand-v2-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var u [16]byte
			for pb.Next() {
				random16(&u)
			}
		})
	})
	b.Run("crypto-rand-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var u [16]byte
			for pb.Next() {
				crand.Read(u[:])
			}
		})
	})
}
