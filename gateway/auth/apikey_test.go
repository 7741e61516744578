package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

func testKeys() []config.APIKey {
	return []config.APIKey{
		{ID: "acme-prod", SHA256: HashAPIKey("acme-secret"), PartnerID: "acme", Tier: "gold", Scopes: []string{"orders:read", "orders:write"}},
		{ID: "acme-old", SHA256: HashAPIKey("acme-revoked"), PartnerID: "acme", Revoked: true},
		{ID: "beta", SHA256: HashAPIKey("beta-secret"), PartnerID: "beta", ExpiresAt: t0.Add(time.Hour)},
		{ID: "upper", SHA256: strings.ToUpper(HashAPIKey("upper-secret")), PartnerID: "up"},
	}
}

func TestHashAPIKey(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 test vector.
	if got, want := HashAPIKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("HashAPIKey(abc) = %s, want %s", got, want)
	}
}

func TestKeyStoreLookup(t *testing.T) {
	clk := newClock()
	s, err := NewKeyStore(testKeys(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d", s.Len())
	}
	id, err := s.Lookup("acme-secret")
	if err != nil {
		t.Fatalf("valid key: %v", err)
	}
	want := Identity{Kind: KindAPIKey, Subject: "acme-prod", ScopesHeader: "orders:read orders:write",
		PartnerID: "acme", Tier: "gold", KeyHash: HashAPIKey("acme-secret")}
	if id.Kind != want.Kind || id.Subject != want.Subject || id.ScopesHeader != want.ScopesHeader ||
		id.PartnerID != want.PartnerID || id.Tier != want.Tier || id.KeyHash != want.KeyHash ||
		!slices.Equal(id.Scopes, []string{"orders:read", "orders:write"}) || !id.ExpiresAt.IsZero() {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	if strings.Contains(id.KeyHash, "acme-secret") || id.Kind.String() != "api_key" {
		t.Errorf("identity %+v", id)
	}
	if id, err := s.Lookup("upper-secret"); err != nil || id.KeyHash != HashAPIKey("upper-secret") {
		t.Errorf("upper-case hash in config: %+v, %v", id, err)
	}

	cases := []struct {
		raw  string
		err  error
		code string
	}{
		{"", ErrMissingCredentials, CodeMissingCredentials},
		{"nope", ErrInvalidAPIKey, CodeInvalidAPIKey},
		{"acme-secret ", ErrInvalidAPIKey, CodeInvalidAPIKey},
		{HashAPIKey("acme-secret"), ErrInvalidAPIKey, CodeInvalidAPIKey}, // the hash is not the key
		{"acme-revoked", ErrRevokedAPIKey, CodeRevokedAPIKey},
	}
	for _, c := range cases {
		id, err := s.Lookup(c.raw)
		if !errors.Is(err, c.err) || Code(err) != c.code || HTTPStatus(err) != 401 || id.Subject != "" {
			t.Errorf("Lookup(%q) = %+v, %v (code %s); want %v (%s)", c.raw, id, err, Code(err), c.err, c.code)
		}
	}

	// Expiry follows the clock: valid until ExpiresAt, rejected from then on.
	if id, err := s.Lookup("beta-secret"); err != nil || !id.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("beta before expiry: %+v, %v", id, err)
	}
	clk.Advance(time.Hour - time.Nanosecond)
	if _, err := s.Lookup("beta-secret"); err != nil {
		t.Fatalf("beta just before expiry: %v", err)
	}
	clk.Advance(time.Nanosecond)
	if _, err := s.Lookup("beta-secret"); !errors.Is(err, ErrExpiredAPIKey) || Code(err) != CodeExpiredAPIKey {
		t.Fatalf("beta at expiry: %v", err)
	}
}

func TestKeyStoreLookupDoesNotAllocate(t *testing.T) {
	s, err := NewKeyStore(testKeys(), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Repeat("k", 64) // longer than any stack buffer for conversions
	s2, err := NewKeyStore([]config.APIKey{{ID: "long", SHA256: HashAPIKey(raw)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id Identity
	if n := testing.AllocsPerRun(1000, func() { id, err = s.Lookup("acme-secret") }); n != 0 || err != nil {
		t.Errorf("Lookup allocates %v times (err %v)", n, err)
	}
	if n := testing.AllocsPerRun(1000, func() { id, err = s2.Lookup(raw) }); n != 0 || err != nil {
		t.Errorf("Lookup of a long key allocates %v times (err %v)", n, err)
	}
	if n := testing.AllocsPerRun(1000, func() { _, err = s.Lookup("unknown") }); n != 0 {
		t.Errorf("failed Lookup allocates %v times", n)
	}
	_ = id
}

func TestNewKeyStoreRejectsBadEntries(t *testing.T) {
	h := HashAPIKey("x")
	keys := []config.APIKey{
		{ID: "ok", SHA256: h},
		{ID: "nothex", SHA256: strings.Repeat("zz", 32)},
		{ID: "short", SHA256: h[:40]},
		{ID: "dup-hash", SHA256: h},
		{ID: "", SHA256: HashAPIKey("y")},
		{ID: "ok", SHA256: HashAPIKey("z")},
	}
	_, err := NewKeyStore(keys, nil)
	if err == nil {
		t.Fatal("NewKeyStore accepted bad keys")
	}
	msg := err.Error()
	for _, want := range []string{
		`#1 (id "nothex"): sha256 is not hex`,
		`#2 (id "short"): sha256 must be 64 hex digits, got 40`,
		`#3 (id "dup-hash"): same sha256 as api key #0 (id "ok")`,
		`#4 (id ""): id is required`,
		`#5 (id "ok"): id already used by api key #0`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not list %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, h) {
		t.Error("error message repeats a key hash")
	}
	if _, err := NewKeyStore(nil, nil); err != nil {
		t.Errorf("empty key list: %v", err)
	}
}

func TestNilKeyStore(t *testing.T) {
	var s *KeyStore
	if _, err := s.Lookup("x"); !errors.Is(err, ErrInvalidAPIKey) {
		t.Errorf("nil store Lookup = %v", err)
	}
	if s.Len() != 0 {
		t.Error("nil store Len != 0")
	}
}
