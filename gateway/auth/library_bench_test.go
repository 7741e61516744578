package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// This file keeps the measurement behind the choice of JWT library (see
// "JWT library" in doc.go): verifyGoJose is the verify path written with
// go-jose v4 alone, with the same checks, order and errors as
// JWTVerifier.verify, and BenchmarkVerifyLibrary runs both on the same
// uncached token. Re-run it when either library changes, on a quiet machine
// (on a loaded one wall time per op is mostly waiting for a CPU):
//
//	go test -run '^$' -bench VerifyLibrary -benchmem -count 10 ./gateway/auth/

// verifyGoJose is JWTVerifier.verify on go-jose: jwt.ParseSigned with the
// allow-list, the kid lookup, tok.Claims to check the signature and decode.
func verifyGoJose(v *JWTVerifier, algs []jose.SignatureAlgorithm, token string) (Identity, time.Time, uint64, error) {
	tok, err := josejwt.ParseSigned(token, algs)
	if err != nil {
		return Identity{}, time.Time{}, 0, goJoseParseError(token, err)
	}
	h := &tok.Headers[0]
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return Identity{}, time.Time{}, 0, errMalformed
	}
	if h.KeyID == "" {
		return Identity{}, time.Time{}, 0, errMissingKid
	}
	ks := v.keys.Load()
	k := ks.keys[h.KeyID]
	if k == nil {
		v.refreshOnDemand()
		ks = v.keys.Load()
		k = ks.keys[h.KeyID]
	}
	if k == nil {
		return Identity{}, time.Time{}, 0, errUnknownKid
	}
	if k.alg != h.Algorithm {
		return Identity{}, time.Time{}, 0, errAlgKeyMismatch
	}
	var std josejwt.Claims
	var all map[string]any // for the configurable scopes claim
	if err := tok.Claims(k.pub, &std, &all); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return Identity{}, time.Time{}, 0, errBadSignature
		}
		return Identity{}, time.Time{}, 0, errMalformed
	}
	// Written out: Claims.ValidateWithLeeway accepts the instant exp+leeway
	// and does not require exp.
	if std.Expiry == nil {
		return Identity{}, time.Time{}, 0, errMissingExp
	}
	now := v.now()
	exp := std.Expiry.Time()
	switch {
	case !now.Before(exp.Add(v.skew)):
		return Identity{}, time.Time{}, 0, errExpired
	case std.NotBefore != nil && now.Before(std.NotBefore.Time().Add(-v.skew)):
		return Identity{}, time.Time{}, 0, errNotYetValid
	case std.IssuedAt != nil && now.Before(std.IssuedAt.Time().Add(-v.skew)):
		return Identity{}, time.Time{}, 0, errIssuedInFuture
	}
	if std.Issuer == "" || !slices.Contains(v.issuers, std.Issuer) {
		return Identity{}, time.Time{}, 0, errBadIssuer
	}
	if !slices.ContainsFunc(std.Audience, func(a string) bool { return a != "" && slices.Contains(v.audiences, a) }) {
		return Identity{}, time.Time{}, 0, errBadAudience
	}
	if std.Subject == "" {
		return Identity{}, time.Time{}, 0, errMissingSubject
	}
	if hasControl(std.Subject) {
		return Identity{}, time.Time{}, 0, errBadSubject
	}
	scopes, ok := parseScopes(all[v.scopesClaim])
	if !ok {
		return Identity{}, time.Time{}, 0, errBadScopes
	}
	id := Identity{Kind: KindJWT, Subject: std.Subject, Scopes: scopes, ScopesHeader: strings.Join(scopes, " "), ExpiresAt: exp}
	return id, exp, ks.gen, nil
}

// goJoseParseError maps a go-jose parse error; a header go-jose cannot read
// comes as an untyped error, so the header is read again to spot a bad kid.
func goJoseParseError(token string, err error) error {
	var alg *jose.ErrUnexpectedSignatureAlgorithm
	if errors.As(err, &alg) {
		return errAlgNotAllowed
	}
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errMalformed
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(raw, &h) != nil {
		return errMalformed
	}
	if _, crit := h["crit"]; crit {
		return errMalformed
	}
	if kid, ok := h["kid"]; ok && json.Unmarshal(kid, new(string)) != nil {
		return errMissingKid
	}
	return errMalformed
}

func goJoseAlgs(v *JWTVerifier) []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(v.allowedAlgs))
	for i, a := range v.allowedAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// TestGoJoseVariantAgrees keeps the comparison honest: on the TestVerify
// cases the go-jose variant accepts and rejects exactly as the verifier does.
func TestGoJoseVariantAgrees(t *testing.T) {
	for _, c := range verifyCases() {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			v := newFileVerifier(t, clk, c.cfg)
			tok := c.token(t, clk)
			if len(tok) > maxTokenBytes {
				return // refused by Verify before either library sees it
			}
			want, _, _, werr := v.verify(tok)
			got, _, _, gerr := verifyGoJose(v, goJoseAlgs(v), tok)
			if werr != gerr || want.Subject != got.Subject || want.ScopesHeader != got.ScopesHeader || !want.ExpiresAt.Equal(got.ExpiresAt) {
				t.Fatalf("golang-jwt: %+v, %v; go-jose: %+v, %v", want, werr, got, gerr)
			}
		})
	}
}

func BenchmarkVerifyLibrary(b *testing.B) {
	for _, k := range []struct{ name, file string }{{"RS256", "rsa.pem"}, {"ES256", "ec.pem"}, {"EdDSA", "ed25519.pem"}} {
		v := benchVerifier(b, false)
		tok := benchToken(b, k.file)
		algs := goJoseAlgs(v)
		if _, _, _, err := v.verify(tok); err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := verifyGoJose(v, algs, tok); err != nil {
			b.Fatal(err)
		}
		b.Run(k.name+"/golang-jwt", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := v.verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/go-jose", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := verifyGoJose(v, algs, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
