package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatelab/gatelab/gateway/auth/authtest"
	"github.com/gatelab/gatelab/gateway/config"
)

// Short names for the fixture values and the minting helpers, which live in
// authtest (the product package holds no signing code).
const (
	FixtureIssuer     = authtest.Issuer
	FixtureAudience   = authtest.Audience
	FixtureKidRSA     = authtest.KidRSA
	FixtureKidEC      = authtest.KidEC
	FixtureKidEd25519 = authtest.KidEd25519
	DefaultMintTTL    = authtest.DefaultTTL
)

type MintOptions = authtest.Options

// fixtureDir holds the committed test keys (see fixtures/keys/README.md).
var fixtureDir = filepath.Join("..", "..", "fixtures", "keys")

func fixture(name string) string { return filepath.Join(fixtureDir, name) }

// t0 is the fake clock's start.
var t0 = time.Date(2030, time.March, 4, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock; Now is safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fileConfig is a JWT config trusting the fixture JWKS file.
func fileConfig() config.JWT {
	return config.JWT{
		JWKSFile:  "jwks.json",
		Issuers:   []string{FixtureIssuer},
		Audiences: []string{FixtureAudience},
	}
}

// newFileVerifier builds a verifier on the fixture JWKS with clock c; edit
// adjusts the config first (may be nil).
func newFileVerifier(t testing.TB, c *fakeClock, edit func(*config.JWT)) *JWTVerifier {
	t.Helper()
	cfg := fileConfig()
	if edit != nil {
		edit(&cfg)
	}
	v, err := NewJWTVerifier(cfg, fixtureDir, Options{Now: c.Now})
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// mint signs a fixture token at clock c: subject alice, fixture issuer and
// audience, RSA key, 15 minutes, unless edit changes the options.
func mint(t testing.TB, c *fakeClock, edit func(*MintOptions)) string {
	t.Helper()
	o := MintOptions{
		Subject:  "alice",
		Scopes:   []string{"orders:read", "orders:write"},
		Issuer:   FixtureIssuer,
		Audience: []string{FixtureAudience},
		KeyFile:  fixture("rsa.pem"),
		Now:      c.Now,
	}
	if edit != nil {
		edit(&o)
	}
	tok, err := authtest.Mint(o)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// wantReason checks that err is a token rejection with the given reason.
func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error = %v, want ErrInvalidToken (%s)", err, reason)
	}
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != reason {
		t.Fatalf("error = %v, want reason %q", err, reason)
	}
}

// newEdKey makes an in-memory Ed25519 key.
func newEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwk is the public JWK of key under kid.
func jwk(key crypto.Signer, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Use: "sig"}
}

// jwksServer serves a JWKS document that tests can change, and counts hits.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int64
	hitCh  chan struct{} // receives one value per hit when non-nil (non-blocking)
	gate   func()        // when non-nil, called before answering
}

func newJWKSServer(t testing.TB, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, ch, gate := s.body, s.status, s.hitCh, s.gate
		s.mu.Unlock()
		if gate != nil {
			gate()
		}
		if ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, keys ...jose.JSONWebKey) {
	t.Helper()
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(http.StatusOK, body)
}

func (s *jwksServer) setBody(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// urlConfig is a JWT config trusting only the server's JWKS.
func urlConfig(url string) config.JWT {
	return config.JWT{
		JWKSURL:   url,
		Issuers:   []string{FixtureIssuer},
		Audiences: []string{FixtureAudience},
	}
}

func newURLVerifier(t testing.TB, c *fakeClock, cfg config.JWT) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(cfg, "", Options{Now: c.Now})
	if err != nil {
		t.Fatalf("NewJWTVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}
