package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Signature algorithms this package knows.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted for verification.
const minRSABits = 2048

// verifyKey is one usable public key of a JWKS.
type verifyKey struct {
	kid string
	alg string // the only algorithm this key verifies (AlgRS256, AlgES256, AlgEdDSA)
	pub crypto.PublicKey
}

// keySet is an immutable set of keys by kid. gen changes whenever a key that
// was in the previous set is removed or replaced, and is recorded with cache
// entries so that entries verified under a retired key are not served.
type keySet struct {
	keys map[string]*verifyKey
	gen  uint64
}

// algForPublicKey is the algorithm a public key verifies, or an error when the
// key is not usable here.
func algForPublicKey(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC curve %s is not supported (only P-256)", k.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("bad Ed25519 key size")
		}
		return AlgEdDSA, nil
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return "", errors.New("JWKS entry holds private key material")
	case []byte:
		return "", errors.New("symmetric keys are never accepted")
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// parseJWKS decodes a JWKS document into its usable signature keys. Entries
// that cannot be used (unknown key type, symmetric or private keys, other
// curves, use other than "sig", an alg that does not fit the key, no kid, a
// repeated kid) are skipped, RFC 7517 section 5 style, and described in
// skipped. err is set only when the document itself cannot be decoded.
func parseJWKS(data []byte) (keys map[string]*verifyKey, skipped []string, err error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		// go-jose fails the whole set on one entry it does not understand;
		// decode entry by entry so the others stay usable.
		var raw struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err2 := json.Unmarshal(data, &raw); err2 != nil {
			return nil, nil, fmt.Errorf("decoding JWKS: %w", err2)
		}
		set.Keys = nil
		for i, r := range raw.Keys {
			var k jose.JSONWebKey
			if err := k.UnmarshalJSON(r); err != nil {
				skipped = append(skipped, fmt.Sprintf("key #%d: %v", i, err))
				continue
			}
			set.Keys = append(set.Keys, k)
		}
	}
	keys = make(map[string]*verifyKey, len(set.Keys))
	for i := range set.Keys {
		k := &set.Keys[i]
		if k.KeyID == "" {
			skipped = append(skipped, fmt.Sprintf("key #%d: no kid", i))
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			skipped = append(skipped, fmt.Sprintf("kid %q: use %q is not sig", k.KeyID, k.Use))
			continue
		}
		alg, err := algForPublicKey(k.Key)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("kid %q: %v", k.KeyID, err))
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			skipped = append(skipped, fmt.Sprintf("kid %q: alg %q does not fit its key (want %s)", k.KeyID, k.Algorithm, alg))
			continue
		}
		if _, dup := keys[k.KeyID]; dup {
			skipped = append(skipped, fmt.Sprintf("kid %q: repeated, first one kept", k.KeyID))
			continue
		}
		keys[k.KeyID] = &verifyKey{kid: k.KeyID, alg: alg, pub: k.Key}
	}
	return keys, skipped, nil
}

// sameKey reports whether a and b are the same public key for the same alg.
func sameKey(a, b *verifyKey) bool {
	if a.alg != b.alg {
		return false
	}
	eq, ok := a.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b.pub)
}

// mergeKeys builds the next key set from the file keys and the URL keys (file
// keys win on a kid clash). The generation stays the same when every key of
// prev is still present unchanged, and moves on otherwise.
func mergeKeys(prev *keySet, file, url map[string]*verifyKey) *keySet {
	m := make(map[string]*verifyKey, len(file)+len(url))
	for kid, k := range url {
		m[kid] = k
	}
	for kid, k := range file {
		m[kid] = k
	}
	next := &keySet{keys: m}
	if prev != nil {
		next.gen = prev.gen
		for kid, old := range prev.keys {
			if cur, ok := m[kid]; !ok || !sameKey(old, cur) {
				next.gen = prev.gen + 1
				break
			}
		}
	}
	return next
}
