package suites

// Credentials for the auth cases: the fixture's keys and JWT settings, and
// tokens no honest issuer mints (alg none, HMAC keyed with a public key,
// edited claims under the original signature), built by hand so the cases
// need no signing library that would refuse to make them.

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
)

// JWTClockSkew is the clock skew on exp and nbf a target is configured to
// allow (fixtures/gateway.yaml's auth.jwt.clock_skew; a test checks the two
// agree). The skew cases mint tokens SkewMargin inside and outside it.
const JWTClockSkew = 30 * time.Second

// SkewMargin keeps the skew cases away from the boundary itself, so that a
// slow request on a busy machine cannot move a token across it.
const SkewMargin = 10 * time.Second

// The fixture's signing keys, relative to the repository root (TEST ONLY,
// fixtures/keys/README.md). KeyUntrusted is not in the JWKS targets trust.
const (
	KeyRSA       = "fixtures/keys/rsa.pem"
	KeyEC        = "fixtures/keys/ec.pem"
	KeyEd25519   = "fixtures/keys/ed25519.pem"
	KeyUntrusted = "fixtures/keys/rsa-other.pem"
)

// keyPath is a fixture key file's absolute path.
func (t *T) keyPath(rel string) string { return filepath.Join(t.Root, filepath.FromSlash(rel)) }

// withKey is a Token edit signing with another fixture key (its algorithm
// and kid follow the key).
func (t *T) withKey(rel string) func(*authtest.Options) {
	return func(o *authtest.Options) { o.KeyFile = t.keyPath(rel) }
}

// jwsEncoding is unpadded base64url, the JWS segment encoding.
var jwsEncoding = base64.RawURLEncoding

// jwsSegment encodes v as a JWS header or payload segment.
func (t *T) jwsSegment(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding a token segment: %v", err)
	}
	return jwsEncoding.EncodeToString(b)
}

// claimsOf decodes a compact token's payload.
func (t *T) claimsOf(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	raw, err := jwsEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decoding a token payload: %v", err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("decoding a token payload: %v", err)
	}
	return claims
}

// unsignedToken is an "alg: none" token (header alg spelled as given)
// carrying the claims of a validly minted one, with signature sig (empty
// for the textbook attack).
func (t *T) unsignedToken(alg string, claims map[string]any, sig string) string {
	h := map[string]any{"alg": alg, "typ": "JWT", "kid": authtest.KidRSA}
	return t.jwsSegment(h) + "." + t.jwsSegment(claims) + "." + sig
}

// hmacToken is an HS256 token over claims keyed with secret, naming kid:
// the algorithm-confusion attack when secret is a trusted public key.
func (t *T) hmacToken(kid string, claims map[string]any, secret []byte) string {
	h := map[string]any{"alg": "HS256", "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	input := t.jwsSegment(h) + "." + t.jwsSegment(claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + jwsEncoding.EncodeToString(mac.Sum(nil))
}

// rsaPublicForms are the encodings of the fixture RSA key's public half an
// attacker would try as an HMAC secret: PEM (SubjectPublicKeyInfo and
// PKCS #1), with and without the final newline, and the raw DER.
func (t *T) rsaPublicForms() map[string][]byte {
	k, err := authtest.LoadPrivateKey(t.keyPath(KeyRSA))
	if err != nil {
		t.Fatalf("%v", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatalf("encoding the RSA public key: %v", err)
	}
	pkix := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	out := map[string][]byte{
		"SPKI PEM":                 pkix,
		"SPKI PEM without newline": []byte(strings.TrimSuffix(string(pkix), "\n")),
		"SPKI DER":                 spki,
	}
	if rk, ok := k.Public().(*rsa.PublicKey); ok {
		der := x509.MarshalPKCS1PublicKey(rk)
		out["PKCS#1 PEM"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: der})
	}
	return out
}

// resigned replaces tok's payload with claims and keeps tok's header and
// signature: a token whose signature no longer matches what it says.
func (t *T) resigned(tok string, claims map[string]any) string {
	parts := strings.Split(tok, ".")
	return parts[0] + "." + t.jwsSegment(claims) + "." + parts[2]
}

// flippedSignature changes one bit in the middle of tok's signature.
func (t *T) flippedSignature(tok string) string {
	parts := strings.Split(tok, ".")
	sig, err := jwsEncoding.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		t.Fatalf("decoding a token signature: %v", err)
	}
	sig[len(sig)/2] ^= 0x01
	return parts[0] + "." + parts[1] + "." + jwsEncoding.EncodeToString(sig)
}

// jwtHeader decodes a compact token's protected header.
func (t *T) jwtHeader(tok string) map[string]any {
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := jwsEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decoding a token header: %v", err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("decoding a token header: %v", err)
	}
	return h
}
