package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/gatelab/gatelab/gateway/config"
)

// KeyStore finds partner API keys by the SHA-256 of the raw key. It is
// immutable and safe for concurrent use; build a new one to change keys.
type KeyStore struct {
	now  func() time.Time
	keys map[[32]byte]*apiKeyEntry
}

type apiKeyEntry struct {
	id      Identity // built at load time, returned by value
	revoked bool
}

// HashAPIKey returns the lower-case hex SHA-256 of a raw API key, the form
// config.APIKey.SHA256 and Identity.KeyHash use.
func HashAPIKey(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// NewKeyStore checks and indexes keys. Every entry needs a unique non-empty ID
// and a SHA256 of exactly 64 hex digits that no other entry has; all problems
// are reported together. now is the clock for expiry (nil: time.Now).
func NewKeyStore(keys []config.APIKey, now func() time.Time) (*KeyStore, error) {
	if now == nil {
		now = time.Now
	}
	s := &KeyStore{now: now, keys: make(map[[32]byte]*apiKeyEntry, len(keys))}
	var problems []error
	ids := make(map[string]int, len(keys))
	byHash := make(map[[32]byte]int, len(keys))
	for i, k := range keys {
		where := fmt.Sprintf("api key #%d (id %q)", i, k.ID)
		if k.ID == "" {
			problems = append(problems, fmt.Errorf("%s: id is required", where))
		} else if j, dup := ids[k.ID]; dup {
			problems = append(problems, fmt.Errorf("%s: id already used by api key #%d", where, j))
		} else {
			ids[k.ID] = i
		}
		raw, err := hex.DecodeString(k.SHA256)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: sha256 is not hex", where))
			continue
		case len(raw) != sha256.Size:
			problems = append(problems, fmt.Errorf("%s: sha256 must be %d hex digits, got %d", where, 2*sha256.Size, len(k.SHA256)))
			continue
		}
		var h [32]byte
		copy(h[:], raw)
		if j, dup := byHash[h]; dup {
			problems = append(problems, fmt.Errorf("%s: same sha256 as api key #%d (id %q)", where, j, keys[j].ID))
			continue
		}
		byHash[h] = i
		scopes := make([]string, 0, len(k.Scopes))
		scopes = append(scopes, k.Scopes...)
		s.keys[h] = &apiKeyEntry{
			revoked: k.Revoked,
			id: Identity{
				Kind:         KindAPIKey,
				Subject:      k.ID,
				Scopes:       scopes,
				ScopesHeader: strings.Join(scopes, " "),
				PartnerID:    k.PartnerID,
				Tier:         k.Tier,
				KeyHash:      strings.ToLower(k.SHA256),
				ExpiresAt:    k.ExpiresAt,
			},
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("auth: api keys: %w", errors.Join(problems...))
	}
	return s, nil
}

// Len is the number of keys held, revoked and expired ones included.
func (s *KeyStore) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Lookup finds the key raw (as presented by the client). An empty raw is
// ErrMissingCredentials; an unknown key ErrInvalidAPIKey; a revoked one
// ErrRevokedAPIKey; one at or past its expiry ErrExpiredAPIKey. It does not
// allocate.
func (s *KeyStore) Lookup(raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, ErrMissingCredentials
	}
	if s == nil {
		return Identity{}, ErrInvalidAPIKey
	}
	// Hash the key's bytes in place: they are only read.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	e := s.keys[h]
	switch {
	case e == nil:
		return Identity{}, ErrInvalidAPIKey
	case e.revoked:
		return Identity{}, ErrRevokedAPIKey
	case !e.id.ExpiresAt.IsZero() && !s.now().Before(e.id.ExpiresAt):
		return Identity{}, ErrExpiredAPIKey
	}
	return e.id, nil
}
