package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// MaxConfigBytes bounds the body of PUT /config and POST /config/validate.
const MaxConfigBytes = 4 << 20

// Handler returns the admin API; see the package documentation. Paths are
// /config and /config/validate: mount it on the admin listener (never the
// traffic port), under a prefix with http.StripPrefix if needed.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", m.getConfig)
	mux.HandleFunc("PUT /config", m.putConfig)
	mux.HandleFunc("POST /config/validate", m.validateConfig)
	return m.Authenticate(mux)
}

type actorKey struct{}

// Authenticate lets a request through when its bearer token's SHA-256
// matches one of the served config's admin.tokens, and puts the token's ID
// in the request context (Actor reads it). The token is never logged or
// echoed. The node wraps its other admin endpoints (POST /drain) with it.
func (m *Manager) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tokens []adminToken
		if c := m.cur.Load().cfg; c != nil {
			for _, t := range c.Admin.Tokens {
				if h, err := hex.DecodeString(t.SHA256); err == nil && len(h) == sha256.Size {
					tokens = append(tokens, adminToken{id: t.ID, sum: h})
				}
			}
		}
		if len(tokens) == 0 {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": "admin_api_disabled"})
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatelab-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
			return
		}
		sum := sha256.Sum256([]byte(token))
		actor := ""
		// Compare with every token, without stopping at a match.
		for _, t := range tokens {
			if subtle.ConstantTimeCompare(sum[:], t.sum) == 1 {
				actor = t.id
			}
		}
		if actor == "" {
			m.opts.Logger.Warn("admin API: rejected a bearer token (no admin token matches)", "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatelab-admin", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

// Actor is the admin token ID Authenticate found for the request ("" none).
func Actor(r *http.Request) string {
	a, _ := r.Context().Value(actorKey{}).(string)
	return a
}

type adminToken struct {
	id  string
	sum []byte
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// getConfig answers the served YAML exactly as it was submitted, secrets
// and all (the admin token's holder may change the whole config anyway):
// a client edits it and PUTs it back, and the no-op rule and the audit
// diff compare bytes, so a redacted copy would not round-trip.
func (m *Manager) getConfig(w http.ResponseWriter, r *http.Request) {
	version, raw := m.Current()
	w.Header().Set("X-Config-Version", strconv.FormatInt(version, 10))
	writeJSON(w, http.StatusOK, map[string]any{"version": version, "config": string(raw)})
}

func (m *Manager) putConfig(w http.ResponseWriter, r *http.Request) {
	arrived := m.opts.Now() // the change's PublishedAt: propagation starts here
	q := r.URL.Query().Get("expected_version")
	expected, err := strconv.ParseInt(q, 10, 64)
	if q == "" || err != nil || expected < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{
			"error":   "bad_expected_version",
			"message": "the query parameter expected_version is required: the version the change is based on (GET /config), 0 when nothing is served",
		})
		return
	}
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	// An empty body is refused by config.Parse like every empty config
	// (422, "config is empty"), and audited and counted as a refusal.
	actor, _ := r.Context().Value(actorKey{}).(string)
	if m.opts.Publish != nil {
		m.publishConfig(w, raw, expected, actor)
		return
	}
	res, err := m.Submit(raw, Submission{Source: SourceAdmin, Name: "PUT /config", Actor: actor, ExpectedVersion: &expected, PublishedAt: arrived})
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"version": res.Version, "previous": res.Previous, "result": res.Outcome})
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]any{"error": "version_conflict", "current_version": res.Previous})
	case errors.Is(err, ErrStale):
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":            "stale_version",
			"current_version":  res.Previous,
			"declared_version": res.Proposed,
			"message":          err.Error(),
		})
	default:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "invalid_config", "problems": problemsOf(err)})
	}
}

// publishConfig is PUT /config on a node whose config comes from a shared
// source (etcd): the change is validated here, then written to the source
// with compare-and-swap on expected, so every node gets it the same way; the
// answer waits (bounded) until this node serves it.
//
// Every refusal here (invalid, conflict, stale, source unavailable) is
// audited and counted like a refused Submit: the config never reaches the
// source, so no node would.
func (m *Manager) publishConfig(w http.ResponseWriter, raw []byte, expected int64, actor string) {
	sub := Submission{Source: SourceAdmin, Actor: actor, Name: "PUT /config"}
	if err := m.Validate(raw); err != nil && !errors.Is(err, ErrStale) {
		m.reject(sub, OutcomeRejected, err)
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "invalid_config", "problems": problemsOf(err)})
		return
	}
	v, err := m.opts.Publish(raw, expected, actor)
	switch {
	case errors.Is(err, ErrConflict):
		m.reject(sub, OutcomeConflict, err)
		writeJSON(w, http.StatusConflict, map[string]any{"error": "version_conflict", "current_version": v, "message": config.RedactURLsIn(err.Error())})
		return
	case errors.Is(err, ErrStale):
		m.reject(sub, OutcomeStale, err)
		writeJSON(w, http.StatusConflict, map[string]any{"error": "stale_version", "message": config.RedactURLsIn(err.Error())})
		return
	case err != nil:
		m.reject(sub, OutcomeRejected, err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "source_unavailable", "message": config.RedactURLsIn(err.Error())})
		return
	}
	deadline := time.Now().Add(publishWait)
	for {
		if cur, _ := m.Current(); cur >= v {
			writeJSON(w, http.StatusOK, map[string]any{"version": v, "previous": expected, "result": "published"})
			return
		}
		if time.Now().After(deadline) {
			writeJSON(w, http.StatusAccepted, map[string]any{"version": v, "previous": expected, "result": "published",
				"message": "published to the config source; this node does not serve it yet"})
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// publishWait bounds how long PUT /config on a shared-source node waits for
// its own node to serve the published version.
const publishWait = 5 * time.Second

func (m *Manager) validateConfig(w http.ResponseWriter, r *http.Request) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	err := m.Validate(raw)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]any{"valid": true})
	case errors.Is(err, ErrStale):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"valid": false, "error": "invalid_config",
			"problems": []problemJSON{{Path: "version", Message: err.Error()}},
		})
	default:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"valid": false, "error": "invalid_config", "problems": problemsOf(err)})
	}
}

// readBody reads at most MaxConfigBytes; it answers 413 above that.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxConfigBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "body_too_large", "limit_bytes": MaxConfigBytes})
		} else {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "bad_body", "message": err.Error()})
		}
		return nil, false
	}
	return raw, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
