package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
)

func init() {
	register("token", "print a signed JWT made with the fixture keys", cmdToken)
}

// defaultTokenKey is the fixture key the token command signs with, relative to
// the repository root.
var defaultTokenKey = filepath.Join("fixtures", "keys", "rsa.pem")

func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("token", "usage: gatelab token -sub S [flags]\nPrints a JWT signed with a TEST-ONLY fixture key (see fixtures/keys/README.md).\n")
	sub := fs.String("sub", "", "subject (`user id`); required")
	scopes := fs.String("scopes", "", "comma-separated `scopes`, sent as the space-separated \"scope\" claim")
	exp := fs.Duration("exp", 15*time.Minute, "lifetime `ttl`; negative makes an already expired token")
	iss := fs.String("iss", authtest.Issuer, "`issuer`")
	aud := fs.String("aud", authtest.Audience, "comma-separated `audiences`")
	kid := fs.String("kid", "", "header `kid` (default: the fixture kid of the key's type, rsa-1 for the default key)")
	key := fs.String("key", defaultTokenKey, "PEM private key `file`"+repoFileHelp)
	if err := fs.parse(args, stdout); err != nil {
		return err
	}
	if *sub == "" {
		return usageErrorf("-sub is required")
	}

	keyFile := *key
	if !fs.isSet("key") {
		keyFile = repoFile(defaultTokenKey)
		if !fileExists(keyFile) {
			return fmt.Errorf("%s not found: run in the repository, set %s to its root, or pass -key", keyFile, EnvRoot)
		}
	}

	now := time.Now()
	tok, err := authtest.Mint(authtest.Options{
		Subject:   *sub,
		Scopes:    splitList(*scopes),
		ExpiresAt: now.Add(*exp),
		IssuedAt:  now,
		Issuer:    *iss,
		Audience:  splitList(*aud),
		Kid:       *kid,
		KeyFile:   keyFile,
		Now:       func() time.Time { return now },
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
