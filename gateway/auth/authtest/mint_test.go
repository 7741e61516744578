package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var fixtureDir = filepath.Join("..", "..", "..", "fixtures", "keys")

var t0 = time.Date(2030, time.March, 4, 12, 0, 0, 0, time.UTC)

// parse checks tok's signature with the public half of keyFile and returns
// its header and claims.
func parse(t *testing.T, tok, keyFile string) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parsing %q: %v", tok, err)
	}
	key, err := LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(key.Public())
	if err != nil {
		t.Fatalf("signature does not verify with %s: %v", keyFile, err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header, claims
}

func TestMintHeaderAndClaims(t *testing.T) {
	cases := []struct{ file, alg, kid string }{
		{"rsa.pem", "RS256", KidRSA},
		{"ec.pem", "ES256", KidEC},
		{"ed25519.pem", "EdDSA", KidEd25519},
		{"rsa-other.pem", "RS256", KidRSA},
	}
	for _, c := range cases {
		file := filepath.Join(fixtureDir, c.file)
		tok, err := Mint(Options{
			Subject: "alice", Scopes: []string{"orders:read", "orders:write"},
			Issuer: Issuer, Audience: []string{"a", "b"}, NotBefore: t0.Add(-time.Minute),
			KeyFile: file, Now: func() time.Time { return t0 },
		})
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		h, cl := parse(t, tok, file)
		if h.Algorithm != c.alg || h.KeyID != c.kid || h.ExtraHeaders["typ"] != "JWT" {
			t.Errorf("%s: header %+v, want alg %s kid %s typ JWT", c.file, h, c.alg, c.kid)
		}
		if cl["sub"] != "alice" || cl["iss"] != Issuer || cl["scope"] != "orders:read orders:write" ||
			cl["exp"] != float64(t0.Add(DefaultTTL).Unix()) || cl["iat"] != float64(t0.Unix()) ||
			cl["nbf"] != float64(t0.Add(-time.Minute).Unix()) {
			t.Errorf("%s: claims %v", c.file, cl)
		}
		if aud, ok := cl["aud"].([]any); !ok || len(aud) != 2 || aud[0] != "a" || aud[1] != "b" {
			t.Errorf("%s: aud %v, want [a b]", c.file, cl["aud"])
		}
	}
	// A single audience is a plain string; ExpiresAt beats TTL; Claims add
	// and remove; Kid overrides the fixture kid.
	file := filepath.Join(fixtureDir, "rsa.pem")
	tok, err := Mint(Options{
		Audience: []string{Audience}, ExpiresAt: t0.Add(time.Hour), TTL: time.Second, Kid: "other",
		Claims: map[string]any{"iat": nil, "x": []string{"p"}}, KeyFile: file, Now: func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	h, cl := parse(t, tok, file)
	if h.KeyID != "other" {
		t.Errorf("kid %q, want other", h.KeyID)
	}
	if cl["aud"] != Audience || cl["exp"] != float64(t0.Add(time.Hour).Unix()) {
		t.Errorf("claims %v", cl)
	}
	if _, ok := cl["iat"]; ok {
		t.Errorf("iat not removed: %v", cl)
	}
	if x, ok := cl["x"].([]any); !ok || len(x) != 1 || x[0] != "p" {
		t.Errorf("extra claim x = %v", cl["x"])
	}
	for _, k := range []string{"sub", "iss", "scope", "nbf"} {
		if _, ok := cl[k]; ok {
			t.Errorf("claim %s set though its option is empty: %v", k, cl)
		}
	}
}

func TestMintErrors(t *testing.T) {
	dir := t.TempDir()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p384File := write("p384.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pubFile := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}))
	junkFile := write("junk.pem", []byte("hello"))

	cases := []struct {
		opts Options
		want string
	}{
		{Options{}, "no key"},
		{Options{KeyFile: filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{Options{KeyFile: p384File}, "P-384"},
		{Options{KeyFile: pubFile}, "not a private key"},
		{Options{KeyFile: junkFile}, "no PEM block"},
	}
	for _, c := range cases {
		_, err := Mint(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Mint(%+v) = %v, want error mentioning %q", c.opts, err, c.want)
		}
	}
}
