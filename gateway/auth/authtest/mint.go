package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The issuer, audience and key IDs of the TEST-ONLY keys in fixtures/keys.
// Never trust them in production.
const (
	Issuer   = "https://issuer.gatelab.test"
	Audience = "gatelab"

	KidRSA     = "rsa-1"
	KidEC      = "ec-1"
	KidEd25519 = "ed-1"
)

// DefaultTTL is the lifetime Mint gives a token when neither TTL nor
// ExpiresAt is set.
const DefaultTTL = 15 * time.Minute

// Options describe a token to sign. Only a key is required.
type Options struct {
	Subject string   // sub; omitted when empty
	Scopes  []string // the "scope" claim, space-separated; omitted when empty

	// ExpiresAt is exp. When zero, exp is Now+TTL; a zero TTL means
	// DefaultTTL and a negative one makes an already expired token.
	ExpiresAt time.Time
	TTL       time.Duration
	NotBefore time.Time // nbf; omitted when zero
	IssuedAt  time.Time // iat; Now when zero

	Issuer   string   // iss; omitted when empty
	Audience []string // aud: a string when there is one, an array otherwise

	// Kid is the header's kid. When empty it is the fixture kid for the key's
	// type (KidRSA, KidEC or KidEd25519).
	Kid string

	// KeyFile is a PEM private key (PKCS#8, or PKCS#1 RSA / SEC 1 EC).
	KeyFile string
	// Key is an in-memory private key, used instead of KeyFile when set.
	Key crypto.Signer

	// Claims are extra claims set after the ones above; a nil value removes a
	// claim (e.g. {"exp": nil} for a token without exp).
	Claims map[string]any

	Now func() time.Time // nil: time.Now
}

// Mint signs a JWT as described by opts.
func Mint(opts Options) (string, error) {
	key := opts.Key
	if key == nil {
		if opts.KeyFile == "" {
			return "", errors.New("authtest: mint: no key (set KeyFile or Key)")
		}
		var err error
		if key, err = LoadPrivateKey(opts.KeyFile); err != nil {
			return "", err
		}
	}
	alg, kid, err := algorithmFor(key)
	if err != nil {
		return "", fmt.Errorf("authtest: mint: %w", err)
	}
	if opts.Kid != "" {
		kid = opts.Kid
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now()
	exp := opts.ExpiresAt
	if exp.IsZero() {
		ttl := opts.TTL
		if ttl == 0 {
			ttl = DefaultTTL
		}
		exp = t.Add(ttl)
	}
	iat := opts.IssuedAt
	if iat.IsZero() {
		iat = t
	}
	claims := map[string]any{
		"exp": exp.Unix(),
		"iat": iat.Unix(),
	}
	if !opts.NotBefore.IsZero() {
		claims["nbf"] = opts.NotBefore.Unix()
	}
	if opts.Subject != "" {
		claims["sub"] = opts.Subject
	}
	if opts.Issuer != "" {
		claims["iss"] = opts.Issuer
	}
	switch len(opts.Audience) {
	case 0:
	case 1:
		claims["aud"] = opts.Audience[0]
	default:
		claims["aud"] = opts.Audience
	}
	if len(opts.Scopes) > 0 {
		claims["scope"] = strings.Join(opts.Scopes, " ")
	}
	for k, v := range opts.Claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", fmt.Errorf("authtest: mint: %w", err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("authtest: mint: %w", err)
	}
	return s, nil
}

// algorithmFor is the algorithm a private key signs with, and its fixture
// kid.
func algorithmFor(key crypto.Signer) (jose.SignatureAlgorithm, string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jose.RS256, KidRSA, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", "", fmt.Errorf("EC curve %s is not supported (only P-256)", k.Curve.Params().Name)
		}
		return jose.ES256, KidEC, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, KidEd25519, nil
	}
	return "", "", fmt.Errorf("unsupported key type %T", key)
}

// LoadPrivateKey reads a PEM private key: PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY").
func LoadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authtest: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("authtest: %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("authtest: %s: PEM block %q is not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("authtest: %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("authtest: %s: unsupported key type %T", path, key)
	}
	return signer, nil
}
