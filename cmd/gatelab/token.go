package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/auth"
)

func init() {
	register("token", "print a signed JWT made with the fixture keys", cmdToken)
}

// defaultTokenKey is the fixture key the token command signs with, relative to
// the repository root.
var defaultTokenKey = filepath.Join("fixtures", "keys", "rsa.pem")

func cmdToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject (`user id`); required")
	scopes := fs.String("scopes", "", "comma-separated `scopes`, sent as the space-separated \"scope\" claim")
	exp := fs.Duration("exp", 15*time.Minute, "lifetime `ttl`; negative makes an already expired token")
	iss := fs.String("iss", auth.FixtureIssuer, "`issuer`")
	aud := fs.String("aud", auth.FixtureAudience, "comma-separated `audiences`")
	kid := fs.String("kid", "", "header `kid` (default: the fixture kid of the key's type, rsa-1 for the default key)")
	key := fs.String("key", defaultTokenKey, "PEM private key `file`; the default is found under $GATELAB_ROOT when set, else the current directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatelab token -sub S [flags]")
		fmt.Fprintln(stderr, "Prints a JWT signed with a TEST-ONLY fixture key (see fixtures/keys/README.md).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return exitCode(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "token: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitCode(2)
	}
	if *sub == "" {
		fmt.Fprintln(stderr, "token: -sub is required")
		fs.Usage()
		return exitCode(2)
	}

	keyFile := *key
	keySet := false
	fs.Visit(func(f *flag.Flag) { keySet = keySet || f.Name == "key" })
	if !keySet {
		if root := os.Getenv("GATELAB_ROOT"); root != "" {
			keyFile = filepath.Join(root, keyFile)
		} else if _, err := os.Stat(keyFile); err != nil {
			return fmt.Errorf("%s not found: run from the repository root, set GATELAB_ROOT, or pass -key", keyFile)
		}
	}

	now := time.Now()
	tok, err := auth.Mint(auth.MintOptions{
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
