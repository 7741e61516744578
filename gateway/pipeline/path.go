package pipeline

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
			if i+2 >= len(raw) {
				return "", false // truncated escape
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			if !allowedEscape(hi<<4 | lo) {
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

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
