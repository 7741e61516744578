// Package auth turns request credentials into an Identity: it verifies JWT
// bearer tokens against a JWKS and looks up partner API keys. It knows nothing
// about HTTP handlers; the gateway pipeline extracts the credential (see
// BearerToken), calls Verify or Lookup, and maps the error with Code and
// HTTPStatus.
//
// # Contract
//
// JWTVerifier.Verify accepts a token only when all of these hold:
//
//   - it is a well-formed compact JWS (three base64url segments, JSON header
//     and claims);
//   - the header's alg is in the configured list (default RS256, ES256, EdDSA).
//     "none" and every HS* algorithm are always rejected, so a token "signed"
//     with a public key used as an HMAC secret never verifies;
//   - the header carries a kid naming a known key, and the alg is the one that
//     key's type implies: RSA (2048 bits or more) only RS256, EC P-256 only
//     ES256, Ed25519 only EdDSA;
//   - the signature verifies with that key;
//   - exp is present and not passed, nbf (if present) has been reached and iat
//     (if present) is not in the future, each allowing the clock skew (default
//     30s);
//   - iss is one of the configured issuers, aud (a string or an array) holds at
//     least one of the configured audiences, and sub is a non-empty string
//     without control characters;
//   - the scopes claim (default "scope") is absent, a space-separated string,
//     or an array of strings without white space or control characters.
//
// A rejected token yields an error for which errors.Is(err, ErrInvalidToken)
// holds; errors.As to *TokenError gives the short reason (Reason* constants).
//
// Keys come from a JWKS file, a JWKS URL, or both (file keys win on a kid
// clash). URL keys are refreshed in the background every RefreshInterval
// (default 30m) and at once when a token names an unknown kid. On-demand
// refreshes are single-flight and at most one per RefreshCooldown (5s), so a
// flood of tokens with bogus kids costs at most one JWKS fetch per cooldown.
// A failed refresh, or one that yields no usable key, keeps the keys already
// held. When no key has ever been loaded Verify returns ErrKeyStoreUnavailable
// (the gateway answers 503) and never accepts a token, cached or not.
//
// # Verified-token cache
//
// When enabled, verified tokens are remembered by the SHA-256 of the token
// (never the token itself) in a bounded, sharded map. An entry is served only
// while the clock is before min(exp, verification time + CacheMaxTTL): no clock
// skew is added, so the cache never extends a token's life. When a refresh
// removes or replaces a key, every entry cached before it stops being served
// (entries carry the key-set generation they were verified under). Rejections
// are never cached. A cache hit does not allocate.
//
// # API keys
//
// KeyStore holds only SHA-256 hashes of partner keys. Lookup hashes the raw key
// and finds it by hash; revoked and expired keys are rejected with their own
// errors. The Identity of each key is built at load time, so a successful
// Lookup does not allocate. Identity.KeyHash is the hex hash, safe to use in
// rate-limit keys and logs; the raw key is never kept.
//
// # Identities
//
// An Identity's Scopes slice is shared between requests and must be treated as
// read-only. Identity.HasScopes does not allocate.
//
// # Errors
//
// Every error returned by this package matches one of the sentinels below with
// errors.Is; Code gives a stable short code for JSON bodies and logs and
// HTTPStatus the status to answer (503 for ErrKeyStoreUnavailable, 401 for the
// rest). Missing-scope answers (403) are the caller's business.
//
// # JWT library
//
// Tokens are parsed and verified with golang-jwt/jwt/v5; the JWKS is decoded
// with go-jose/v4, which golang-jwt has no equivalent for. go-jose alone could
// do both, but it is slower on the hot path, the uncached verification. With
// the same token and the same checks (go-jose v4.1.9, golang-jwt v5.3.1, CPU
// time per verification, medians of interleaved runs) it costs RS256 +31-38%,
// ES256 +17-31% and EdDSA +24-38%, with about twice the allocations (RS256:
// 155 and 10 KB against 73 and 4.3 KB). Its compact parser decodes the
// protected header more than once and its JSON decoder is slower: with no
// claims decoded at all it is already 7-10% slower than golang-jwt's whole
// path. library_bench_test.go keeps that go-jose variant of the verify path,
// a test that it answers like the verifier on every TestVerify case, and
// BenchmarkVerifyLibrary to re-run the comparison.
//
// This package signs nothing. Test tokens are minted by
// gateway/auth/authtest (tests, benchmarks, the lab and "gatelab token").
package auth
