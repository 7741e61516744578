package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An empty config file (or one with only white space and comments) is a
// problem, not "ok: 0 routes".
func TestValidateEmptyFile(t *testing.T) {
	for _, text := range []string{"", "\n  \n", "# nothing yet\n\t# still nothing\n"} {
		path := filepath.Join(t.TempDir(), "empty.yaml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCLI("validate", "-config", path)
		if code != 1 || !strings.Contains(out, path+": config is empty") {
			t.Errorf("%q: exit %d, output:\n%s", text, code, out)
		}
	}
}

// URLs with credentials are printed redacted.
func TestValidateRedactsURLs(t *testing.T) {
	bad := `auth:
  jwt:
    jwks_url: ftp://idp:s3cret@issuer.test/jwks?token=abc
backends:
  - name: svc
    instances:
      - url: http://user:s3cret@host/?token=abc
routes:
  - id: orders
    pattern: /orders/*
    backend: nowhere
    auth: none
`
	path := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("validate", "-config", path)
	if code != 1 || !strings.Contains(out, "http://user:xxxxx@host/?token=xxxxx") || !strings.Contains(out, "ftp://idp:xxxxx@issuer.test/jwks?token=xxxxx") ||
		!strings.Contains(out, `routes[0] (id "orders").backend: unknown backend "nowhere"`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	for _, secret := range []string{"s3cret", "abc"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("the output holds %q:\n%s%s", secret, out, errOut)
		}
	}
}
