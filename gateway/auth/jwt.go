package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatelab/gatelab/gateway/config"
)

// Defaults and limits of the JWT verifier.
const (
	DefaultRefreshInterval = 30 * time.Minute
	DefaultClockSkew       = 30 * time.Second
	DefaultScopesClaim     = "scope"
	DefaultCacheMaxEntries = 65536

	// CacheMaxTTL caps how long a verified token is served from the cache.
	CacheMaxTTL = 5 * time.Minute
	// RefreshCooldown is the least time between two JWKS fetches triggered by
	// requests (unknown kid, or no keys yet).
	RefreshCooldown = 5 * time.Second
	// FailedRefreshRetry is the background retry delay after a failed fetch,
	// when shorter than the refresh interval.
	FailedRefreshRetry = time.Minute

	jwksFetchTimeout = 5 * time.Second
	maxJWKSBytes     = 1 << 20
	maxTokenBytes    = 16 << 10
)

// Options are the JWT verifier's dependencies. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now. Tests pass a fake clock. (The
	// background refresh ticker always runs on real time.)
	Now func() time.Time
	// HTTPClient fetches the JWKS URL; nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives refresh failures and skipped JWKS entries; nil discards.
	Logger *slog.Logger
}

// JWTVerifier verifies bearer tokens. It is safe for concurrent use. Call
// Close to stop the background JWKS refresh.
type JWTVerifier struct {
	issuers     []string
	audiences   []string
	allowedAlgs []string
	skew        time.Duration
	scopesClaim string

	parser *jwt.Parser
	now    func() time.Time
	client *http.Client
	log    *slog.Logger
	url    string

	fileKeys map[string]*verifyKey
	keys     atomic.Pointer[keySet] // nil until some key has been loaded
	cache    *tokenCache            // nil when disabled

	refreshMu   sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends
	lastAttempt time.Time

	refreshes       atomic.Uint64
	refreshFailures atomic.Uint64
	lastRefresh     atomic.Int64 // unix nanos of the last successful fetch
	lastError       atomic.Pointer[string]

	ctx       context.Context
	cancel    context.CancelFunc
	loopDone  chan struct{} // nil when there is no background loop
	closeOnce sync.Once
}

// NewJWTVerifier builds a verifier from cfg. The JWKS file (relative paths are
// joined to baseDir) must load and hold at least one usable key. The JWKS URL
// is fetched once here; when that fails the verifier is still returned, and
// Verify answers ErrKeyStoreUnavailable until some fetch succeeds. At least one
// of the two sources, one issuer and one audience are required.
func NewJWTVerifier(cfg config.JWT, baseDir string, opts Options) (*JWTVerifier, error) {
	var problems []error
	if cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		problems = append(problems, errors.New("one of jwks_file or jwks_url is required"))
	}
	if len(cfg.Issuers) == 0 || slices.Contains(cfg.Issuers, "") {
		problems = append(problems, errors.New("issuers: at least one non-empty issuer is required"))
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		problems = append(problems, errors.New("audiences: at least one non-empty audience is required"))
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = []string{AlgRS256, AlgES256, AlgEdDSA}
	}
	for _, a := range algs {
		switch {
		case a == AlgRS256 || a == AlgES256 || a == AlgEdDSA:
		case strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS"):
			problems = append(problems, fmt.Errorf("algorithms: %q is never accepted", a))
		default:
			problems = append(problems, fmt.Errorf("algorithms: %q is not supported (use %s, %s or %s)", a, AlgRS256, AlgES256, AlgEdDSA))
		}
	}
	skew := DefaultClockSkew
	if cfg.ClockSkew != nil {
		skew = *cfg.ClockSkew
		if skew < 0 {
			problems = append(problems, errors.New("clock_skew must not be negative"))
		}
	}
	interval := cfg.RefreshInterval
	if interval == 0 {
		interval = DefaultRefreshInterval
	}
	if interval < 0 {
		problems = append(problems, errors.New("refresh_interval must not be negative"))
	}
	maxEntries := cfg.Cache.MaxEntries
	if maxEntries == 0 {
		maxEntries = DefaultCacheMaxEntries
	}
	if maxEntries < 0 {
		problems = append(problems, errors.New("cache.max_entries must not be negative"))
	}
	scopesClaim := cfg.ScopesClaim
	if scopesClaim == "" {
		scopesClaim = DefaultScopesClaim
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("auth: jwt config: %w", errors.Join(problems...))
	}

	v := &JWTVerifier{
		issuers:     slices.Clone(cfg.Issuers),
		audiences:   slices.Clone(cfg.Audiences),
		allowedAlgs: slices.Clone(algs),
		skew:        skew,
		scopesClaim: scopesClaim,
		now:         opts.Now,
		client:      opts.HTTPClient,
		log:         opts.Logger,
		url:         cfg.JWKSURL,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.parser = jwt.NewParser(
		jwt.WithTimeFunc(v.now),
		jwt.WithLeeway(skew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if cfg.Cache.Enabled {
		v.cache = newTokenCache(maxEntries)
	}

	if cfg.JWKSFile != "" {
		path := cfg.JWKSFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(baseDir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: jwks_file: %w", err)
		}
		keys, skipped, err := parseJWKS(data)
		if err != nil {
			return nil, fmt.Errorf("auth: jwks_file %s: %w", path, err)
		}
		for _, s := range skipped {
			v.log.Warn("jwks: key skipped", "source", path, "reason", s)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("auth: jwks_file %s: no usable key", path)
		}
		v.fileKeys = keys
		v.keys.Store(mergeKeys(nil, keys, nil))
	}

	v.ctx, v.cancel = context.WithCancel(context.Background())
	if v.url != "" {
		v.refresh(true)
		v.loopDone = make(chan struct{})
		go v.loop(interval)
	}
	return v, nil
}

// Close stops the background refresh and waits for it to end. Verify keeps
// working with the keys held. Close is idempotent and always returns nil.
func (v *JWTVerifier) Close() error {
	v.closeOnce.Do(func() {
		v.cancel()
		if v.loopDone != nil {
			<-v.loopDone
		}
	})
	return nil
}

// VerifierStats describes the verifier's key store, for metrics and the admin
// API.
type VerifierStats struct {
	Keys             int       // keys held
	Refreshes        uint64    // successful JWKS URL fetches
	RefreshFailures  uint64    // failed ones (including "no usable key")
	LastRefresh      time.Time // time of the last successful fetch; zero if none
	LastRefreshError string    // the last failure, "" if none yet
	CacheEntries     int       // verified tokens cached
}

// Stats returns a snapshot of the verifier's counters.
func (v *JWTVerifier) Stats() VerifierStats {
	s := VerifierStats{
		Refreshes:       v.refreshes.Load(),
		RefreshFailures: v.refreshFailures.Load(),
	}
	if ks := v.keys.Load(); ks != nil {
		s.Keys = len(ks.keys)
	}
	if n := v.lastRefresh.Load(); n != 0 {
		s.LastRefresh = time.Unix(0, n)
	}
	if e := v.lastError.Load(); e != nil {
		s.LastRefreshError = *e
	}
	if v.cache != nil {
		s.CacheEntries = v.cache.len()
	}
	return s
}

// Verify checks token (the compact JWS, without "Bearer ") and returns the
// identity it carries. See the package documentation for the rules. An
// empty token is ErrMissingCredentials; with no keys loaded the answer is
// ErrKeyStoreUnavailable whatever the token; a rejected token matches
// ErrInvalidToken and is a *TokenError.
func (v *JWTVerifier) Verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrMissingCredentials
	}
	ks := v.keys.Load()
	if ks == nil {
		v.refreshOnDemand()
		if ks = v.keys.Load(); ks == nil {
			return Identity{}, ErrKeyStoreUnavailable
		}
	}
	if len(token) > maxTokenBytes {
		return Identity{}, errMalformed
	}
	if v.cache == nil {
		id, _, _, err := v.verify(token)
		return id, err
	}
	// The cache is keyed by the token's hash. The token's bytes are only read.
	h := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if id, ok := v.cache.get(&h, v.now().UnixNano(), ks.gen); ok {
		return id, nil
	}
	id, exp, gen, err := v.verify(token)
	if err != nil {
		return Identity{}, err
	}
	now := v.now()
	until := exp
	if limit := now.Add(CacheMaxTTL); limit.Before(until) {
		until = limit
	}
	if now.Before(until) {
		v.cache.put(&h, id, until.UnixNano(), gen, now.UnixNano())
	}
	return id, nil
}

// verify does the full check. It returns the identity, the token's exp and
// the generation of the key set the verifying key came from.
func (v *JWTVerifier) verify(token string) (Identity, time.Time, uint64, error) {
	var gen uint64
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if !slices.Contains(v.allowedAlgs, alg) {
			return nil, errAlgNotAllowed
		}
		if _, ok := t.Header["crit"]; ok {
			// No JWS extension is understood, so none can be critical.
			return nil, errMalformed
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errMissingKid
		}
		ks := v.keys.Load()
		k := ks.keys[kid]
		if k == nil {
			v.refreshOnDemand()
			ks = v.keys.Load()
			k = ks.keys[kid]
		}
		if k == nil {
			return nil, errUnknownKid
		}
		if k.alg != alg {
			return nil, errAlgKeyMismatch
		}
		gen = ks.gen
		return k.pub, nil
	})
	if err != nil {
		return Identity{}, time.Time{}, 0, mapJWTError(err)
	}

	iss, err := claims.GetIssuer()
	if err != nil {
		return Identity{}, time.Time{}, 0, errMalformed
	}
	if iss == "" || !slices.Contains(v.issuers, iss) {
		return Identity{}, time.Time{}, 0, errBadIssuer
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return Identity{}, time.Time{}, 0, errMalformed
	}
	if !slices.ContainsFunc(aud, func(a string) bool { return a != "" && slices.Contains(v.audiences, a) }) {
		return Identity{}, time.Time{}, 0, errBadAudience
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return Identity{}, time.Time{}, 0, errMalformed
	}
	if sub == "" {
		return Identity{}, time.Time{}, 0, errMissingSubject
	}
	if hasControl(sub) {
		return Identity{}, time.Time{}, 0, errBadSubject
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		// The parser already required exp; this is only defensive.
		return Identity{}, time.Time{}, 0, errMissingExp
	}
	scopes, ok := parseScopes(claims[v.scopesClaim])
	if !ok {
		return Identity{}, time.Time{}, 0, errBadScopes
	}
	id := Identity{
		Kind:         KindJWT,
		Subject:      sub,
		Scopes:       scopes,
		ScopesHeader: strings.Join(scopes, " "),
		ExpiresAt:    exp.Time,
	}
	return id, exp.Time, gen, nil
}

// mapJWTError turns a golang-jwt error into one of the package's shared
// token errors.
func mapJWTError(err error) error {
	var te *TokenError
	switch {
	case errors.As(err, &te): // from the key function
		return te
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return errBadSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errMissingExp
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errIssuedInFuture
	case errors.Is(err, jwt.ErrTokenUnverifiable) && !errors.Is(err, jwt.ErrTokenInvalidClaims):
		// alg missing or unknown to golang-jwt.
		return errAlgNotAllowed
	}
	return errMalformed
}

// parseScopes reads the scopes claim: absent or null (no scopes), a
// space-separated string, or an array of strings. Array elements must not be
// empty or hold white space or control characters.
func parseScopes(c any) ([]string, bool) {
	switch s := c.(type) {
	case nil:
		return nil, true
	case string:
		f := strings.Fields(s)
		for _, x := range f {
			if hasControl(x) {
				return nil, false
			}
		}
		if len(f) == 0 {
			return nil, true
		}
		return f, true
	case []any:
		if len(s) == 0 {
			return nil, true
		}
		out := make([]string, 0, len(s))
		for _, e := range s {
			x, ok := e.(string)
			if !ok || x == "" || hasControl(x) || strings.ContainsRune(x, ' ') {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	}
	return nil, false
}

// hasControl reports whether s holds an ASCII control character (which could
// split or corrupt the upstream headers the identity is copied into).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// refreshOnDemand fetches the JWKS URL for a request that found no key: it
// waits for a fetch already running, does nothing within RefreshCooldown of
// the last attempt, and fetches otherwise.
func (v *JWTVerifier) refreshOnDemand() {
	if v.url != "" {
		v.refresh(false)
	}
}

// refresh runs one fetch, single-flight: a caller arriving while a fetch runs
// waits for it instead of starting another. Unless force is set, nothing
// happens within RefreshCooldown of the previous attempt.
func (v *JWTVerifier) refresh(force bool) error {
	v.refreshMu.Lock()
	if ch := v.inflight; ch != nil {
		v.refreshMu.Unlock()
		<-ch
		return nil
	}
	now := v.now()
	if !force && !v.lastAttempt.IsZero() && !now.Before(v.lastAttempt) && now.Sub(v.lastAttempt) < RefreshCooldown {
		v.refreshMu.Unlock()
		return nil
	}
	v.lastAttempt = now
	ch := make(chan struct{})
	v.inflight = ch
	v.refreshMu.Unlock()

	err := v.fetchAndInstall()

	v.refreshMu.Lock()
	v.inflight = nil
	v.refreshMu.Unlock()
	close(ch)
	return err
}

// fetchAndInstall fetches the JWKS URL and, when it yields at least one
// usable key, installs the merged key set. On failure the keys held stay.
func (v *JWTVerifier) fetchAndInstall() error {
	keys, err := v.fetchJWKS()
	if err == nil && len(keys) == 0 {
		err = errors.New("no usable key")
	}
	if err != nil {
		// Neither the URL nor the client's error (which quotes it) may
		// carry its credentials into logs and status output.
		err = fmt.Errorf("jwks_url %s: %s", config.RedactURL(v.url), config.RedactURLsIn(err.Error()))
		v.refreshFailures.Add(1)
		msg := err.Error()
		v.lastError.Store(&msg)
		v.log.Warn("jwks: refresh failed; keeping the keys held", "error", err)
		return err
	}
	v.keys.Store(mergeKeys(v.keys.Load(), v.fileKeys, keys))
	v.refreshes.Add(1)
	v.lastRefresh.Store(v.now().UnixNano())
	return nil
}

func (v *JWTVerifier) fetchJWKS() (map[string]*verifyKey, error) {
	ctx, cancel := context.WithTimeout(v.ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("document larger than %d bytes", maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(data)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		v.log.Warn("jwks: key skipped", "source", config.RedactURL(v.url), "reason", s)
	}
	return keys, nil
}

// loop refreshes the URL keys every interval (sooner after a failure) until
// Close.
func (v *JWTVerifier) loop(interval time.Duration) {
	defer close(v.loopDone)
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
		}
		next := interval
		if err := v.refresh(true); err != nil && next > FailedRefreshRetry {
			next = FailedRefreshRetry
		}
		t.Reset(next)
	}
}
