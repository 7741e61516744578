package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"http://127.0.0.1:9101", "http://127.0.0.1:9101"},
		{"http://user:s3cret@host:1/", "http://user:xxxxx@host:1/"},
		{"redis://:s3cret@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"rediss://default:s3cret@h:6380", "rediss://default:xxxxx@h:6380"},
		{"http://user@host:1", "http://user@host:1"}, // a user name alone is kept, as url.URL.Redacted does
		{"http://user:@host:1", "http://user:xxxxx@host:1"},
		{"http://u:p%40ss@host:1/x", "http://u:xxxxx@host:1/x"},
		{"https://idp.test/jwks?token=abc&x=1", "https://idp.test/jwks?token=xxxxx&x=1"},
		{"https://idp.test/jwks?x=1&API-Key=abc;sig=def", "https://idp.test/jwks?x=1&API-Key=xxxxx;sig=xxxxx"},
		{"https://idp.test/?access_token=abc&client_secret=def&password=ghi&apikey=jkl&auth=mno", "https://idp.test/?access_token=xxxxx&client_secret=xxxxx&password=xxxxx&apikey=xxxxx&auth=xxxxx"},
		{"https://idp.test/?Signature=abc&X-Amz-Security-Token=def&key=ghi", "https://idp.test/?Signature=xxxxx&X-Amz-Security-Token=xxxxx&key=xxxxx"},
		{"https://idp.test/?page=2&sort=name", "https://idp.test/?page=2&sort=name"},
		{"https://idp.test/?token=", "https://idp.test/?token="},
		{"https://idp.test/cb#access_token=abc&state=s", "https://idp.test/cb#access_token=xxxxx&state=s"},
		{"http://user:s3cret@host/?token=abc", "http://user:xxxxx@host/?token=xxxxx"},
		// Unparsable: the whole userinfo goes, whatever a client makes of it.
		{"http://user:s3cret@host:port/", "http://xxxxx@host:port/"},
		{"redis://:pa/ss@h:6379", "redis://xxxxx@h:6379"},
		{"user:s3cret@host:6379", "xxxxx@host:6379"},
		{"unix:///run/redis.sock?password=abc&db=1", "unix:///run/redis.sock?password=xxxxx&db=1"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactURLsIn(t *testing.T) {
	in := `backend b: instance "http://user:s3cret@h:1/?token=abc": bad; see https://docs.test/x?page=1`
	want := `backend b: instance "http://user:xxxxx@h:1/?token=xxxxx": bad; see https://docs.test/x?page=1`
	if got := RedactURLsIn(in); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := RedactURLsIn("no url here: user:s3cret"); got != "no url here: user:s3cret" {
		t.Errorf("text without a URL changed: %q", got)
	}
}

// secretConfig has credentials in every URL-valued setting and one more
// problem elsewhere (an unknown backend), so it is refused with several
// problems quoting URLs.
const secretConfig = `auth:
  jwt:
    jwks_url: ftp://idp:s3cret@issuer.test/jwks?api_key=abc
    issuers: [https://issuer.test]
    audiences: [gatelab]
engines:
  limiter: redis
limiter:
  redis:
    url: http://:s3cret@redis.test:6379/?password=abc
backends:
  - name: svc
    instances:
      - url: http://user:s3cret@host:9101/?token=abc
routes:
  - id: orders
    pattern: /orders/*
    backend: nowhere
  - id: cors
    pattern: /c/*
    backend: svc
    auth: none
    cors:
      allowed_origins: ["https://u:s3cret@app.test/?token=abc"]
`

// Validate (through Parse) quotes every URL-valued setting redacted.
func TestSecretsNeverInProblems(t *testing.T) {
	probs := parseProblems(t, secretConfig, "gw.yaml", "")
	out := probs.Error()
	for _, secret := range []string{"s3cret", "abc"} {
		if strings.Contains(out, secret) {
			t.Errorf("problems hold %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`auth.jwt.jwks_url: "ftp://idp:xxxxx@issuer.test/jwks?api_key=xxxxx": want an http:// or https:// URL`,
		`backends[0] (name "svc").instances[0].url: "http://user:xxxxx@host:9101/?token=xxxxx": want http://host:port`,
		`routes[0] (id "orders").backend: unknown backend "nowhere"`,
		`routes[1] (id "cors").cors.allowed_origins[0]: "https://u:xxxxx@app.test/?token=xxxxx"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestSyntaxErrorPointsAtTheMistake: for an indentation mistake yaml.v3
// names the line where the enclosing block starts, lines before it; the
// problem names the mistaken line (see mistakeLine). Each fixture marks its
// mistake with "# <- mistake", 12 or more lines into the routes block.
func TestSyntaxErrorPointsAtTheMistake(t *testing.T) {
	files, _ := filepath.Glob("testdata/syntax/*.yaml")
	if len(files) < 4 {
		t.Fatalf("fixtures missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for i, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "# <- mistake") {
					want = i + 1
				}
			}
			_, err = Load(f)
			probs, ok := err.(Problems)
			if !ok || len(probs) != 1 || !strings.Contains(probs[0].Msg, "invalid YAML") {
				t.Fatalf("want one YAML syntax problem, got %v", err)
			}
			if probs[0].Line != want || probs[0].File != f {
				t.Errorf("reported at %s:%d, the mistake is on line %d: %v", probs[0].File, probs[0].Line, want, probs[0])
			}
		})
	}
}

// An error yaml.v3 already places right stays where it is.
func TestSyntaxErrorLineUnchangedWhenRight(t *testing.T) {
	text := "listen:\n  traffic: 127.0.0.1:8080\n  admin: a: b\nroutes: []\n"
	var n yaml.Node
	plain := yaml.Unmarshal([]byte(text), &n)
	m := lineRE.FindStringSubmatch(fmt.Sprint(plain))
	probs := parseProblems(t, text, "gw.yaml", "")
	if m == nil || len(probs) != 1 || m[1] != "3" || probs[0].Line != 3 {
		t.Fatalf("yaml.v3 says %v; problem %v", plain, probs)
	}
}
