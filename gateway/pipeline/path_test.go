package pipeline

import (
	"net/url"
	gopath "path"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		// accepted
		{"/", true},
		{"/a", true},
		{"/a/", true},
		{"/api/v2/users/42", true},
		{"/a.b/c..d/.e/f.", true}, // dots inside a segment are ordinary bytes
		{"/...", true},            // "..." is not a dot segment
		{"/a/...", true},
		{"/a%20b", true},     // space, escaped
		{"/a%25b", true},     // '%', escaped
		{"/a%3Fb%3fc", true}, // '?', escaped (hex case kept as received)
		{"/%C3%A9t%c3%a9", true},
		{"/a%23b", true}, // '#', escaped
		{"/a%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D", true},
		{"/a%7F", false}, // DEL decoded is a control byte
		{"/a%80%FF", true},
		{"/caf\xc3\xa9", true}, // raw non-ASCII bytes
		{"/a?b", true},         // '?' cannot reach here from a real request; not our business
		{"/a:b@c!$&'()*+,;=", true},

		// not starting with '/'
		{"", false},
		{"a", false},
		{"*", false},
		{"http://h/a", false},
		// backslash, doubled slash
		{"/a\\b", false},
		{"\\a", false},
		{"//", false},
		{"//a", false},
		{"/a//b", false},
		{"/a/b//", false},
		// dot segments
		{"/.", false},
		{"/..", false},
		{"/./", false},
		{"/../", false},
		{"/a/./b", false},
		{"/a/../b", false},
		{"/a/.", false},
		{"/a/..", false},
		{"/./a", false},
		{"/../a", false},
		// control bytes, space, '#'
		{"/a\x00", false},
		{"/a\nb", false},
		{"/a\rb", false},
		{"/a\tb", false},
		{"/a\x1f", false},
		{"/a\x7f", false},
		{"/a b", false},
		{"/a#b", false},
		{"/#", false},
		// malformed escapes
		{"/%", false},
		{"/a%", false},
		{"/a%2", false},
		{"/a%G0", false},
		{"/a%0G", false},
		{"/a%%20", false},
		{"/a%+1", false},
		{"/a% 1", false},
		// escapes of unreserved characters, '/', '\' and control bytes
		{"/%2e", false},
		{"/%2E", false},
		{"/%2e%2e/etc", false},
		{"/a/%2E%2E", false},
		{"/a%2fb", false},
		{"/a%2Fb", false},
		{"/a%5cb", false},
		{"/a%5Cb", false},
		{"/a%00", false},
		{"/a%0a", false},
		{"/a%1F", false},
		{"/%41dmin", false},
		{"/%61dmin", false},
		{"/a%30", false}, // '0'
		{"/a%2D", false}, // '-'
		{"/a%5F", false}, // '_'
		{"/a%7E", false}, // '~'
		{"/a%7e", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalPath(tt.raw)
		if ok != tt.ok {
			t.Errorf("CanonicalPath(%q) ok = %v, want %v", tt.raw, ok, tt.ok)
			continue
		}
		if ok && (got != tt.raw || unsafe.StringData(got) != unsafe.StringData(tt.raw)) {
			t.Errorf("CanonicalPath(%q) = %q, want the input itself", tt.raw, got)
		}
		if !ok && got != "" {
			t.Errorf("CanonicalPath(%q) = %q with ok=false, want empty", tt.raw, got)
		}
	}
}

// TestCanonicalPathEveryEscape checks the escape rule against all 256 byte
// values, both hex cases.
func TestCanonicalPathEveryEscape(t *testing.T) {
	for b := 0; b < 256; b++ {
		c := byte(b)
		forbidden := c < 0x20 || c == 0x7f || c == '/' || c == '\\' ||
			('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~'
		for _, esc := range []string{strings.ToUpper(hex2(c)), strings.ToLower(hex2(c))} {
			raw := "/x%" + esc + "y"
			if _, ok := CanonicalPath(raw); ok == forbidden {
				t.Errorf("CanonicalPath(%q) ok = %v, want %v", raw, ok, !forbidden)
			}
		}
	}
}

func hex2(c byte) string {
	s := strconv.FormatUint(uint64(c), 16)
	if len(s) == 1 {
		s = "0" + s
	}
	return s
}

func TestCanonicalPathAllocs(t *testing.T) {
	paths := []string{"/", "/api/v2/users/42", "/a%20b/c%C3%A9", "/a/../b", "/a%2e"}
	ok := 0
	allocs := testing.AllocsPerRun(100, func() {
		for _, p := range paths {
			if _, valid := CanonicalPath(p); valid {
				ok++
			}
		}
	})
	if ok == 0 {
		t.Fatal("no path accepted")
	}
	if allocs != 0 {
		t.Fatalf("CanonicalPath allocates %v times per run, want 0", allocs)
	}
}

// referenceCanonical is a deliberately different, slower statement of the
// policy (split into segments, parse escapes with strconv) for the fuzz test.
func referenceCanonical(raw string) bool {
	if !strings.HasPrefix(raw, "/") || strings.ContainsAny(raw, "\\# ") {
		return false
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] == 0x7f {
			return false
		}
	}
	segs := strings.Split(raw[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." {
			return false
		}
		if s == "" && i != len(segs)-1 { // only a trailing slash may leave an empty segment
			return false
		}
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if i+3 > len(raw) {
			return false
		}
		v, err := strconv.ParseUint(raw[i+1:i+3], 16, 8)
		if err != nil {
			return false
		}
		c := byte(v)
		if c < 0x20 || c == 0x7f || strings.IndexByte("/\\-._~", c) >= 0 ||
			strings.IndexByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", c) >= 0 {
			return false
		}
		i += 2
	}
	return true
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/./b", "/a/%2e%2E/b", "//", "/a%20b", "/%", "/%zz", "/a\\b", "/..", "/a/..b", "/\x00", "/%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := CanonicalPath(raw)
		if want := referenceCanonical(raw); ok != want {
			t.Fatalf("CanonicalPath(%q) ok = %v, reference says %v", raw, ok, want)
		}
		if !ok {
			return
		}
		if got != raw {
			t.Fatalf("CanonicalPath(%q) = %q, want the input", raw, got)
		}
		// An accepted path decodes without error, decoding adds no '/', and
		// cleaning the decoded path changes nothing but a trailing slash.
		dec, err := url.PathUnescape(raw)
		if err != nil {
			t.Fatalf("accepted %q but url.PathUnescape fails: %v", raw, err)
		}
		if strings.Count(dec, "/") != strings.Count(raw, "/") {
			t.Fatalf("accepted %q but it decodes to %q with a different number of slashes", raw, dec)
		}
		want := dec
		if len(want) > 1 {
			want = strings.TrimSuffix(want, "/")
		}
		if c := gopath.Clean(dec); c != want {
			t.Fatalf("accepted %q but path.Clean of its decoding %q is %q", raw, dec, c)
		}
	})
}
