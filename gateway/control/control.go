package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatelab/gatelab/gateway/config"
)

// Sentinel errors of Submit, Validate and Publish; test with errors.Is.
var (
	// ErrConflict: the caller's expected version is not the current one
	// (Submission.ExpectedVersion differs from the served version, or the
	// version in etcd moved on before Publish wrote). Nothing changed.
	ErrConflict = errors.New("version conflict")
	// ErrStale: the config's version is not above the served one (or, for
	// Publish, not above the expected one). Nothing changed.
	ErrStale = errors.New("stale version")
)

// Sources of a submission, recorded in the audit log and the Applied hook.
const (
	SourceFile    = "file"
	SourceAdmin   = "admin"
	SourceEtcd    = "etcd"
	SourceStartup = "startup"
)

// Target is the serving node. The Manager calls Apply with Submit's lock
// held, so calls never overlap and versions only move forward.
type Target interface {
	// Version is the version of the snapshot being served, 0 for none.
	// After a successful Apply it returns cfg.Version. It must be safe to
	// call concurrently with the node's own work.
	Version() int64
	// Apply builds a snapshot from cfg and swaps it in atomically:
	// requests in flight finish on the old snapshot. If it cannot build the
	// snapshot it returns an error and changes nothing. cfg is valid and
	// must not be modified.
	Apply(cfg *config.Config) error
}

// Options configure a Manager. Only Target is required.
type Options struct {
	Target Target
	// BaseDir is where relative paths inside configs resolve (config.Parse's
	// baseDir). Empty: the working directory.
	BaseDir string
	// StateDir, when set, receives the last-good snapshot (raw YAML and
	// version) after every apply; see LoadLastGood. Empty: no persistence.
	StateDir string
	// Audit receives one JSON line per change attempt. Nil: no audit log.
	Audit io.Writer
	// Now is the clock of audit entries. Nil: time.Now.
	Now func() time.Time
	// Applied, when set, is called after every successful apply (not after
	// a no-op), with Submit's lock held and in version order. It must not
	// call Submit.
	Applied func(ev Applied)
	// Metrics, when set, counts what the Manager decides (see Metrics).
	// *observe.Metrics implements it.
	Metrics Metrics
	// Logger receives operational messages (rejected configs, etcd outages,
	// persistence failures). Nil: slog.Default().
	Logger *slog.Logger
	// Publish, when set, makes PUT /config write the change to the shared
	// config source (etcd: control.Publish) with compare-and-swap on the
	// expected version, instead of applying it to this node alone; the node
	// then applies it from the source like every other node. It returns the
	// version written, or the stored one with an error wrapping
	// ErrConflict.
	Publish func(raw []byte, expected int64, actor string) (int64, error)
}

// Metrics receives the Manager's counts for the node's metrics.
//
//   - ConfigReloaded(false) once for every config refused before it reaches
//     Target.Apply, whatever its source: invalid (422), a version conflict
//     or a stale version (409), a bad file save, an invalid etcd value or
//     meta record, an admin PUT refused on a node that publishes to etcd.
//     The outcome of Target.Apply itself, success or failure, is the
//     Target's to count (pipeline.Gateway.Apply does). A no-op and a dry
//     run (Validate, POST /config/validate) are not reload attempts.
//   - ConfigApplied(source, propagation) once for every apply, with the
//     time from Submission.PublishedAt to the apply (negative when the
//     submission has no PublishedAt: the startup read of a file).
type Metrics interface {
	ConfigReloaded(ok bool)
	ConfigApplied(source string, propagation time.Duration)
}

// Submission says where a config comes from.
type Submission struct {
	// Source is SourceFile, SourceAdmin, SourceEtcd or SourceStartup.
	Source string
	// Actor names who made the change (an admin token's ID, the etcd
	// publisher); it is recorded in the audit log. Never a secret.
	Actor string
	// ExpectedVersion, when set, is a compare-and-swap guard: the
	// submission is refused with ErrConflict unless it equals the served
	// version.
	ExpectedVersion *int64
	// PublishedAt is when the source accepted the change: the etcd meta
	// record's published_at, the arrival of an admin PUT, the first file
	// system event of a file save (WatchFile), a SIGHUP. Zero if unknown.
	// The propagation delay is measured from it (Applied, Metrics), and
	// the audit log records it.
	PublishedAt time.Time
	// Version is the version the source assigned to a config that declares
	// none (the etcd meta version, a restored last-good version); 0 means
	// "the declared version, else served+1". A config that declares a
	// version different from a non-zero Version is rejected.
	Version int64
	// Name is the file name used in problems (the watched path, the etcd
	// key). Empty: problems carry no file name, only lines.
	Name string
}

// Outcome is what became of a submission; the audit log's "result".
type Outcome string

// The outcomes.
const (
	OutcomeApplied  Outcome = "applied"  // the new snapshot is served
	OutcomeNoop     Outcome = "noop"     // same version, same bytes: nothing to do
	OutcomeRejected Outcome = "rejected" // invalid config, or the node could not build it
	OutcomeConflict Outcome = "conflict" // ExpectedVersion is not the served version
	OutcomeStale    Outcome = "stale"    // version not above the served one
)

// Result reports a submission. It is filled on error too.
type Result struct {
	Outcome Outcome
	// Version is the version served after the call; Previous the one
	// served before. They are equal unless Outcome is OutcomeApplied.
	Version, Previous int64
	// Proposed is the version the submission would have had, 0 if it was
	// refused before its version was known (a conflict, a parse error).
	Proposed int64
}

// Applied describes a successful apply, for the Applied hook.
type Applied struct {
	Version     int64     // now served
	From        int64     // served before (0: none)
	Source      string    // Submission.Source
	Actor       string    // Submission.Actor
	PublishedAt time.Time // Submission.PublishedAt; zero if unknown
	// Propagation is the time from PublishedAt to the apply; negative when
	// PublishedAt is zero.
	Propagation time.Duration
}

// Manager decides which snapshot a node serves next. It is safe for
// concurrent use.
type Manager struct {
	opts Options

	mu  sync.Mutex // serializes Submit (and so Apply)
	cur atomic.Pointer[snapshot]
}

// snapshot is what the Manager last applied.
type snapshot struct {
	version int64
	raw     []byte         // nil when unknown
	cfg     *config.Config // nil when unknown
}

// New returns a Manager for opts.Target. It panics if Target is nil.
func New(opts Options) *Manager {
	if opts.Target == nil {
		panic("control.New: Options.Target is nil")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{opts: opts}
	m.cur.Store(&snapshot{version: opts.Target.Version()})
	return m
}

// SetPublish sets Options.Publish after New (the publisher may need the
// Manager's own lifetime); call it before serving the Handler.
func (m *Manager) SetPublish(publish func(raw []byte, expected int64, actor string) (int64, error)) {
	m.opts.Publish = publish
}

// Adopt tells the Manager what the Target already serves when it was
// started from cfg (parsed from raw, cfg.Version the version it serves)
// without a Submit: the startup config. Later submissions are checked
// against it (an identical one is a no-op), the admin API authenticates
// with its tokens, and it is saved as last-good when StateDir is set.
//
// A bootstrap config (the node's file while its real source, etcd, is
// unreachable or empty) is adopted with cfg.Version 0 and persist false: any
// version from the source replaces it, and it never becomes last-good.
func (m *Manager) Adopt(raw []byte, cfg *config.Config, source string, persist bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := &snapshot{version: cfg.Version, raw: bytes.Clone(raw), cfg: cfg}
	m.cur.Store(next)
	if persist && m.opts.StateDir != "" {
		if err := writeLastGood(m.opts.StateDir, next.version, next.raw, source, m.opts.Now()); err != nil {
			m.opts.Logger.Error("config served but not saved as last-good", "version", next.version, "error", err)
		}
	}
}

// served returns the snapshot being served, for Submit (with m.mu held):
// the one the Manager applied last or, if the node was changed behind its
// back, just the node's version.
func (m *Manager) served() *snapshot {
	s := m.cur.Load()
	if v := m.opts.Target.Version(); v != s.version {
		return &snapshot{version: v}
	}
	return s
}

// Current returns the version the Manager last applied (before the first
// apply: the Target's version at New) and its YAML as submitted (nil if
// the Manager did not apply it). It does not wait for a Submit in progress.
func (m *Manager) Current() (version int64, raw []byte) {
	s := m.cur.Load()
	return s.version, s.raw
}

// Submit validates the whole raw YAML (config.Parse: every problem at
// once) and, if it is acceptable, applies it to the Target. The rules:
//
//   - ExpectedVersion set and not the served version: ErrConflict.
//   - Invalid config: config.Problems listing every problem.
//   - The version is the declared one, else Submission.Version, else
//     served+1. Equal to the served version with identical bytes: a no-op
//     success. Otherwise not above the served version: ErrStale.
//   - Target.Apply fails: its error, wrapped.
//
// On any error the served snapshot keeps serving and nothing changes. On
// success the snapshot is persisted to StateDir as last-good, and the
// Applied hook runs. Every call (success, no-op or failure) writes one audit
// entry.
func (m *Manager) Submit(raw []byte, sub Submission) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()

	prev := m.served()
	res := Result{Version: prev.version, Previous: prev.version}
	ent := auditEntry{
		Actor:       sub.Actor,
		Source:      sub.Source,
		FromVersion: prev.version,
	}
	if !sub.PublishedAt.IsZero() {
		ent.PublishedAt = sub.PublishedAt.UTC().Format(time.RFC3339Nano)
	}

	if sub.ExpectedVersion != nil && *sub.ExpectedVersion != prev.version {
		res.Outcome = OutcomeConflict
		err := fmt.Errorf("%w: expected version %d, serving version %d", ErrConflict, *sub.ExpectedVersion, prev.version)
		m.countRefused()
		m.audit(ent, res.Outcome, err)
		return res, err
	}

	cfg, outcome, err := m.check(raw, sub.Name, sub.Version, prev)
	if cfg != nil {
		res.Proposed = cfg.Version
		ent.ToVersion = cfg.Version
		ent.Diff = diffConfigs(prev.cfg, cfg)
	}
	res.Outcome = outcome
	if err != nil || outcome == OutcomeNoop {
		if outcome == OutcomeNoop {
			ent.Diff = nil
		}
		if err != nil {
			m.countRefused()
		}
		m.audit(ent, outcome, err)
		return res, err
	}

	if err := m.opts.Target.Apply(cfg); err != nil {
		res.Outcome = OutcomeRejected
		err = redactedError{fmt.Errorf("applying version %d: %w", cfg.Version, err)}
		m.audit(ent, res.Outcome, err)
		return res, err
	}
	next := &snapshot{version: cfg.Version, raw: bytes.Clone(raw), cfg: cfg}
	m.cur.Store(next)
	res.Version = next.version
	prop := time.Duration(-1) // from the source's acceptance to serving
	if !sub.PublishedAt.IsZero() {
		prop = max(m.opts.Now().Sub(sub.PublishedAt), 0)
	}

	if m.opts.StateDir != "" {
		if err := writeLastGood(m.opts.StateDir, next.version, next.raw, sub.Source, m.opts.Now()); err != nil {
			m.opts.Logger.Error("config served but not saved as last-good", "version", next.version, "error", err)
		}
	}
	if m.opts.Metrics != nil {
		m.opts.Metrics.ConfigApplied(sub.Source, prop)
	}
	m.audit(ent, OutcomeApplied, nil)
	if m.opts.Applied != nil {
		m.opts.Applied(Applied{
			Version:     next.version,
			From:        prev.version,
			Source:      sub.Source,
			Actor:       sub.Actor,
			PublishedAt: sub.PublishedAt,
			Propagation: prop,
		})
	}
	return res, nil
}

// countRefused counts a config refused before Target.Apply (see Metrics).
// It is called before the refusal's audit entry is written, so whoever
// reads the audit log sees the count.
func (m *Manager) countRefused() {
	if m.opts.Metrics != nil {
		m.opts.Metrics.ConfigReloaded(false)
	}
}

// Validate is a dry run of Submit without ExpectedVersion: it returns
// config.Problems listing every problem, an error wrapping ErrStale if the
// config's version is not above the served one, or nil if Submit would
// accept it (as a change or as a no-op). It changes nothing and writes no
// audit entry.
func (m *Manager) Validate(raw []byte) error {
	_, _, err := m.check(raw, "", 0, m.cur.Load())
	return err
}

// check parses raw and applies the version rules against prev. It returns
// the config (with its final Version) whenever it could be parsed.
func (m *Manager) check(raw []byte, name string, assigned int64, prev *snapshot) (*config.Config, Outcome, error) {
	c, err := config.Parse(raw, name, m.opts.BaseDir)
	if err != nil {
		return nil, OutcomeRejected, err
	}
	declared := c.Version
	if declared != 0 && assigned != 0 && declared != assigned {
		return c, OutcomeRejected, config.Problems{{
			File: name,
			Path: "version",
			Msg:  fmt.Sprintf("the config declares version %d but its source assigns version %d", declared, assigned),
		}}
	}
	v := declared
	if v == 0 {
		v = assigned
	}
	if v == 0 {
		v = prev.version + 1
	}
	c.Version = v
	if v == prev.version && prev.raw != nil && bytes.Equal(raw, prev.raw) {
		return c, OutcomeNoop, nil
	}
	if v <= prev.version {
		return c, OutcomeStale, fmt.Errorf("%w: version %d is not above the served version %d", ErrStale, v, prev.version)
	}
	return c, OutcomeApplied, nil
}

// reject audits and counts a submission refused before Submit could see
// it (a malformed etcd meta record, an admin PUT refused before it was
// published to etcd).
func (m *Manager) reject(sub Submission, outcome Outcome, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.served().version
	m.countRefused()
	m.audit(auditEntry{Actor: sub.Actor, Source: sub.Source, FromVersion: v}, outcome, err)
}

// redactedError is an error from outside the config package (Target.Apply)
// whose text may quote a config URL: its message has the URLs' credentials
// hidden (config.RedactURLsIn) wherever it is printed; errors.Is and As
// still see the original.
type redactedError struct{ err error }

func (e redactedError) Error() string { return config.RedactURLsIn(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
