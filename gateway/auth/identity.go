package auth

import (
	"strings"
	"time"
)

// Kind says which credential produced an Identity.
type Kind uint8

// Credential kinds. KindNone is the zero value (no identity).
const (
	KindNone Kind = iota
	KindJWT
	KindAPIKey
)

// String returns "jwt", "api_key" or "none".
func (k Kind) String() string {
	switch k {
	case KindJWT:
		return "jwt"
	case KindAPIKey:
		return "api_key"
	}
	return "none"
}

// Identity is who made a request, as established by a verified credential.
// Scopes is shared and must not be modified.
type Identity struct {
	Kind Kind
	// Subject is the JWT sub claim, or the API key's ID label.
	Subject string
	Scopes  []string
	// ScopesHeader is Scopes joined by single spaces (sent upstream as
	// X-User-Scopes).
	ScopesHeader string
	// PartnerID is set for API keys only.
	PartnerID string
	// Tier is the API key's rate-limit tier override (API keys only).
	Tier string
	// KeyHash is the hex SHA-256 of the API key (API keys only). It is what
	// rate-limit keys and logs use; the raw key is never kept.
	KeyHash string
	// ExpiresAt is the token's exp, or the API key's expiry (zero: never).
	ExpiresAt time.Time
}

// HasScopes reports whether the identity holds every scope in required. An
// empty required list is always satisfied. It does not allocate.
func (id *Identity) HasScopes(required []string) bool {
outer:
	for _, r := range required {
		for _, s := range id.Scopes {
			if s == r {
				continue outer
			}
		}
		return false
	}
	return true
}

// BearerToken extracts the token from an Authorization header value of the
// form "Bearer <token>". The scheme is matched case-insensitively and
// surrounding spaces and tabs are ignored. It reports false when the scheme
// is not Bearer, the token is empty, or the token contains white space. It
// does not allocate.
func BearerToken(authorization string) (string, bool) {
	const prefix = "Bearer "
	a := strings.TrimLeft(authorization, " \t")
	if len(a) < len(prefix) || !strings.EqualFold(a[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.Trim(a[len(prefix):], " \t")
	// Two IndexByte scans (vectorised) instead of ContainsAny, which walks
	// the token byte by byte against a set: this runs on every request.
	if tok == "" || strings.IndexByte(tok, ' ') >= 0 || strings.IndexByte(tok, '\t') >= 0 {
		return "", false
	}
	return tok, true
}
