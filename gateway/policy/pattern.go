package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Pattern is a parsed route pattern (see ParsePattern).
type Pattern struct {
	// Base is the path an exact pattern matches, or the part of a prefix
	// pattern before "/*" ("" for the catch-all "/*").
	Base string
	// Prefix is true for "<base>/*" patterns.
	Prefix bool
}

// ParsePattern checks a route pattern and splits it. The grammar (the one
// documented on pipeline.RouteSpec):
//
//   - exact:     "/api/v2/health" matches only that path;
//   - prefix:    "/api/v2/users/*" matches "/api/v2/users" and every path
//     below it, at segment boundaries;
//   - catch-all: "/*" matches every path.
//
// Patterns match the raw request path (before '?', not percent-decoded)
// after the gateway has refused every non-canonical one, so a pattern must
// be a path the gateway would accept: the base is canonical (CanonicalPath:
// no "//", no "." or ".." segment, no backslash, '#', white space or
// control byte, and only percent escapes the gateway keeps, such as %20 or
// %C3%A9); it is ASCII (other characters are written percent-encoded, as
// they arrive); '*' appears only in the final "/*"; '?', '{' and '}' never
// do; and a prefix base does not end in '/' ("/a//*" is not a pattern).
//
// The error says what is wrong in words a config author can act on; it
// never quotes the pattern.
func ParsePattern(p string) (Pattern, error) {
	switch {
	case p == "":
		return Pattern{}, errors.New("is required")
	case p[0] != '/':
		return Pattern{}, errors.New("must start with '/'")
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c == 0x7f:
			return Pattern{}, errors.New("must not contain whitespace or control characters")
		case c >= 0x80:
			return Pattern{}, errors.New("must be ASCII (write other characters percent-encoded, as they arrive)")
		case strings.IndexByte("?#\\{}", c) >= 0:
			return Pattern{}, errors.New("must not contain '?', '#', '\\', '{' or '}' (patterns match the raw, canonical request path, without query)")
		}
	}
	if strings.Contains(p, "//") {
		return Pattern{}, errors.New("must not contain an empty segment (\"//\")")
	}
	if p == "/*" {
		return Pattern{Prefix: true}, nil
	}
	pat := Pattern{Base: p}
	if base, ok := strings.CutSuffix(p, "/*"); ok {
		pat = Pattern{Base: base, Prefix: true}
		if strings.HasSuffix(base, "/") {
			return Pattern{}, errors.New("a prefix pattern is \"<path>/*\", not \"<path>//*\"")
		}
	}
	if strings.Contains(pat.Base, "*") {
		return Pattern{}, errors.New("'*' is only allowed as a final \"/*\"")
	}
	for _, seg := range strings.Split(pat.Base, "/") {
		if seg == "." || seg == ".." {
			return Pattern{}, errors.New("must not contain \".\" or \"..\" segments")
		}
	}
	for i := 0; i < len(pat.Base); i++ {
		if pat.Base[i] != '%' {
			continue
		}
		if i+2 >= len(pat.Base) || !isHex(pat.Base[i+1]) || !isHex(pat.Base[i+2]) {
			return Pattern{}, errors.New("'%' must start an escape of two hex digits, like %20")
		}
		if esc := pat.Base[i : i+3]; !allowedEscape(unhex(esc[1])<<4 | unhex(esc[2])) {
			return Pattern{}, fmt.Errorf("must not contain %s: the gateway refuses paths with an escaped unreserved character, '/', '\\' or control byte (write the character itself)", esc)
		}
		i += 2
	}
	if _, ok := CanonicalPath(pat.Base); !ok && pat.Base != "" {
		// Every reason CanonicalPath has is checked above with its own
		// message; this is the guarantee that the two agree.
		return Pattern{}, errors.New("is not a canonical path")
	}
	return pat, nil
}

// IsSegmentPrefix reports whether strip is a prefix of pattern's literal
// part that ends at a segment boundary: "/api/v2" of "/api/v2/users/*", not
// "/api/v". strip itself must be a valid exact pattern.
func IsSegmentPrefix(strip, pattern string) bool {
	s, err := ParsePattern(strip)
	if err != nil || s.Prefix || strings.HasSuffix(strip, "/") {
		return false
	}
	p, err := ParsePattern(pattern)
	if err != nil {
		return false
	}
	return p.Base == strip || strings.HasPrefix(p.Base, strip+"/")
}

// CanonicalPath checks the raw request-target path (the bytes before '?',
// exactly as received, not percent-decoded) and returns it unchanged when it is
// already canonical.
//
// The policy is to reject, never to rewrite: a path that some component
// (a proxy, the backend, a file server) could canonicalise into a different
// path is refused, so the bytes the router matched are exactly the bytes the
// backend receives and no route can be reached through an alias of another
// ("/admin/../public", "/%61dmin", "/a//b"). ok is false, and the caller answers
// 400 Bad Request, when the path
//   - does not start with '/';
//   - contains a backslash, a doubled slash "//", a '#', a space or a control
//     byte (< 0x20 or 0x7f);
//   - contains a dot segment: "/./" or "/../" anywhere, a trailing "/." or
//     "/..", or is exactly "/." or "/..";
//   - contains a malformed percent escape ('%' not followed by two hex digits);
//   - contains a percent escape that decodes to an unreserved character
//     (ALPHA DIGIT - . _ ~), to '/', to '\' or to a control byte: those
//     escapes are exactly the ones a normaliser would decode or that change
//     how the path splits into segments.
//
// Other escapes (reserved characters such as %20, %25, %3F, and non-ASCII bytes
// such as %C3%A9) are allowed and kept as they are; so are raw bytes >= 0x80.
// The case of the hex digits is not normalised: "%3a" and "%3A" are different
// paths to the router and are forwarded as received.
//
// When ok, path == raw: the function never copies and never allocates.
func CanonicalPath(raw string) (path string, ok bool) {
	if len(raw) == 0 || raw[0] != '/' {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/':
			// raw[i] starts a segment; look at what the segment is.
			next := i + 1
			if next < len(raw) && raw[next] == '/' {
				return "", false // "//": empty segment
			}
			if isDotSegment(raw[next:]) {
				return "", false
			}
		case c == '%':
			if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
				return "", false // truncated or malformed escape
			}
			if !allowedEscape(unhex(raw[i+1])<<4 | unhex(raw[i+2])) {
				return "", false
			}
			i += 2
		case c < 0x20, c == 0x7f, c == ' ', c == '\\', c == '#':
			return "", false
		}
	}
	return raw, true
}

// isDotSegment reports whether rest (the bytes after a '/') starts with a
// segment that is exactly "." or "..".
func isDotSegment(rest string) bool {
	if len(rest) == 0 || rest[0] != '.' {
		return false
	}
	if len(rest) == 1 || rest[1] == '/' {
		return true // "."
	}
	return rest[1] == '.' && (len(rest) == 2 || rest[2] == '/') // ".."
}

// allowedEscape reports whether the percent escape of byte b may stay in a
// canonical path: anything but an unreserved character, '/', '\' or a control
// byte.
func allowedEscape(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return false
	case b == '-', b == '.', b == '_', b == '~', b == '/', b == '\\':
		return false
	case b < 0x20, b == 0x7f:
		return false
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// unhex is the value of the hex digit c (isHex(c) holds).
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
