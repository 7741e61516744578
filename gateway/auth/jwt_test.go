package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
)

// fixtureClaims are valid claims at t0 for hand-built tokens.
func fixtureClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub": "alice",
		"iss": FixtureIssuer,
		"aud": FixtureAudience,
		"exp": t0.Add(15 * time.Minute).Unix(),
		"iat": t0.Unix(),
	}
}

// signRaw builds a token by hand: any method, any header, any key.
func signRaw(t *testing.T, m jwt.SigningMethod, header map[string]any, claims jwt.MapClaims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", m.Alg(), err)
	}
	return s
}

func loadKey(t *testing.T, name string) crypto.Signer {
	t.Helper()
	k, err := authtest.LoadPrivateKey(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rsaPublicPEM is the fixture RSA public key as PEM, the "secret" of the
// HS256 algorithm-confusion attack.
func rsaPublicPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(loadKey(t, "rsa.pem").Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// verifyCase is one token for the verifier: the config edit, how the token
// is made, and the expected outcome.
type verifyCase struct {
	name   string
	cfg    func(*config.JWT)
	token  func(t *testing.T, c *fakeClock) string
	reason string // "" means accepted
	check  func(t *testing.T, id Identity)
}

// verifyCases are the TestVerify cases (also run by TestGoJoseVariantAgrees).
func verifyCases() []verifyCase {
	minted := func(edit func(*MintOptions)) func(*testing.T, *fakeClock) string {
		return func(t *testing.T, c *fakeClock) string { return mint(t, c, edit) }
	}
	withKey := func(file string) func(*MintOptions) {
		return func(o *MintOptions) { o.KeyFile = fixture(file) }
	}
	claimsEdit := func(extra map[string]any) func(*MintOptions) {
		return func(o *MintOptions) { o.Claims = extra }
	}
	raw := func(m jwt.SigningMethod, header map[string]any, edit func(jwt.MapClaims), key func(t *testing.T) any) func(*testing.T, *fakeClock) string {
		return func(t *testing.T, _ *fakeClock) string {
			c := fixtureClaims()
			if edit != nil {
				edit(c)
			}
			return signRaw(t, m, header, c, key(t))
		}
	}
	rsaKey := func(t *testing.T) any { return loadKey(t, "rsa.pem") }
	ecKey := func(t *testing.T) any { return loadKey(t, "ec.pem") }

	return []verifyCase{
		{name: "valid RS256", token: minted(nil), check: func(t *testing.T, id Identity) {
			want := Identity{
				Kind: KindJWT, Subject: "alice",
				Scopes:       []string{"orders:read", "orders:write"},
				ScopesHeader: "orders:read orders:write",
				ExpiresAt:    t0.Add(DefaultMintTTL),
			}
			if id.Kind != want.Kind || id.Subject != want.Subject || !slices.Equal(id.Scopes, want.Scopes) ||
				id.ScopesHeader != want.ScopesHeader || !id.ExpiresAt.Equal(want.ExpiresAt) ||
				id.PartnerID != "" || id.Tier != "" || id.KeyHash != "" {
				t.Errorf("identity = %+v, want %+v", id, want)
			}
		}},
		{name: "valid ES256", token: minted(withKey("ec.pem"))},
		{name: "valid EdDSA", token: minted(withKey("ed25519.pem"))},
		{name: "no scopes", token: minted(func(o *MintOptions) { o.Scopes = nil }), check: func(t *testing.T, id Identity) {
			if len(id.Scopes) != 0 || id.ScopesHeader != "" {
				t.Errorf("scopes = %q / %q, want none", id.Scopes, id.ScopesHeader)
			}
		}},
		{name: "scope string with extra spaces", token: minted(claimsEdit(map[string]any{"scope": "  a   b "})), check: func(t *testing.T, id Identity) {
			if !slices.Equal(id.Scopes, []string{"a", "b"}) || id.ScopesHeader != "a b" {
				t.Errorf("scopes = %q / %q", id.Scopes, id.ScopesHeader)
			}
		}},
		{name: "scope as JSON array", token: minted(claimsEdit(map[string]any{"scope": []string{"x", "y"}})), check: func(t *testing.T, id Identity) {
			if !slices.Equal(id.Scopes, []string{"x", "y"}) || id.ScopesHeader != "x y" {
				t.Errorf("scopes = %q / %q", id.Scopes, id.ScopesHeader)
			}
		}},
		{name: "custom scopes claim", cfg: func(c *config.JWT) { c.ScopesClaim = "scopes" },
			token: minted(claimsEdit(map[string]any{"scope": nil, "scopes": []string{"p"}})), check: func(t *testing.T, id Identity) {
				if !slices.Equal(id.Scopes, []string{"p"}) {
					t.Errorf("scopes = %q", id.Scopes)
				}
			}},
		{name: "scope of wrong type", token: minted(claimsEdit(map[string]any{"scope": 42})), reason: ReasonBadScopes},
		{name: "scope array with non-string", token: minted(claimsEdit(map[string]any{"scope": []any{"a", 1}})), reason: ReasonBadScopes},
		{name: "scope array element with space", token: minted(claimsEdit(map[string]any{"scope": []string{"a b"}})), reason: ReasonBadScopes},
		{name: "scope with control character", token: minted(claimsEdit(map[string]any{"scope": "a\x01b"})), reason: ReasonBadScopes},

		{name: "expired", token: minted(func(o *MintOptions) { o.TTL = -time.Minute }), reason: ReasonExpired},
		{name: "expired within skew", token: minted(func(o *MintOptions) { o.TTL = -10 * time.Second })},
		{name: "expired within skew, skew 0", cfg: func(c *config.JWT) { zero := time.Duration(0); c.ClockSkew = &zero },
			token: minted(func(o *MintOptions) { o.TTL = -10 * time.Second }), reason: ReasonExpired},
		{name: "expired beyond custom skew", cfg: func(c *config.JWT) { s := 5 * time.Second; c.ClockSkew = &s },
			token: minted(func(o *MintOptions) { o.TTL = -10 * time.Second }), reason: ReasonExpired},
		{name: "missing exp", token: minted(claimsEdit(map[string]any{"exp": nil})), reason: ReasonMissingExp},
		{name: "exp not a number", token: minted(claimsEdit(map[string]any{"exp": "tomorrow"})), reason: ReasonMalformed},
		{name: "nbf in the future", token: minted(func(o *MintOptions) { o.NotBefore = t0.Add(time.Minute) }), reason: ReasonNotYetValid},
		{name: "nbf within skew", token: minted(func(o *MintOptions) { o.NotBefore = t0.Add(10 * time.Second) })},
		{name: "nbf in the past", token: minted(func(o *MintOptions) { o.NotBefore = t0.Add(-time.Hour) })},
		{name: "iat in the future beyond skew", token: minted(func(o *MintOptions) { o.IssuedAt = t0.Add(time.Minute) }), reason: ReasonIssuedInFuture},
		{name: "iat in the future within skew", token: minted(func(o *MintOptions) { o.IssuedAt = t0.Add(20 * time.Second) })},
		{name: "no iat", token: minted(claimsEdit(map[string]any{"iat": nil}))},

		{name: "wrong iss", token: minted(func(o *MintOptions) { o.Issuer = "https://evil.test" }), reason: ReasonBadIssuer},
		{name: "missing iss", token: minted(func(o *MintOptions) { o.Issuer = "" }), reason: ReasonBadIssuer},
		{name: "iss not a string", token: minted(claimsEdit(map[string]any{"iss": 7})), reason: ReasonMalformed},
		{name: "second configured issuer", cfg: func(c *config.JWT) { c.Issuers = []string{"https://a.test", "https://b.test"} },
			token: minted(func(o *MintOptions) { o.Issuer = "https://b.test" })},
		{name: "wrong aud", token: minted(func(o *MintOptions) { o.Audience = []string{"other"} }), reason: ReasonBadAudience},
		{name: "missing aud", token: minted(func(o *MintOptions) { o.Audience = nil }), reason: ReasonBadAudience},
		{name: "aud array containing ours", token: minted(func(o *MintOptions) { o.Audience = []string{"other", FixtureAudience} })},
		{name: "aud array without ours", token: minted(func(o *MintOptions) { o.Audience = []string{"other", "more"} }), reason: ReasonBadAudience},
		{name: "aud matches second configured", cfg: func(c *config.JWT) { c.Audiences = []string{"x", "y"} },
			token: minted(func(o *MintOptions) { o.Audience = []string{"y"} })},
		{name: "missing sub", token: minted(func(o *MintOptions) { o.Subject = "" }), reason: ReasonMissingSubject},
		{name: "sub not a string", token: minted(claimsEdit(map[string]any{"sub": 12})), reason: ReasonMalformed},
		{name: "sub with newline", token: minted(func(o *MintOptions) { o.Subject = "alice\r\nX-Admin: 1" }), reason: ReasonBadSubject},

		{name: "alg none", token: raw(jwt.SigningMethodNone, map[string]any{"kid": FixtureKidRSA}, nil,
			func(*testing.T) any { return jwt.UnsafeAllowNoneSignatureType }), reason: ReasonAlgNotAllowed},
		{name: "alg none without kid", token: raw(jwt.SigningMethodNone, nil, nil,
			func(*testing.T) any { return jwt.UnsafeAllowNoneSignatureType }), reason: ReasonAlgNotAllowed},
		{name: "HS256 with the RSA public key as secret", token: raw(jwt.SigningMethodHS256, map[string]any{"kid": FixtureKidRSA}, nil,
			func(t *testing.T) any { return rsaPublicPEM(t) }), reason: ReasonAlgNotAllowed},
		{name: "HS512", token: raw(jwt.SigningMethodHS512, map[string]any{"kid": FixtureKidRSA}, nil,
			func(*testing.T) any { return []byte("secret") }), reason: ReasonAlgNotAllowed},
		{name: "PS256 with the RSA key", token: raw(jwt.SigningMethodPS256, map[string]any{"kid": FixtureKidRSA}, nil, rsaKey), reason: ReasonAlgNotAllowed},
		{name: "unknown alg", token: func(t *testing.T, c *fakeClock) string {
			good := mint(t, c, nil)
			parts := strings.Split(good, ".")
			parts[0] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XS999","kid":"rsa-1"}`))
			return strings.Join(parts, ".")
		}, reason: ReasonAlgNotAllowed},
		{name: "alg outside configured list", cfg: func(c *config.JWT) { c.Algorithms = []string{AlgRS256} },
			token: minted(withKey("ec.pem")), reason: ReasonAlgNotAllowed},
		{name: "RS256 header with kid of the EC key", token: minted(func(o *MintOptions) { o.Kid = FixtureKidEC }), reason: ReasonAlgKeyMismatch},
		{name: "ES256 header with kid of the RSA key", token: minted(func(o *MintOptions) { o.KeyFile = fixture("ec.pem"); o.Kid = FixtureKidRSA }), reason: ReasonAlgKeyMismatch},
		{name: "EdDSA header with kid of the EC key", token: minted(func(o *MintOptions) { o.KeyFile = fixture("ed25519.pem"); o.Kid = FixtureKidEC }), reason: ReasonAlgKeyMismatch},
		{name: "missing kid", token: raw(jwt.SigningMethodES256, nil, nil, ecKey), reason: ReasonMissingKid},
		{name: "kid not a string", token: raw(jwt.SigningMethodES256, map[string]any{"kid": 5}, nil, ecKey), reason: ReasonMissingKid},
		{name: "unknown kid", token: minted(func(o *MintOptions) { o.Kid = "nope" }), reason: ReasonUnknownKid},
		{name: "crit header", token: raw(jwt.SigningMethodES256, map[string]any{"kid": FixtureKidEC, "crit": []string{"exp"}}, nil, ecKey), reason: ReasonMalformed},
		{name: "bad signature: key not in the JWKS", token: minted(func(o *MintOptions) { o.KeyFile = fixture("rsa-other.pem"); o.Kid = FixtureKidRSA }), reason: ReasonBadSignature},
		{name: "bad signature: payload changed", token: func(t *testing.T, c *fakeClock) string {
			good := mint(t, c, nil)
			evil := mint(t, c, func(o *MintOptions) { o.Subject = "admin" })
			g, e := strings.Split(good, "."), strings.Split(evil, ".")
			return g[0] + "." + e[1] + "." + g[2]
		}, reason: ReasonBadSignature},
		{name: "bad signature: ES256 signature truncated", token: func(t *testing.T, c *fakeClock) string {
			good := mint(t, c, withKey("ec.pem"))
			return good[:len(good)-4]
		}, reason: ReasonBadSignature},
		{name: "not a JWT", token: func(*testing.T, *fakeClock) string { return "hello" }, reason: ReasonMalformed},
		{name: "three garbage segments", token: func(*testing.T, *fakeClock) string { return "a.b.c" }, reason: ReasonMalformed},
		{name: "header not JSON", token: func(*testing.T, *fakeClock) string {
			return base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".e30.AAAA"
		}, reason: ReasonMalformed},
		{name: "oversized token", token: func(*testing.T, *fakeClock) string { return strings.Repeat("a", maxTokenBytes+1) }, reason: ReasonMalformed},
	}
}

func TestVerify(t *testing.T) {
	for _, c := range verifyCases() {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			v := newFileVerifier(t, clk, c.cfg)
			tok := c.token(t, clk)
			id, err := v.Verify(tok)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.Kind != KindJWT || id.Subject == "" {
					t.Fatalf("identity = %+v", id)
				}
				if c.check != nil {
					c.check(t, id)
				}
				return
			}
			wantReason(t, err, c.reason)
			if id.Kind != KindNone || id.Subject != "" {
				t.Errorf("rejected token still gave identity %+v", id)
			}
			wantCode := CodeInvalidToken
			if c.reason == ReasonExpired {
				wantCode = CodeTokenExpired
			}
			if got := Code(err); got != wantCode {
				t.Errorf("Code = %q, want %q", got, wantCode)
			}
			if got := HTTPStatus(err); got != 401 {
				t.Errorf("HTTPStatus = %d, want 401", got)
			}
		})
	}
}

// The HS256 token of the confusion test really is the attack: a verifier that
// trusted the header's alg and handed over the public key bytes would accept it.
func TestAlgorithmConfusionTokenIsRealAttack(t *testing.T) {
	pub := rsaPublicPEM(t)
	tok := signRaw(t, jwt.SigningMethodHS256, map[string]any{"kid": FixtureKidRSA}, fixtureClaims(), pub)
	naive := jwt.NewParser(jwt.WithTimeFunc(func() time.Time { return t0 }))
	if _, err := naive.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
		t.Fatalf("naive parse rejected the forged token (test is not exercising the attack): %v", err)
	}
	v := newFileVerifier(t, newClock(), nil)
	_, err := v.Verify(tok)
	wantReason(t, err, ReasonAlgNotAllowed)
}

func TestVerifyEmptyToken(t *testing.T) {
	v := newFileVerifier(t, newClock(), nil)
	if _, err := v.Verify(""); !errors.Is(err, ErrMissingCredentials) || Code(err) != CodeMissingCredentials {
		t.Fatalf("Verify(\"\") = %v, want ErrMissingCredentials", err)
	}
}

func TestVerifierUsesClock(t *testing.T) {
	clk := newClock()
	v := newFileVerifier(t, clk, nil)
	tok := mint(t, clk, func(o *MintOptions) { o.TTL = time.Minute })
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	clk.Advance(time.Minute + DefaultClockSkew)
	_, err := v.Verify(tok)
	wantReason(t, err, ReasonExpired)
}

func TestNewJWTVerifierConfigErrors(t *testing.T) {
	dir := t.TempDir()
	octOnly := dir + "/oct.json"
	if err := os.WriteFile(octOnly, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notJSON := dir + "/bad.json"
	if err := os.WriteFile(notJSON, []byte(`not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	neg := -time.Second
	cases := []struct {
		name string
		edit func(*config.JWT)
		want string
	}{
		{"no key source", func(c *config.JWT) { c.JWKSFile = "" }, "jwks_file or jwks_url"},
		{"no issuer", func(c *config.JWT) { c.Issuers = nil }, "issuer"},
		{"empty issuer", func(c *config.JWT) { c.Issuers = []string{""} }, "issuer"},
		{"no audience", func(c *config.JWT) { c.Audiences = nil }, "audience"},
		{"HS256 allowed", func(c *config.JWT) { c.Algorithms = []string{"RS256", "HS256"} }, `"HS256" is never accepted`},
		{"none allowed", func(c *config.JWT) { c.Algorithms = []string{"none"} }, `"none" is never accepted`},
		{"unsupported alg", func(c *config.JWT) { c.Algorithms = []string{"PS256"} }, `"PS256" is not supported`},
		{"negative skew", func(c *config.JWT) { c.ClockSkew = &neg }, "clock_skew"},
		{"missing file", func(c *config.JWT) { c.JWKSFile = "nope.json" }, "nope.json"},
		{"no usable key in file", func(c *config.JWT) { c.JWKSFile = octOnly }, "no usable key"},
		{"file not JSON", func(c *config.JWT) { c.JWKSFile = notJSON }, "decoding JWKS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := fileConfig()
			c.edit(&cfg)
			v, err := NewJWTVerifier(cfg, fixtureDir, Options{})
			if err == nil {
				v.Close()
				t.Fatal("NewJWTVerifier succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		_, err := NewJWTVerifier(config.JWT{Algorithms: []string{"HS256"}}, "", Options{})
		for _, want := range []string{"jwks_file", "issuer", "audience", "HS256"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v does not mention %q", err, want)
			}
		}
	})
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		in   string
		tok  string
		okay bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer\tabc", "", false},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer a b", "", false},
		{"", "", false},
		{"Bearerabc", "", false},
	}
	for _, c := range cases {
		tok, ok := BearerToken(c.in)
		if tok != c.tok || ok != c.okay {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", c.in, tok, ok, c.tok, c.okay)
		}
	}
	if n := testing.AllocsPerRun(100, func() { BearerToken("Bearer abc.def.ghi") }); n != 0 {
		t.Errorf("BearerToken allocates %v times", n)
	}
}

func TestHasScopes(t *testing.T) {
	id := Identity{Scopes: []string{"a", "b", "c"}}
	cases := []struct {
		req  []string
		want bool
	}{
		{nil, true},
		{[]string{"a"}, true},
		{[]string{"c", "a"}, true},
		{[]string{"a", "d"}, false},
		{[]string{"A"}, false},
	}
	for _, c := range cases {
		if got := id.HasScopes(c.req); got != c.want {
			t.Errorf("HasScopes(%q) = %v, want %v", c.req, got, c.want)
		}
	}
	var none Identity
	if none.HasScopes([]string{"a"}) || !none.HasScopes(nil) {
		t.Error("empty identity scopes wrong")
	}
	req := []string{"b", "c"}
	if n := testing.AllocsPerRun(100, func() { id.HasScopes(req) }); n != 0 {
		t.Errorf("HasScopes allocates %v times", n)
	}
}

func TestCodeAndStatus(t *testing.T) {
	cases := []struct {
		err    error
		code   string
		status int
	}{
		{nil, "", 200},
		{ErrMissingCredentials, CodeMissingCredentials, 401},
		{errBadIssuer, CodeInvalidToken, 401},
		{errExpired, CodeTokenExpired, 401},
		{ErrInvalidToken, CodeInvalidToken, 401},
		{ErrKeyStoreUnavailable, CodeAuthUnavailable, 503},
		{ErrInvalidAPIKey, CodeInvalidAPIKey, 401},
		{ErrRevokedAPIKey, CodeRevokedAPIKey, 401},
		{ErrExpiredAPIKey, CodeExpiredAPIKey, 401},
		{errors.New("other"), CodeAuthError, 401},
		{wrapErr{errExpired}, CodeTokenExpired, 401},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.code {
			t.Errorf("Code(%v) = %q, want %q", c.err, got, c.code)
		}
		if got := HTTPStatus(c.err); got != c.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.status)
		}
	}
	var err error = errExpired
	if n := testing.AllocsPerRun(100, func() { Code(err) }); n != 0 {
		t.Errorf("Code allocates %v times", n)
	}
}

type wrapErr struct{ err error }

func (w wrapErr) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapErr) Unwrap() error { return w.err }
