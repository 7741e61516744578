package suites_test

// "A deliberately broken build is caught": a small gateway written here
// (net/http and httputil.ReverseProxy in front of in-process echo upstreams,
// its own JWT and API-key checks on the fixture's keys) runs the auth and
// CORS cases three ways. Built right it passes every one of them, which
// shows the double is a fair stand-in; with one bug switched on (the expiry
// check skipped, a client's X-User-ID forwarded, every CORS origin
// granted) exactly the cases about that behaviour fail. So the suite fails
// when behaviour is wrong, and says which behaviour.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/upstream"
	"github.com/gatelab/gatelab/suites"
)

// bug is the one defect a double has.
type bug string

const (
	noBug           bug = ""
	skipExpiry      bug = "skip-expiry"      // verifies signature, iss, aud and nbf, but never exp
	forwardIdentity bug = "forward-identity" // adds X-User-ID next to the client's instead of replacing it
	anyOrigin       bug = "any-origin"       // grants CORS to every origin
)

// apiKey is an entry of fixtures/apikeys.yaml.
type apiKey struct {
	SHA256    string    `yaml:"sha256"`
	PartnerID string    `yaml:"partner_id"`
	Scopes    []string  `yaml:"scopes"`
	ExpiresAt time.Time `yaml:"expires_at"`
	Revoked   bool      `yaml:"revoked"`
}

// double is the test gateway: routes of suites.Routes, fixture credentials.
type double struct {
	bug      bug
	keys     map[string]jose.JSONWebKey // by kid
	apiKeys  map[string]apiKey          // by hex SHA-256
	backends map[string]*url.URL
	url      string
}

func (d *double) Name() string { return "double-" + string(d.bug) }
func (d *double) Implementation() suites.Implementation {
	return suites.Implementation{Name: "double", Version: "test", Mode: map[string]string{"bug": string(d.bug)}}
}
func (d *double) URL() string { return d.url }
func (d *double) Features() []suites.Feature {
	return []suites.Feature{suites.AuthJWT, suites.AuthAPIKey, suites.AuthScopes, suites.CORS}
}
func (d *double) Reconfigure(context.Context, []suites.Route) error { return suites.ErrUnsupported }

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// startDouble starts the echo upstreams and the double with bug b.
func startDouble(t *testing.T, b bug) *double {
	t.Helper()
	root := repoRoot(t)
	d := &double{bug: b, keys: map[string]jose.JSONWebKey{}, apiKeys: map[string]apiKey{}, backends: map[string]*url.URL{}}
	raw, err := os.ReadFile(filepath.Join(root, "fixtures", "keys", "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		d.keys[k.KeyID] = k
	}
	raw, err = os.ReadFile(filepath.Join(root, "fixtures", "apikeys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []apiKey
	if err := yaml.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		d.apiKeys[k.SHA256] = k
	}
	for _, name := range suites.EchoBackends {
		srv := httptest.NewServer(upstream.New(name).Handler())
		t.Cleanup(srv.Close)
		d.backends[name], _ = url.Parse(srv.URL)
	}
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// route finds the fixture route for path: an exact pattern, else the
// longest prefix.
func route(path string) (suites.Route, bool) {
	var best suites.Route
	bestLen := -1
	for _, r := range suites.Routes {
		prefix, isPrefix := strings.CutSuffix(r.Pattern, "/*")
		switch {
		case !isPrefix && path == r.Pattern:
			return r, true
		case isPrefix && (path == prefix || strings.HasPrefix(path, prefix+"/")) && len(prefix) > bestLen:
			best, bestLen = r, len(prefix)
		}
	}
	return best, bestLen >= 0
}

func fail(w http.ResponseWriter, status int, code, challenge string) {
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func (d *double) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r, ok := route(req.URL.Path)
	if !ok {
		fail(w, 404, "not_found", "")
		return
	}
	origin := req.Header.Get("Origin")
	cors := r.CORS
	granted := cors != nil && origin != "" && (slices.Contains(cors.AllowedOrigins, origin) || d.bug == anyOrigin)
	methods := r.Methods
	if len(methods) == 0 {
		methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
	}
	if pm := req.Header.Get("Access-Control-Request-Method"); req.Method == "OPTIONS" && pm != "" && granted && slices.Contains(methods, pm) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Vary", "Origin")
		h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
		h.Set("Access-Control-Allow-Headers", strings.Join(cors.AllowedHeaders, ", "))
		h.Set("Access-Control-Max-Age", strconv.Itoa(cors.MaxAgeSeconds))
		w.WriteHeader(204)
		return
	}
	if !slices.Contains(methods, req.Method) {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		fail(w, 405, "method_not_allowed", "")
		return
	}

	out := req.Header.Clone()
	for _, h := range []string{"Authorization", "X-API-Key", "X-User-ID", "X-User-Scopes", "X-Partner-ID"} {
		if d.bug == forwardIdentity && h == "X-User-ID" {
			continue
		}
		out.Del(h)
	}
	var scopes []string
	switch r.Auth {
	case suites.JWTAuth:
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			fail(w, 401, "unauthorized", `Bearer realm="double"`)
			return
		}
		sub, sc, err := d.verify(tok)
		if err != nil {
			fail(w, 401, "invalid_token", `Bearer realm="double", error="invalid_token"`)
			return
		}
		out.Add("X-User-ID", sub)
		scopes = sc
	case suites.KeyAuth:
		sum := sha256.Sum256([]byte(req.Header.Get("X-API-Key")))
		k, ok := d.apiKeys[hex.EncodeToString(sum[:])]
		if !ok || k.Revoked || !k.ExpiresAt.IsZero() && time.Now().After(k.ExpiresAt) {
			fail(w, 401, "invalid_key", `APIKey realm="double"`)
			return
		}
		out.Set("X-Partner-ID", k.PartnerID)
		scopes = k.Scopes
	}
	for _, s := range r.Scopes {
		if !slices.Contains(scopes, s) {
			fail(w, 403, "forbidden", `Bearer realm="double", error="insufficient_scope"`)
			return
		}
	}

	backend := d.backends[r.Backend]
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.Header = out
			pr.SetURL(backend)
			pr.Out.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(req.URL.Path, r.Strip), "/")
			pr.Out.URL.RawPath = ""
		},
		ModifyResponse: func(resp *http.Response) error {
			if granted {
				resp.Header.Set("Access-Control-Allow-Origin", origin)
				resp.Header.Add("Vary", "Origin")
			}
			return nil
		},
	}
	proxy.ServeHTTP(w, req)
}

// verify checks a JWT against the fixture JWKS, issuer and audience with
// the fixture's clock skew, and returns its sub and scopes. With the
// skipExpiry bug every claim check but exp is done by hand.
func (d *double) verify(tok string) (string, []string, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256", "ES256", "EdDSA"})}
	if d.bug == skipExpiry {
		opts = append(opts, jwt.WithoutClaimsValidation())
	} else {
		opts = append(opts, jwt.WithLeeway(suites.JWTClockSkew), jwt.WithExpirationRequired(),
			jwt.WithIssuer(authtest.Issuer), jwt.WithAudience(authtest.Audience))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.NewParser(opts...).ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := d.keys[kid]
		if !ok || k.Algorithm != t.Method.Alg() {
			return nil, fmt.Errorf("no key %q for %s", kid, t.Method.Alg())
		}
		return k.Key, nil
	})
	if err != nil {
		return "", nil, err
	}
	if d.bug == skipExpiry {
		iss, _ := claims.GetIssuer()
		aud, _ := claims.GetAudience()
		nbf, _ := claims.GetNotBefore()
		if iss != authtest.Issuer || !slices.Contains(aud, authtest.Audience) ||
			nbf != nil && time.Now().Add(suites.JWTClockSkew).Before(nbf.Time) {
			return "", nil, fmt.Errorf("bad claims")
		}
	}
	sub, _ := claims.GetSubject()
	if sub == "" {
		return "", nil, fmt.Errorf("no sub")
	}
	scope, _ := claims["scope"].(string)
	return sub, strings.Fields(scope), nil
}

// authAndCORSCases are the cases the doubles run: every auth case and the
// CORS one.
func authAndCORSCases() []suites.Case {
	var out []suites.Case
	for _, c := range suites.All() {
		if strings.HasPrefix(c.ID, "auth/") || strings.HasPrefix(c.ID, "cors/") {
			out = append(out, c)
		}
	}
	return out
}

// failedCases runs the cases against a double with bug b and returns the
// failed ones with their reasons; a skipped case fails the test (every
// case must run, or "not failed" proves nothing).
func failedCases(t *testing.T, b bug) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := suites.Run(ctx, startDouble(t, b), authAndCORSCases(), suites.Options{Root: repoRoot(t)})
	failed := map[string]string{}
	for _, c := range rep.Cases {
		switch c.Outcome {
		case suites.Skipped:
			t.Errorf("%s skipped: %s", c.ID, c.Reason)
		case suites.Failed:
			failed[c.ID] = c.Reason
		}
	}
	return failed
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestBrokenBuildIsCaught: the correct double passes every auth and CORS
// case; each bug makes the cases about it fail, and only those.
func TestBrokenBuildIsCaught(t *testing.T) {
	if n := len(authAndCORSCases()); n < 20 {
		t.Fatalf("only %d auth and CORS cases", n)
	}
	t.Run("correct", func(t *testing.T) {
		t.Parallel()
		for id, why := range failedCases(t, noBug) {
			t.Errorf("%s failed against the correct double: %s", id, why)
		}
	})
	t.Run(string(skipExpiry), func(t *testing.T) {
		t.Parallel()
		failed := failedCases(t, skipExpiry)
		want := []string{"auth/jwt-exp-skew", "auth/jwt-expired"}
		if got := keys(failed); !slices.Equal(got, want) {
			t.Errorf("failed cases %q, want exactly %q; reasons: %v", got, want, failed)
		}
		t.Logf("caught: %v", failed)
	})
	t.Run(string(forwardIdentity), func(t *testing.T) {
		t.Parallel()
		failed := failedCases(t, forwardIdentity)
		for _, id := range []string{"auth/jwt-valid-rs256", "auth/jwt-valid-es256", "auth/jwt-valid-eddsa"} {
			if _, ok := failed[id]; !ok {
				t.Errorf("%s passed against a double forwarding the client's X-User-ID", id)
			}
		}
		for id, why := range failed {
			if !strings.Contains(why, "X-User-ID") || !strings.Contains(why, "spoofed-") {
				t.Errorf("%s failed for another reason than the forwarded X-User-ID: %s", id, why)
			}
		}
		t.Logf("caught by %d cases, e.g. %s", len(failed), failed["auth/jwt-valid-rs256"])
	})
	t.Run(string(anyOrigin), func(t *testing.T) {
		t.Parallel()
		failed := failedCases(t, anyOrigin)
		if got := keys(failed); !slices.Equal(got, []string{"cors/preflight"}) {
			t.Errorf("failed cases %q, want exactly [cors/preflight]; reasons: %v", got, failed)
		}
		if why := failed["cors/preflight"]; !strings.Contains(why, "evil.conf.test") {
			t.Errorf("cors/preflight did not fail on the unknown origin: %s", why)
		}
		t.Logf("caught: %v", failed)
	})
}

// TestClockSkewMatchesFixture: the skew cases assume the skew the reference
// gateway is configured with.
func TestClockSkewMatchesFixture(t *testing.T) {
	cfg, err := config.Load(filepath.Join(repoRoot(t), "fixtures", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Auth.JWT.ClockSkew; s == nil || *s != suites.JWTClockSkew {
		t.Errorf("fixtures/gateway.yaml clock_skew %v, suites.JWTClockSkew %v: the skew cases would test the wrong boundary", s, suites.JWTClockSkew)
	}
}
