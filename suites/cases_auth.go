package suites

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
)

// authCases: who may pass. A valid credential reaches the backend with the
// identity the gateway derived from it (and never the credential itself);
// every kind of bad one is refused by the gateway (401 with a challenge,
// 403 for a missing scope) and reaches no backend. Tokens that should pass
// are sent alongside the bad ones where that proves the refusal is about
// the defect and not something else. Paths: /conf/jwt/<case> (backend
// alpha, /conf stripped), /conf/scoped/, /conf/apikey/ (backend beta).
var authCases = []Case{
	validJWTCase("rs256", "RS256", KeyRSA),
	validJWTCase("es256", "ES256", KeyEC),
	validJWTCase("eddsa", "EdDSA", KeyEd25519),
	{
		ID:          "auth/jwt-expired",
		Description: "A token whose exp passed minutes ago is refused with 401 and a Bearer challenge, and reaches no backend.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			tok := t.Token(t.Subject("expired"), nil, -5*time.Minute, nil)
			t.wantJWTRejected("expired", tok)
		},
	},
	{
		ID:          "auth/jwt-not-yet-valid",
		Description: "A token whose nbf is minutes away is refused with 401 and reaches no backend.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			tok := t.Token(t.Subject("nbf"), nil, 15*time.Minute, func(o *authtest.Options) {
				o.NotBefore = time.Now().Add(5 * time.Minute)
			})
			t.wantJWTRejected("not-yet-valid", tok)
		},
	},
	{
		ID: "auth/jwt-exp-skew",
		Description: fmt.Sprintf("The clock skew (%v) is allowed on exp and no more: a token expired %v ago passes, one expired %v ago is refused with 401.",
			JWTClockSkew, JWTClockSkew-SkewMargin, JWTClockSkew+SkewMargin),
		Level:    Core,
		Features: []Feature{AuthJWT},
		Run: func(t *T) {
			for _, c := range []struct {
				ago  time.Duration
				pass bool
			}{{JWTClockSkew - SkewMargin, true}, {JWTClockSkew + SkewMargin, false}} {
				sub := t.Subject("exp-skew")
				now := time.Now()
				tok := t.Token(sub, nil, 0, func(o *authtest.Options) {
					o.ExpiresAt, o.IssuedAt = now.Add(-c.ago), now.Add(-10*time.Minute)
				})
				what := fmt.Sprintf("a token expired %v ago", c.ago)
				if c.pass {
					t.wantJWTAccepted(what, "exp-skew", tok, sub)
				} else {
					t.wantJWTRejected(what, tok)
				}
			}
		},
	},
	{
		ID: "auth/jwt-nbf-skew",
		Description: fmt.Sprintf("The clock skew (%v) is allowed on nbf and no more: a token valid in %v passes, one valid in %v is refused with 401.",
			JWTClockSkew, JWTClockSkew-SkewMargin, JWTClockSkew+SkewMargin),
		Level:    Core,
		Features: []Feature{AuthJWT},
		Run: func(t *T) {
			for _, c := range []struct {
				in   time.Duration
				pass bool
			}{{JWTClockSkew - SkewMargin, true}, {JWTClockSkew + SkewMargin, false}} {
				sub := t.Subject("nbf-skew")
				tok := t.Token(sub, nil, 15*time.Minute, func(o *authtest.Options) { o.NotBefore = time.Now().Add(c.in) })
				what := fmt.Sprintf("a token valid in %v", c.in)
				if c.pass {
					t.wantJWTAccepted(what, "nbf-skew", tok, sub)
				} else {
					t.wantJWTRejected(what, tok)
				}
			}
		},
	},
	{
		ID:          "auth/jwt-wrong-issuer",
		Description: "A token from another issuer, with no issuer, or with the issuer spelled with a trailing slash is refused with 401.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			for _, iss := range []string{"https://evil.issuer.test", "", authtest.Issuer + "/"} {
				tok := t.Token(t.Subject("iss"), nil, 5*time.Minute, func(o *authtest.Options) { o.Issuer = iss })
				t.wantJWTRejected(fmt.Sprintf("issuer %q", iss), tok)
			}
		},
	},
	{
		ID:          "auth/jwt-wrong-audience",
		Description: "A token for another audience or none is refused with 401; one whose audience list includes the gateway's passes.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			for _, aud := range [][]string{{"other-api"}, nil, {"other-api", "gatelab-x"}} {
				tok := t.Token(t.Subject("aud"), nil, 5*time.Minute, func(o *authtest.Options) { o.Audience = aud })
				t.wantJWTRejected(fmt.Sprintf("audience %q", aud), tok)
			}
			sub := t.Subject("aud-list")
			tok := t.Token(sub, nil, 5*time.Minute, func(o *authtest.Options) { o.Audience = []string{"other-api", authtest.Audience} })
			t.wantJWTAccepted("an audience list holding the gateway's", "aud", tok, sub)
		},
	},
	{
		ID:          "auth/jwt-tampered",
		Description: "A valid token passes; the same token with its claims edited (sub changed) under the original signature, or with one signature bit flipped, is refused with 401.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			sub := t.Subject("tamper")
			tok := t.Token(sub, nil, 5*time.Minute, nil)
			claims := t.claimsOf(tok)
			claims["sub"] = "admin"
			t.wantJWTRejected("claims edited under the original signature", t.resigned(tok, claims))
			t.wantJWTRejected("a flipped signature bit", t.flippedSignature(tok))
			t.wantJWTAccepted("the untouched token", "tamper", tok, sub)
		},
	},
	{
		ID:          "auth/jwt-untrusted-key",
		Description: "A token signed by a key outside the JWKS but naming a trusted key's kid is refused with 401.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			tok := t.Token(t.Subject("untrusted"), nil, 5*time.Minute, func(o *authtest.Options) {
				o.KeyFile, o.Kid = t.keyPath(KeyUntrusted), authtest.KidRSA
			})
			t.wantJWTRejected("signed by rsa-other.pem as rsa-1", tok)
		},
	},
	{
		ID:          "auth/jwt-alg-none",
		Description: `An unsigned token ("alg": "none" in any letter case, with an empty or a borrowed signature) carrying valid claims is refused with 401.`,
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			valid := t.Token(t.Subject("none"), nil, 5*time.Minute, nil)
			claims := t.claimsOf(valid)
			realSig := valid[strings.LastIndexByte(valid, '.')+1:]
			for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
				t.wantJWTRejected(fmt.Sprintf("alg %q, empty signature", alg), t.unsignedToken(alg, claims, ""))
			}
			t.wantJWTRejected(`alg "none" with a valid token's signature`, t.unsignedToken("none", claims, realSig))
		},
	},
	{
		ID:          "auth/jwt-alg-confusion",
		Description: "An HS256 token keyed with the trusted RSA public key (PEM or DER) as the HMAC secret, and a token whose algorithm is not the named key's, are refused with 401.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			claims := t.claimsOf(t.Token(t.Subject("confusion"), nil, 5*time.Minute, nil))
			for form, secret := range t.rsaPublicForms() {
				t.wantJWTRejected("HS256 keyed with the RSA public key as "+form, t.hmacToken(authtest.KidRSA, claims, secret))
			}
			tok := t.Token(t.Subject("confusion"), nil, 5*time.Minute, func(o *authtest.Options) {
				o.KeyFile, o.Kid = t.keyPath(KeyEC), authtest.KidRSA
			})
			t.wantJWTRejected("ES256 (the EC key) naming the RSA kid", tok)
			tok = t.Token(t.Subject("confusion"), nil, 5*time.Minute, func(o *authtest.Options) { o.Kid = authtest.KidEd25519 })
			t.wantJWTRejected("RS256 naming the Ed25519 kid", tok)
		},
	},
	{
		ID:          "auth/jwt-unknown-kid",
		Description: "A token naming a kid the JWKS does not hold is refused with 401, though its key is trusted under another kid.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			tok := t.Token(t.Subject("kid"), nil, 5*time.Minute, func(o *authtest.Options) { o.Kid = "conf-unknown-kid" })
			t.wantJWTRejected(`kid "conf-unknown-kid"`, tok)
		},
	},
	{
		ID:          "auth/jwt-missing-token",
		Description: "A request with no bearer token (no Authorization, Basic credentials, an empty or malformed bearer token) is refused with 401 and a Bearer WWW-Authenticate challenge.",
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			for what, h := range map[string]map[string]string{
				"no Authorization":      nil,
				"Basic credentials":     {"Authorization": "Basic dXNlcjpwYXNz"},
				"an empty bearer token": {"Authorization": "Bearer "},
				"a malformed token":     {"Authorization": "Bearer not.a.jwt"},
				"a two-segment token":   {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30"},
			} {
				t.wantRejected(what, t.Get("/conf/jwt/missing", h), 401, "Bearer")
			}
		},
	},
	{
		ID:          "auth/scopes-401-vs-403",
		Description: "On a route requiring a scope: no token is 401; a valid token without the scope (or with a scope that merely resembles it) is 403 and reaches no backend; with the scope it is 200.",
		Level:       Core,
		Features:    []Feature{AuthScopes},
		Run: func(t *T) {
			t.wantRejected("no token", t.Get("/conf/scoped/x", nil), 401, "Bearer")
			for _, scopes := range [][]string{nil, {"conf:read"}, {"conf"}, {"conf:admin2"}, {"conf:Admin"}} {
				tok := t.Token(t.Subject("scopes"), scopes, 5*time.Minute, nil)
				r := t.Get("/conf/scoped/x", Bearer(tok))
				t.wantRejected(fmt.Sprintf("scopes %q", scopes), r, 403, "")
			}
			sub := t.Subject("scoped")
			tok := t.Token(sub, []string{"conf:read", "conf:admin"}, 5*time.Minute, nil)
			r := t.Get("/conf/scoped/x", Bearer(tok))
			e := t.MustEcho(r)
			if r.Status != 200 || e.Name != BackendAlpha || e.Path != "/conf/scoped/x" {
				t.Errorf("with the scope: status %d, backend %q path %q; want 200 from %s at /conf/scoped/x", r.Status, e.Name, e.Path, BackendAlpha)
			}
			if v := e.Values("X-User-ID"); len(v) != 1 || v[0] != sub {
				t.Errorf("with the scope: the backend got X-User-ID %q, want [%q]", v, sub)
			}
		},
	},
	{
		ID:          "auth/apikey-valid",
		Description: "A valid API key reaches the backend with X-Partner-ID from the key's record (a client's own X-Partner-ID dropped) and without the key.",
		Level:       Core,
		Features:    []Feature{AuthAPIKey},
		Run: func(t *T) {
			// One request only: the key's own tier counts across cases and,
			// on targets sharing a limiter store, across targets.
			const partner = "partner_42" // APIKeyValid's partner_id in fixtures/apikeys.yaml
			r := t.Get("/conf/apikey/x", map[string]string{"X-API-Key": APIKeyValid, "X-Partner-ID": "spoofed-partner"})
			e := t.MustEcho(r)
			if r.Status != 200 || e.Name != BackendBeta || e.Path != "/conf/apikey/x" {
				t.Errorf("status %d, backend %q path %q; want 200 from %s at /conf/apikey/x", r.Status, e.Name, e.Path, BackendBeta)
			}
			if v := e.Values("X-Partner-ID"); len(v) != 1 || v[0] != partner {
				t.Errorf("the backend got X-Partner-ID %q, want [%q]", v, partner)
			}
			if v := e.Values("X-API-Key"); len(v) != 0 {
				t.Errorf("the API key was forwarded to the backend: %q", v)
			}
		},
	},
	apiKeyRejectCase("unknown", "glk_test_conf_unknown", "An API key that is not in the key store"),
	apiKeyRejectCase("revoked", APIKeyRevoked, "A revoked API key"),
	apiKeyRejectCase("expired", APIKeyExpired, "An API key past its expiry date"),
	apiKeyRejectCase("missing", "", "A request without an API key"),
}

// validJWTCase: a token signed with keyFile (algorithm alg) passes.
func validJWTCase(name, alg, keyFile string) Case {
	return Case{
		ID:          "auth/jwt-valid-" + name,
		Description: fmt.Sprintf("A %s token from a trusted key reaches the backend with X-User-ID from its sub (a client's own X-User-ID dropped) and without the Authorization header.", alg),
		Level:       Core,
		Features:    []Feature{AuthJWT},
		Run: func(t *T) {
			sub := t.Subject("valid-" + name)
			tok := t.Token(sub, nil, 5*time.Minute, t.withKey(keyFile))
			if got := t.jwtHeader(tok)["alg"]; got != alg {
				t.Fatalf("minted a %v token, want %s: the case would not test what it says", got, alg)
			}
			t.wantJWTAccepted(alg+" token", "valid-"+name, tok, sub)
		},
	}
}

// apiKeyRejectCase: key ("" sends none) is refused with 401.
func apiKeyRejectCase(name, key, what string) Case {
	return Case{
		ID:          "auth/apikey-" + name,
		Description: what + " is refused with 401 and a WWW-Authenticate challenge, and reaches no backend.",
		Level:       Core,
		Features:    []Feature{AuthAPIKey},
		Run: func(t *T) {
			var h map[string]string
			if key != "" {
				h = map[string]string{"X-API-Key": key}
			}
			t.wantRejected(what, t.Get("/conf/apikey/"+name, h), 401, "")
		},
	}
}

// wantJWTAccepted sends tok to /conf/jwt/<name> with a spoofed X-User-ID
// and checks the backend got exactly sub as X-User-ID and no Authorization.
func (t *T) wantJWTAccepted(what, name, tok, sub string) {
	h := Bearer(tok)
	h["X-User-ID"] = "spoofed-" + sub
	r := t.Get("/conf/jwt/"+name, h)
	if r.Status != 200 || r.Echo == nil {
		t.Errorf("%s: status %d (body %s), want 200 from the backend", what, r.Status, excerpt(r))
		return
	}
	e := r.Echo
	if e.Name != BackendAlpha || e.Path != "/jwt/"+name {
		t.Errorf("%s: reached backend %q at %q, want %s at /jwt/%s", what, e.Name, e.Path, BackendAlpha, name)
	}
	if v := e.Values("X-User-ID"); len(v) != 1 || v[0] != sub {
		t.Errorf("%s: the backend got X-User-ID %q, want [%q] (from the token's sub)", what, v, sub)
	}
	if v := e.Values("Authorization"); len(v) != 0 {
		t.Errorf("%s: the backend got the Authorization header %q", what, v)
	}
}

// wantJWTRejected sends tok to /conf/jwt/ and wants 401 with a Bearer
// challenge and no backend reached.
func (t *T) wantJWTRejected(what, tok string) {
	t.wantRejected(what, t.Get("/conf/jwt/rejected", Bearer(tok)), 401, "Bearer")
}

// wantRejected checks a refusal: status want, no backend reached, and on
// 401 a WWW-Authenticate challenge (with that scheme when scheme is set).
func (t *T) wantRejected(what string, r *Response, want int, scheme string) {
	if r.Status != want {
		t.Errorf("%s: status %d (body %s), want %d", what, r.Status, excerpt(r), want)
	}
	if r.Echo != nil {
		t.Errorf("%s: the request reached backend %q (it got X-User-ID %q, X-Partner-ID %q)",
			what, r.Echo.Name, r.Echo.Values("X-User-ID"), r.Echo.Values("X-Partner-ID"))
	}
	if want != 401 || r.Status != 401 {
		return
	}
	ch := r.Header.Get("WWW-Authenticate")
	switch {
	case ch == "":
		t.Errorf("%s: 401 without a WWW-Authenticate challenge", what)
	case scheme != "" && !strings.EqualFold(strings.SplitN(ch, " ", 2)[0], scheme):
		t.Errorf("%s: WWW-Authenticate %q, want the %s scheme", what, ch, scheme)
	}
}
