package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintHeaderAndClaims(t *testing.T) {
	clk := newClock()
	cases := []struct{ file, alg, kid string }{
		{"rsa.pem", AlgRS256, FixtureKidRSA},
		{"ec.pem", AlgES256, FixtureKidEC},
		{"ed25519.pem", AlgEdDSA, FixtureKidEd25519},
		{"rsa-other.pem", AlgRS256, FixtureKidRSA},
	}
	for _, c := range cases {
		tok := mint(t, clk, func(o *MintOptions) {
			o.KeyFile = fixture(c.file)
			o.Audience = []string{"a", "b"}
			o.NotBefore = t0.Add(-time.Minute)
		})
		parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Header["alg"] != c.alg || parsed.Header["kid"] != c.kid {
			t.Errorf("%s: header %v, want alg %s kid %s", c.file, parsed.Header, c.alg, c.kid)
		}
		cl := parsed.Claims.(jwt.MapClaims)
		if cl["sub"] != "alice" || cl["iss"] != FixtureIssuer || cl["scope"] != "orders:read orders:write" ||
			cl["exp"] != float64(t0.Add(DefaultMintTTL).Unix()) || cl["iat"] != float64(t0.Unix()) ||
			cl["nbf"] != float64(t0.Add(-time.Minute).Unix()) {
			t.Errorf("%s: claims %v", c.file, cl)
		}
		if aud, ok := cl["aud"].([]any); !ok || len(aud) != 2 {
			t.Errorf("%s: aud %v, want an array of two", c.file, cl["aud"])
		}
	}
	// A single audience is a plain string; ExpiresAt beats TTL.
	tok := mint(t, clk, func(o *MintOptions) { o.ExpiresAt = t0.Add(time.Hour); o.TTL = time.Second })
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if cl := parsed.Claims.(jwt.MapClaims); cl["aud"] != FixtureAudience || cl["exp"] != float64(t0.Add(time.Hour).Unix()) {
		t.Errorf("claims %v", cl)
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
	p384File := filepath.Join(dir, "p384.pem")
	os.WriteFile(p384File, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o644)
	pubFile := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), 0o644)
	junkFile := filepath.Join(dir, "junk.pem")
	os.WriteFile(junkFile, []byte("hello"), 0o644)

	cases := []struct {
		opts MintOptions
		want string
	}{
		{MintOptions{}, "no key"},
		{MintOptions{KeyFile: filepath.Join(dir, "missing.pem")}, "missing.pem"},
		{MintOptions{KeyFile: p384File}, "P-384"},
		{MintOptions{KeyFile: pubFile}, "not a private key"},
		{MintOptions{KeyFile: junkFile}, "no PEM block"},
	}
	for _, c := range cases {
		_, err := Mint(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Mint(%+v) = %v, want error mentioning %q", c.opts, err, c.want)
		}
	}
}
