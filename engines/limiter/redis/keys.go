package redis

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxKeyLen is the longest pipeline key stored as it is. A longer one has its
// identity part replaced by its SHA-256.
const MaxKeyLen = 128

// Redis key shapes. Everything a decision touches is the one key, and its
// pipeline key sits in a hash tag, so the key's cluster slot is the pipeline
// key's and any future key of the same decision can share it.
const (
	plainPrefix  = "gl:{"   // gl:{<tier>:<kind>:<identity>}
	hashedPrefix = "gl:h:{" // gl:h:{<tier>:<kind>:<sha256 of identity>}
	keySuffix    = "}"
)

// redisKey maps a pipeline key ("<tier>:<kind>:<identity>", holding no
// secret: API keys arrive as SHA-256 hex) to its Redis key. Keys up to
// MaxKeyLen bytes are kept verbatim; longer ones keep "<tier>:<kind>:" and
// replace the identity by its SHA-256 hex (the whole key if it has no such
// prefix, or a prefix longer than half of MaxKeyLen). The two shapes have
// different prefixes, so a verbatim key can never name a hashed one's state.
func redisKey(key string) string {
	if len(key) <= MaxKeyLen {
		return plainPrefix + key + keySuffix
	}
	prefix, ident := "", key
	if i := strings.IndexByte(key, ':'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], ':'); j >= 0 && i+1+j+1 <= MaxKeyLen/2 {
			prefix, ident = key[:i+1+j+1], key[i+1+j+1:]
		}
	}
	sum := sha256.Sum256([]byte(ident))
	return hashedPrefix + prefix + hex.EncodeToString(sum[:]) + keySuffix
}
