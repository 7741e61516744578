package suites

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// headerCases: what the backend receives besides the request line (identity,
// credentials, hop-by-hop, forwarding, request id, trace context) and which
// of the backend's headers reach the client.
//
// Header names are compared the way CGI-style backends read them (any case,
// '_' as '-': Echo.FoldedValues), so "X_User_ID" counts as "X-User-ID".
var headerCases = []Case{
	{
		ID:          "headers/identity-spoof-no-auth",
		Description: "On a route without authentication, identity headers sent by the client (X-User-ID, X-User-Scopes, X-Partner-ID, in any letter case, with '_' for '-', repeated) never reach the backend.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, RoutingPrefix},
		Run: func(t *T) {
			r := t.Raw("GET /conf/prefix/identity HTTP/1.1\r\nHost: conformance.test\r\n" + spoofedIdentity + "X-Harmless: kept\r\nConnection: close\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			for _, h := range identityHeaders {
				if got := e.FoldedValues(h); len(got) > 0 {
					t.Errorf("the backend received %s %q (headers %v); want none on a route without authentication", h, got, e.HeaderNames())
				}
			}
			if got := e.FoldedValues("X-Harmless"); !slices.Equal(got, []string{"kept"}) {
				t.Errorf("X-Harmless arrived as %q; want [kept] (only identity headers are dropped)", got)
			}
		},
	},
	{
		ID:          "headers/identity-spoof-jwt",
		Description: "On a JWT route, the backend receives exactly one X-User-ID (the token's subject) and X-User-Scopes only from the token, whatever identity headers the client sent in any case or repeated, and no X-Partner-ID.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, AuthJWT},
		Run: func(t *T) {
			sub := t.Subject("conf-identity")
			for _, c := range []struct {
				scopes     []string
				wantScopes []string
			}{
				{[]string{"conf:read", "conf:write"}, []string{"conf:read conf:write"}},
				{nil, nil}, // no scopes in the token: none upstream, whatever the client said
			} {
				tok := t.Token(sub, c.scopes, 5*time.Minute, nil)
				r := t.Raw("GET /conf/jwt/identity HTTP/1.1\r\nHost: conformance.test\r\nAuthorization: Bearer " + tok + "\r\n" +
					spoofedIdentity + "Connection: close\r\n\r\n")
				e := t.MustEcho(r)
				if r.Status != 200 {
					t.Fatalf("status %d; want 200", r.Status)
				}
				if got := e.FoldedValues("X-User-ID"); !slices.Equal(got, []string{sub}) {
					t.Errorf("token scopes %q: X-User-ID upstream %q; want exactly [%s], the token's subject", c.scopes, got, sub)
				}
				if got := e.FoldedValues("X-User-Scopes"); !slices.Equal(got, c.wantScopes) {
					t.Errorf("token scopes %q: X-User-Scopes upstream %q; want %q, from the token only", c.scopes, got, c.wantScopes)
				}
				if got := e.FoldedValues("X-Partner-ID"); len(got) > 0 {
					t.Errorf("token scopes %q: X-Partner-ID upstream %q; want none for a user token", c.scopes, got)
				}
			}
		},
	},
	{
		ID:          "headers/identity-spoof-apikey",
		Description: "On an API-key route, the backend receives exactly one X-Partner-ID (the key's partner) and no X-User-ID, whatever identity headers the client sent.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, AuthAPIKey},
		Run: func(t *T) {
			r := t.Raw("GET /conf/apikey/identity HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + APIKeyValid + "\r\n" +
				spoofedIdentity + "Connection: close\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			if got := e.FoldedValues("X-Partner-ID"); !slices.Equal(got, []string{"partner_42"}) {
				t.Errorf("X-Partner-ID upstream %q; want exactly [partner_42], the key's partner", got)
			}
			if got := e.FoldedValues("X-User-ID"); len(got) > 0 {
				t.Errorf("X-User-ID upstream %q; want none for a partner key", got)
			}
		},
	},
	{
		ID:          "headers/jwt-not-forwarded",
		Description: "On a JWT route the bearer token never reaches the backend: no Authorization header, in any case or repeated, and the token appears nowhere in what the backend received.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, AuthJWT},
		Run: func(t *T) {
			tok := t.Token(t.Subject("conf-nofwd"), nil, 5*time.Minute, nil)
			r := t.Raw("GET /conf/jwt/creds HTTP/1.1\r\nHost: conformance.test\r\nAuthorization: Bearer " + tok + "\r\n" +
				"Connection: close\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			if got := e.FoldedValues("Authorization"); len(got) > 0 {
				t.Errorf("the backend received Authorization (%d values); want none", len(got))
			}
			if strings.Contains(string(r.Body), tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Errorf("the token's signature appears in what the backend received (headers %v)", e.HeaderNames())
			}
		},
	},
	{
		ID:          "headers/apikey-not-forwarded",
		Description: "On an API-key route the key never reaches the backend: no X-API-Key header, and the key appears nowhere in what the backend received.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, AuthAPIKey},
		Run: func(t *T) {
			r := t.Raw("GET /conf/apikey/creds HTTP/1.1\r\nHost: conformance.test\r\nX-API-Key: " + APIKeyValid + "\r\nConnection: close\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			if got := e.FoldedValues("X-API-Key"); len(got) > 0 {
				t.Errorf("the backend received X-API-Key %q; want none", got)
			}
			if strings.Contains(string(r.Body), APIKeyValid) {
				t.Errorf("the API key appears in what the backend received (headers %v)", e.HeaderNames())
			}
		},
	},
	{
		ID:          "headers/connection-cannot-drop-identity",
		Description: "Naming a credential or identity header in Connection neither skips its check nor removes the identity the gateway sets: a valid token so named still authenticates, an invalid one is still refused, and the backend gets the token's subject and no credential.",
		Level:       Core,
		Features:    []Feature{HeadersIdentity, HeadersHopByHop, AuthJWT},
		Run: func(t *T) {
			sub := t.Subject("conf-connection")
			tok := t.Token(sub, nil, 5*time.Minute, nil)
			r := t.Raw("GET /conf/jwt/conn HTTP/1.1\r\nHost: conformance.test\r\nConnection: Authorization, X-User-ID, close\r\n" +
				"Authorization: Bearer " + tok + "\r\nX-User-ID: mallory\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("valid token named in Connection: status %d; want 200", r.Status)
			}
			if got := e.FoldedValues("X-User-ID"); !slices.Equal(got, []string{sub}) {
				t.Errorf("X-User-ID upstream %q; want exactly [%s]", got, sub)
			}
			if got := e.FoldedValues("Authorization"); len(got) > 0 {
				t.Errorf("Authorization reached the backend (%d values)", len(got))
			}
			r = t.Raw("GET /conf/jwt/conn HTTP/1.1\r\nHost: conformance.test\r\nConnection: Authorization, close\r\n" +
				"Authorization: Bearer not.a.token\r\n\r\n")
			if r.Status != 401 || r.Echo != nil {
				t.Errorf("invalid token named in Connection: status %d (reached a backend: %v); want 401", r.Status, r.Echo != nil)
			}
			r = t.Raw("GET /conf/jwt/conn HTTP/1.1\r\nHost: conformance.test\r\nConnection: Authorization, close\r\n\r\n")
			if r.Status != 401 || r.Echo != nil {
				t.Errorf("no token, Authorization named in Connection: status %d (reached a backend: %v); want 401", r.Status, r.Echo != nil)
			}
		},
	},
	{
		ID:          "headers/hop-by-hop-request",
		Description: "Hop-by-hop request headers (those named in Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-Authorization, Proxy-Connection) are removed before the backend; end-to-end headers pass.",
		Level:       Core,
		Features:    []Feature{HeadersHopByHop, RoutingPrefix},
		Run: func(t *T) {
			// Raw bytes: Go's client rewrites the Connection header it is given.
			r := t.Raw("GET /conf/prefix/hop HTTP/1.1\r\nHost: conformance.test\r\n" +
				"Connection: X-Secret-Hop, x-other-hop, close\r\nX-Secret-Hop: 1\r\nX-Other-Hop: 2\r\n" +
				"Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\nUpgrade: websocket\r\n" +
				"Proxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nX-Keep-Me: yes\r\n\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			for _, h := range []string{"X-Secret-Hop", "X-Other-Hop", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Connection"} {
				if got := e.FoldedValues(h); len(got) > 0 {
					t.Errorf("%s reached the backend as %q (headers %v)", h, got, e.HeaderNames())
				}
			}
			// The gateway may open its own connection with its own
			// Connection header; the client's tokens must not be in it.
			for _, tok := range listTokens(e.FoldedValues("Connection")) {
				if strings.EqualFold(tok, "X-Secret-Hop") || strings.EqualFold(tok, "X-Other-Hop") {
					t.Errorf("the client's Connection header reached the backend: %q", e.FoldedValues("Connection"))
				}
			}
			if got := e.FoldedValues("X-Keep-Me"); !slices.Equal(got, []string{"yes"}) {
				t.Errorf("end-to-end X-Keep-Me arrived as %q; want [yes]", got)
			}
		},
	},
	{
		ID:          "headers/hop-by-hop-response",
		Description: "Hop-by-hop response headers from the backend (those its Connection names, Keep-Alive, Proxy-Authenticate, Trailer, Upgrade) do not reach the client; end-to-end ones do.",
		Level:       Core,
		Features:    []Feature{HeadersHopByHop, RoutingPrefix},
		Run: func(t *T) {
			// The echo upstream adds each X-Upstream-Header line to its answer.
			req := "GET /conf/prefix/hop-response HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\n" +
				"X-Upstream-Header: Connection: X-Up-Hop\r\nX-Upstream-Header: X-Up-Hop: secret\r\n" +
				"X-Upstream-Header: Keep-Alive: timeout=99\r\nX-Upstream-Header: Proxy-Authenticate: Basic realm=\"up\"\r\n" +
				"X-Upstream-Header: Trailer: X-Up-Trailer\r\nX-Upstream-Header: Upgrade: h2c\r\n" +
				"X-Upstream-Header: X-End-To-End: kept\r\n\r\n"
			r := t.Raw(req)
			t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			for _, h := range []string{"X-Up-Hop", "Proxy-Authenticate", "Trailer", "Upgrade"} {
				if got := r.Header.Values(h); len(got) > 0 {
					t.Errorf("the backend's %s reached the client as %q", h, got)
				}
			}
			if got := r.Header.Values("Keep-Alive"); slices.Contains(got, "timeout=99") {
				t.Errorf("the backend's Keep-Alive reached the client: %q", got)
			}
			for _, tok := range listTokens(r.Header.Values("Connection")) {
				if strings.EqualFold(tok, "X-Up-Hop") {
					t.Errorf("the backend's Connection header reached the client: %q", r.Header.Values("Connection"))
				}
			}
			if got := r.Header.Values("X-End-To-End"); !slices.Equal(got, []string{"kept"}) {
				t.Errorf("the backend's X-End-To-End reached the client as %q; want [kept]", got)
			}
		},
	},
	{
		ID:          "headers/forwarded-set",
		Description: "The backend receives X-Forwarded-For with exactly the client's address, X-Forwarded-Proto with the scheme the client used and X-Forwarded-Host with the Host it sent; the client's own X-Forwarded-* and Forwarded values are not trusted and never reach the backend.",
		Level:       Core,
		Features:    []Feature{HeadersForwarded, RoutingPrefix},
		Run: func(t *T) {
			ip := t.ClientIP()
			scheme, _, _ := strings.Cut(t.Target.URL(), "://")
			for _, spoof := range []bool{false, true} {
				req := "GET /conf/prefix/fwd HTTP/1.1\r\nHost: conf-host.test:8443\r\nConnection: close\r\n"
				if spoof {
					req += "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 198.51.100.9, 192.0.2.1\r\nx_forwarded_for: 192.0.2.66\r\n" +
						"X-Forwarded-Proto: gopher\r\nX-Forwarded-Host: evil.test\r\nForwarded: for=203.0.113.8;host=evil.test;proto=https\r\n"
				}
				r := t.Raw(req + "\r\n")
				e := t.MustEcho(r)
				if r.Status != 200 {
					t.Fatalf("spoofed %v: status %d; want 200", spoof, r.Status)
				}
				if got := e.FoldedValues("X-Forwarded-For"); !slices.Equal(got, []string{ip}) {
					t.Errorf("spoofed %v: X-Forwarded-For upstream %q; want exactly [%s], the client's address", spoof, got, ip)
				}
				if got := e.FoldedValues("X-Forwarded-Proto"); !slices.Equal(got, []string{scheme}) {
					t.Errorf("spoofed %v: X-Forwarded-Proto upstream %q; want [%s]", spoof, got, scheme)
				}
				if got := e.FoldedValues("X-Forwarded-Host"); !slices.Equal(got, []string{"conf-host.test:8443"}) {
					t.Errorf("spoofed %v: X-Forwarded-Host upstream %q; want [conf-host.test:8443], the client's Host", spoof, got)
				}
				if strings.Contains(string(r.Body), "203.0.113.") || strings.Contains(string(r.Body), "evil.test") || strings.Contains(string(r.Body), "gopher") {
					t.Errorf("spoofed %v: a client-supplied forwarding value reached the backend (headers %v)", spoof, e.HeaderNames())
				}
			}
		},
	},
	{
		ID:          "headers/via-appended",
		Description: "The gateway adds its own entry at the end of the Via header the backend receives (RFC 9110 7.6.3: an HTTP-to-HTTP gateway must), keeping the entries the client's Via already had, in order.",
		Level:       Extended, // nginx and haproxy send no Via unless told to
		Features:    []Feature{HeadersForwarded, RoutingPrefix},
		Run: func(t *T) {
			for _, in := range []string{"", "1.0 fred, 1.1 p.example"} {
				var h map[string]string
				if in != "" {
					h = map[string]string{"Via": in}
				}
				e := t.MustEcho(t.Get("/conf/prefix/via", h))
				got := listTokens(e.FoldedValues("Via"))
				want := listTokens([]string{in})
				if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
					t.Errorf("client Via %q: backend Via entries %q; want %q and then the gateway's own", in, got, want)
					continue
				}
				if own := got[len(want)]; !viaEntryRE.MatchString(own) {
					t.Errorf("client Via %q: the gateway's entry %q is not \"[protocol/]version pseudonym\"", in, own)
				}
			}
		},
	},
	{
		ID:          "headers/address-claims-stripped",
		Description: "Other client-supplied claims about the client's address or the request's URL and method (X-Real-IP, True-Client-IP, X-Original-URL, X-HTTP-Method-Override, X-Forwarded-Port/-Prefix, ...) never reach the backend, in any case or with '_' for '-'.",
		Level:       Core,
		Features:    []Feature{HeadersForwarded, RoutingPrefix},
		Run: func(t *T) {
			claims := []string{"X-Real-IP", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP", "X-Original-URL", "X-Rewrite-URL",
				"X-HTTP-Method-Override", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server"}
			var b strings.Builder
			b.WriteString("GET /conf/prefix/claims HTTP/1.1\r\nHost: conformance.test\r\nConnection: close\r\nX-Harmless: kept\r\n")
			for _, h := range claims {
				b.WriteString(h + ": spoofed\r\n")
				b.WriteString(strings.ToLower(strings.ReplaceAll(h, "-", "_")) + ": spoofed\r\n")
			}
			r := t.Raw(b.String() + "\r\n")
			e := t.MustEcho(r)
			if r.Status != 200 {
				t.Fatalf("status %d; want 200", r.Status)
			}
			for _, h := range claims {
				if got := e.FoldedValues(h); len(got) > 0 {
					t.Errorf("%s reached the backend as %q", h, got)
				}
			}
			if got := e.FoldedValues("X-Harmless"); !slices.Equal(got, []string{"kept"}) {
				t.Errorf("X-Harmless arrived as %q; want [kept]", got)
			}
		},
	},
	{
		ID:          "headers/request-id-generated",
		Description: "A request without X-Request-ID gets a generated one (a 36-character UUID), the same in the response and at the backend, and different for every request.",
		Level:       Core,
		Features:    []Feature{HeadersRequestID, RoutingPrefix},
		Run: func(t *T) {
			seen := map[string]bool{}
			for range 3 {
				r := t.Get("/conf/prefix/rid", nil)
				e := t.MustEcho(r)
				rid := r.Header.Values("X-Request-ID")
				if len(rid) != 1 || !uuidRE.MatchString(rid[0]) {
					t.Fatalf("response X-Request-ID %q; want one generated 36-character UUID", rid)
				}
				if got := e.FoldedValues("X-Request-ID"); !slices.Equal(got, rid) {
					t.Errorf("backend X-Request-ID %q, response %q; want the same one", got, rid)
				}
				if seen[rid[0]] {
					t.Errorf("X-Request-ID %s generated twice", rid[0])
				}
				seen[rid[0]] = true
			}
		},
	},
	{
		ID:          "headers/request-id-kept",
		Description: "A well-formed client X-Request-ID is kept and echoed to the client and the backend; a malformed one (space, quote, control or non-ASCII byte, over 128 bytes) is replaced by a generated id, and the backend never sees it.",
		Level:       Core,
		Features:    []Feature{HeadersRequestID, RoutingPrefix},
		Run: func(t *T) {
			for _, id := range []string{"conf-req-42", "a.b_c:d-E9", strings.Repeat("r", 128)} {
				r := t.Raw("GET /conf/prefix/rid HTTP/1.1\r\nHost: conformance.test\r\nX-Request-ID: " + id + "\r\nConnection: close\r\n\r\n")
				e := t.MustEcho(r)
				if got := r.Header.Values("X-Request-ID"); !slices.Equal(got, []string{id}) {
					t.Errorf("client id %.40q: response X-Request-ID %q; want it kept", id, got)
				}
				if got := e.FoldedValues("X-Request-ID"); !slices.Equal(got, []string{id}) {
					t.Errorf("client id %.40q: backend X-Request-ID %q; want it kept", id, got)
				}
			}
			for _, id := range []string{"bad id", "bad\tid", `"quoted"`, "caf\xc3\xa9", "a<b>", strings.Repeat("r", 129)} {
				r := t.Raw("GET /conf/prefix/rid HTTP/1.1\r\nHost: conformance.test\r\nX-Request-ID: " + id + "\r\nConnection: close\r\n\r\n")
				e := t.MustEcho(r)
				rid := r.Header.Values("X-Request-ID")
				if len(rid) != 1 || !uuidRE.MatchString(rid[0]) {
					t.Errorf("malformed client id %.40q: response X-Request-ID %q; want a generated one", id, rid)
					continue
				}
				if got := e.FoldedValues("X-Request-ID"); !slices.Equal(got, rid) {
					t.Errorf("malformed client id %.40q: backend X-Request-ID %q; want the generated %s only", id, got, rid[0])
				}
			}
		},
	},
	{
		ID:          "headers/traceparent-continued",
		Description: "A valid W3C traceparent is continued: the backend receives one traceparent with the same trace id and flags and a new parent id (the gateway's span), and tracestate is passed on.",
		Level:       Core,
		Features:    []Feature{HeadersTrace, RoutingPrefix},
		Run: func(t *T) {
			for _, in := range []string{
				"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", // not sampled: flags kept
			} {
				r := t.Get("/conf/prefix/trace", map[string]string{"traceparent": in, "tracestate": "conf=1,other=2"})
				e := t.MustEcho(r)
				got := e.FoldedValues("traceparent")
				if len(got) != 1 || !traceparentRE.MatchString(got[0]) {
					t.Errorf("in %s: backend traceparent %q; want one valid version-00 traceparent", in, got)
					continue
				}
				if got[0][3:35] != in[3:35] {
					t.Errorf("in %s: backend trace id %s; want the same trace id", in, got[0][3:35])
				}
				if got[0][36:52] == in[36:52] || got[0][36:52] == strings.Repeat("0", 16) {
					t.Errorf("in %s: backend parent id %s; want a new, non-zero span id of the gateway's", in, got[0][36:52])
				}
				if got[0][53:] != in[53:] {
					t.Errorf("in %s: backend flags %s; want %s kept", in, got[0][53:], in[53:])
				}
				if ts := e.FoldedValues("tracestate"); !slices.Equal(ts, []string{"conf=1,other=2"}) {
					t.Errorf("in %s: backend tracestate %q; want it passed on", in, ts)
				}
			}
		},
	},
	{
		ID:          "headers/traceparent-started",
		Description: "Without a valid traceparent (missing, malformed, all-zero ids, version ff) the gateway starts a new trace: the backend receives one valid traceparent with a new non-zero trace id, never the client's invalid one.",
		Level:       Core,
		Features:    []Feature{HeadersTrace, RoutingPrefix},
		Run: func(t *T) {
			traces := map[string]bool{}
			for _, in := range []string{
				"",
				"garbage",
				"00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
				"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero parent id
				"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff is invalid
				"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  // short trace id
			} {
				var h map[string]string
				if in != "" {
					h = map[string]string{"traceparent": in}
				}
				r := t.Get("/conf/prefix/trace", h)
				e := t.MustEcho(r)
				got := e.FoldedValues("traceparent")
				if len(got) != 1 || !traceparentRE.MatchString(got[0]) {
					t.Errorf("in %q: backend traceparent %q; want one valid version-00 traceparent", in, got)
					continue
				}
				id := got[0][3:35]
				if id == strings.Repeat("0", 32) || got[0][36:52] == strings.Repeat("0", 16) {
					t.Errorf("in %q: backend traceparent %s has an all-zero id", in, got[0])
				}
				if len(in) > 35 && strings.Contains(got[0], in[3:35]) && in[3:35] != strings.Repeat("0", 32) {
					t.Errorf("in %q: the invalid traceparent's trace id was continued: %s", in, got[0])
				}
				if traces[id] {
					t.Errorf("in %q: trace id %s started twice", in, id)
				}
				traces[id] = true
			}
		},
	},
}

// identityHeaders are the headers only the gateway may set upstream.
var identityHeaders = []string{"X-User-ID", "X-User-Scopes", "X-Partner-ID"}

// spoofedIdentity is a client's attempt at every identity header: repeated,
// in other letter cases, and with '_' for '-' (CGI-style backends read
// "X_User_ID" as X-User-ID).
const spoofedIdentity = "X-User-ID: admin\r\nX-User-ID: admin2\r\nx-user-id: admin3\r\nX_User_ID: admin4\r\nx_user_id: admin5\r\n" +
	"X-USER-SCOPES: conf:admin\r\nX_User_Scopes: conf:admin\r\n" +
	"X-Partner-ID: evil\r\nx-partner-id: evil2\r\nX_PARTNER_ID: evil3\r\n"

var (
	uuidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`)
	// A Via entry: received-protocol (name optional) and received-by.
	viaEntryRE = regexp.MustCompile(`^([A-Za-z0-9.+-]+/)?[0-9.]+ \S+`)
)
