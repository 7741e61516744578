package auth

import (
	"errors"
	"net/http"
)

// Sentinel errors. Every error this package returns matches exactly one of
// them with errors.Is.
var (
	// ErrMissingCredentials: no credential was presented.
	ErrMissingCredentials = errors.New("auth: missing credentials")
	// ErrInvalidToken: the JWT was rejected; see *TokenError for the reason.
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrKeyStoreUnavailable: no verification key could be loaded, so no
	// token can be verified. The gateway answers 503.
	ErrKeyStoreUnavailable = errors.New("auth: no verification keys available")
	// ErrInvalidAPIKey: the API key is not known.
	ErrInvalidAPIKey = errors.New("auth: invalid api key")
	// ErrRevokedAPIKey: the API key is known but revoked.
	ErrRevokedAPIKey = errors.New("auth: revoked api key")
	// ErrExpiredAPIKey: the API key is known but past its expiry.
	ErrExpiredAPIKey = errors.New("auth: expired api key")
)

// Reasons a token is rejected, as found in TokenError.Reason.
const (
	ReasonMalformed      = "malformed"
	ReasonAlgNotAllowed  = "alg not allowed"
	ReasonAlgKeyMismatch = "alg does not match key"
	ReasonMissingKid     = "missing kid"
	ReasonUnknownKid     = "unknown kid"
	ReasonBadSignature   = "bad signature"
	ReasonMissingExp     = "missing exp"
	ReasonExpired        = "expired"
	ReasonNotYetValid    = "not yet valid"
	ReasonIssuedInFuture = "issued in the future"
	ReasonBadIssuer      = "bad issuer"
	ReasonBadAudience    = "bad audience"
	ReasonMissingSubject = "missing subject"
	ReasonBadSubject     = "bad subject"
	ReasonBadScopes      = "bad scopes claim"
)

// TokenError is a rejected token. errors.Is(err, ErrInvalidToken) holds for
// it. The package returns shared values, so the error path does not allocate;
// compare Reason, not pointers.
type TokenError struct {
	Reason string
}

func (e *TokenError) Error() string { return "auth: invalid token: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidToken) true.
func (e *TokenError) Unwrap() error { return ErrInvalidToken }

var (
	errMalformed      = &TokenError{ReasonMalformed}
	errAlgNotAllowed  = &TokenError{ReasonAlgNotAllowed}
	errAlgKeyMismatch = &TokenError{ReasonAlgKeyMismatch}
	errMissingKid     = &TokenError{ReasonMissingKid}
	errUnknownKid     = &TokenError{ReasonUnknownKid}
	errBadSignature   = &TokenError{ReasonBadSignature}
	errMissingExp     = &TokenError{ReasonMissingExp}
	errExpired        = &TokenError{ReasonExpired}
	errNotYetValid    = &TokenError{ReasonNotYetValid}
	errIssuedInFuture = &TokenError{ReasonIssuedInFuture}
	errBadIssuer      = &TokenError{ReasonBadIssuer}
	errBadAudience    = &TokenError{ReasonBadAudience}
	errMissingSubject = &TokenError{ReasonMissingSubject}
	errBadSubject     = &TokenError{ReasonBadSubject}
	errBadScopes      = &TokenError{ReasonBadScopes}
)

// Stable error codes, as returned by Code.
const (
	CodeMissingCredentials = "missing_credentials"
	CodeInvalidToken       = "invalid_token"
	CodeTokenExpired       = "token_expired"
	CodeAuthUnavailable    = "auth_unavailable"
	CodeInvalidAPIKey      = "invalid_api_key"
	CodeRevokedAPIKey      = "revoked_api_key"
	CodeExpiredAPIKey      = "expired_api_key"
	CodeAuthError          = "auth_error" // an error not from this package
)

// Code returns a stable short code for err, for JSON error bodies and logs:
// one of the Code* constants, or "" for nil. An expired token gets
// "token_expired"; every other token rejection "invalid_token" (the reason is
// for logs, not clients). It does not allocate.
func Code(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingCredentials):
		return CodeMissingCredentials
	case errors.Is(err, ErrKeyStoreUnavailable):
		return CodeAuthUnavailable
	case errors.Is(err, ErrInvalidToken):
		if te := asTokenError(err); te != nil && te.Reason == ReasonExpired {
			return CodeTokenExpired
		}
		return CodeInvalidToken
	case errors.Is(err, ErrInvalidAPIKey):
		return CodeInvalidAPIKey
	case errors.Is(err, ErrRevokedAPIKey):
		return CodeRevokedAPIKey
	case errors.Is(err, ErrExpiredAPIKey):
		return CodeExpiredAPIKey
	}
	return CodeAuthError
}

// HTTPStatus is the status the gateway answers for err: 200 for nil, 503 for
// ErrKeyStoreUnavailable, 401 for every other error.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrKeyStoreUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// asTokenError finds a *TokenError in err's (single) Unwrap chain without the
// reflection errors.As uses.
func asTokenError(err error) *TokenError {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if te, ok := e.(*TokenError); ok {
			return te
		}
	}
	return nil
}
