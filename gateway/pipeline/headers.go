package pipeline

// Header names the gateway sets upstream.
const (
	HeaderUserID      = "X-User-ID"
	HeaderUserScopes  = "X-User-Scopes"
	HeaderPartnerID   = "X-Partner-ID"
	HeaderRequestID   = "X-Request-ID"
	HeaderTraceparent = "traceparent"
	HeaderXFF         = "X-Forwarded-For"
	HeaderXFProto     = "X-Forwarded-Proto"
	HeaderXFHost      = "X-Forwarded-Host"
	HeaderVia         = "Via"
)

// DropInbound reports whether an incoming request header must not be
// forwarded upstream. It is case-insensitive and treats '_' like '-', because
// some backends (CGI, WSGI, Rack, PHP) fold both to the same variable, so
// "X_User_ID" would spoof "X-User-ID" there. Dropped:
//   - identity headers the gateway alone may set: X-User-ID, X-User-Scopes,
//     X-Partner-ID (set afterwards from the verified identity only);
//   - credentials: Authorization, X-API-Key (the backend gets the identity);
//   - forwarding headers the gateway rewrites: X-Forwarded-For/-Proto/-Host,
//     Forwarded, X-Request-ID, traceparent (and tracestate is kept);
//   - hop-by-hop headers (RFC 9110 7.6.1): Connection, Keep-Alive,
//     Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
//     Transfer-Encoding, Upgrade. Headers named in Connection are dropped by
//     the engines with DropListed.
func DropInbound(name string) bool {
	switch len(name) {
	case 2:
		return foldEq(name, "te")
	case 7:
		return foldEq(name, "trailer") || foldEq(name, "upgrade")
	case 9:
		return foldEq(name, "x-user-id") || foldEq(name, "x-api-key") || foldEq(name, "forwarded")
	case 10:
		return foldEq(name, "connection") || foldEq(name, "keep-alive")
	case 11:
		return foldEq(name, "traceparent")
	case 12:
		return foldEq(name, "x-partner-id") || foldEq(name, "x-request-id")
	case 13:
		return foldEq(name, "x-user-scopes") || foldEq(name, "authorization")
	case 15:
		return foldEq(name, "x-forwarded-for")
	case 16:
		return foldEq(name, "x-forwarded-host") || foldEq(name, "proxy-connection")
	case 17:
		return foldEq(name, "x-forwarded-proto") || foldEq(name, "transfer-encoding")
	case 18:
		return foldEq(name, "proxy-authenticate")
	case 19:
		return foldEq(name, "proxy-authorization")
	}
	return false
}

// DropOutbound reports whether an upstream response header must not be passed
// to the client: hop-by-hop headers only.
func DropOutbound(name string) bool {
	switch len(name) {
	case 2:
		return foldEq(name, "te")
	case 7:
		return foldEq(name, "trailer") || foldEq(name, "upgrade")
	case 10:
		return foldEq(name, "connection") || foldEq(name, "keep-alive")
	case 16:
		return foldEq(name, "proxy-connection")
	case 17:
		return foldEq(name, "transfer-encoding")
	case 18:
		return foldEq(name, "proxy-authenticate")
	case 19:
		return foldEq(name, "proxy-authorization")
	}
	return false
}

// DropListed reports whether name appears as a token in a Connection header
// value (comma-separated), which makes it hop-by-hop too.
func DropListed(connection, name string) bool {
	for len(connection) > 0 {
		i := 0
		for i < len(connection) && connection[i] != ',' {
			i++
		}
		tok := trimOWS(connection[:i])
		if asciiEqualFold(tok, name) {
			return true
		}
		if i == len(connection) {
			break
		}
		connection = connection[i+1:]
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// foldEq compares s with lower, a lower-case ASCII name, ignoring case and
// treating '_' as '-'. len(s) must equal len(lower).
func foldEq(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if foldByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// foldByte lower-cases an ASCII letter and turns '_' into '-': the form
// header names are compared in.
func foldByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	if c == '_' {
		return '-'
	}
	return c
}
