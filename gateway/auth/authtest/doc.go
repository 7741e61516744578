// Package authtest mints signed JWTs for tests, benchmarks, the lab and the
// "gatelab token" development command. It is not part of the gateway: the
// product package gateway/auth only verifies tokens and holds no signing code.
//
// # Contract
//
// Mint signs a compact JWS with a private key read from a PEM file or given in
// memory. The algorithm follows the key (RSA→RS256, EC P-256→ES256,
// Ed25519→EdDSA); the header is {"alg", "kid", "typ":"JWT"} and the kid
// defaults to the fixture kid of the key's type. The claims are exp and iat
// (always, unless removed through Options.Claims), nbf, sub, iss, aud and
// scope when set, then Options.Claims on top.
//
// The constants name the TEST-ONLY keys in fixtures/keys (see
// fixtures/keys/README.md): tokens they sign prove nothing and must never be
// trusted outside tests.
//
// This package must not import gateway/auth, so that the tests inside
// gateway/auth can use it.
package authtest
