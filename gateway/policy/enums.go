package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// scalar is n's value as a string, or yaml.v3's own error for a list or a
// mapping where a word belongs (a *yaml.TypeError with the line).
func scalar(n *yaml.Node) (string, error) {
	var s string
	err := n.Decode(&s)
	return s, err
}

// invalid is the error of UnmarshalYAML for a value that is not one of the
// choices: a *yaml.TypeError, so the decoder collects it with its line and
// carries on (see the package contract).
func invalid(n *yaml.Node, what, value, want string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid %s %q: %s", n.Line, what, value, want)}}
}

// enum is the table of one enum's spellings, index = value.
type enum[T ~uint8] struct {
	what  string   // "rate-limit key" in messages
	names []string // names[v] is v's spelling; "" for a value no config writes
	want  string   // "want user_id, api_key, client_ip or global"
}

func (e enum[T]) name(v T) string {
	if int(v) < len(e.names) {
		return e.names[v]
	}
	return ""
}

func (e enum[T]) parse(s string) (T, bool) {
	if s == "" {
		return 0, false
	}
	for i, n := range e.names {
		if n == s {
			return T(i), true
		}
	}
	return 0, false
}

// unmarshal decodes n into *out; "" (and null, which yaml.v3 never hands to
// an unmarshaler) is the zero value. A value that is not one of the choices
// leaves Bad in *out (see the package contract).
func (e enum[T]) unmarshal(n *yaml.Node, out *T) error {
	s, err := scalar(n)
	if err != nil {
		*out = bad
		return err
	}
	if s == "" {
		*out = 0
		return nil
	}
	v, ok := e.parse(s)
	if !ok {
		*out = bad
		return invalid(n, e.what, s, e.want)
	}
	*out = v
	return nil
}

// bad is the value UnmarshalYAML leaves in an enum it could not decode: not
// valid, and not zero, so config.ApplyDefaults does not replace it with a
// default that other settings would then be checked against (a misspelt
// "auth: nonee" must not turn into jwt and demand JWT settings).
const bad = 0xff

// LimitKeyKind says what a rate-limit tier counts by (tier.key).
type LimitKeyKind uint8

const (
	KeyUserID   LimitKeyKind = iota + 1 // user_id: one counter per authenticated user
	KeyAPIKey                           // api_key: one counter per API key
	KeyClientIP                         // client_ip: one counter per client address
	KeyGlobal                           // global: one counter for everyone
)

var limitKeys = enum[LimitKeyKind]{
	what:  "rate-limit key",
	names: []string{"", "user_id", "api_key", "client_ip", "global"},
	want:  "want user_id, api_key, client_ip or global",
}

// String is the config spelling ("user_id"); "" for the zero value.
func (k LimitKeyKind) String() string { return limitKeys.name(k) }

// Valid reports whether k is one of the kinds.
func (k LimitKeyKind) Valid() bool { return k.String() != "" }

// ParseLimitKeyKind parses a config spelling.
func ParseLimitKeyKind(s string) (LimitKeyKind, bool) { return limitKeys.parse(s) }

// LimitKeyKinds is what tier.key accepts, for messages.
func LimitKeyKinds() string { return limitKeys.want }

// UnmarshalYAML decodes tier.key; see the package contract for errors.
func (k *LimitKeyKind) UnmarshalYAML(n *yaml.Node) error { return limitKeys.unmarshal(n, k) }

// MarshalYAML writes the config spelling.
func (k LimitKeyKind) MarshalYAML() (any, error) { return k.String(), nil }

// LimitAlgorithm selects the counting algorithm of a tier (tier.algorithm).
type LimitAlgorithm uint8

const (
	// SlidingWindow is the design chapter's sliding-window counter: the
	// previous fixed window's count weighted by how much of it still overlaps
	// the sliding window, plus the current window's count. The default.
	SlidingWindow LimitAlgorithm = iota
	// GCRA is the generic cell rate algorithm (a token bucket allowing a burst
	// of Limit requests, refilled evenly over Window).
	GCRA
)

var limitAlgorithms = enum[LimitAlgorithm]{
	what:  "rate-limit algorithm",
	names: []string{"sliding_window", "gcra"},
	want:  "want sliding_window or gcra",
}

// String is the config spelling ("sliding_window").
func (a LimitAlgorithm) String() string { return limitAlgorithms.name(a) }

// Valid reports whether a is one of the algorithms.
func (a LimitAlgorithm) Valid() bool { return a.String() != "" }

// ParseLimitAlgorithm parses a config spelling; "" is not one (the
// default is filled by config.ApplyDefaults).
func ParseLimitAlgorithm(s string) (LimitAlgorithm, bool) { return limitAlgorithms.parse(s) }

// LimitAlgorithms is what tier.algorithm accepts, for messages.
func LimitAlgorithms() string { return limitAlgorithms.want }

// UnmarshalYAML decodes tier.algorithm; see the package contract.
func (a *LimitAlgorithm) UnmarshalYAML(n *yaml.Node) error { return limitAlgorithms.unmarshal(n, a) }

// MarshalYAML writes the config spelling.
func (a LimitAlgorithm) MarshalYAML() (any, error) { return a.String(), nil }

// Priority is a route's load-shedding class (route.priority): P0 is never
// shed, P3 first. The zero value is unset (the default, P2, is filled by
// config.ApplyDefaults).
type Priority uint8

const (
	P0 Priority = iota + 1
	P1
	P2
	P3
)

var priorities = enum[Priority]{
	what:  "priority",
	names: []string{"", "P0", "P1", "P2", "P3"},
	want:  "want P0, P1, P2 or P3",
}

// String is the config spelling ("P2"); "" when unset.
func (p Priority) String() string { return priorities.name(p) }

// Valid reports whether p is set and one of P0..P3.
func (p Priority) Valid() bool { return p.String() != "" }

// Level is the class as a number: 0 for P0 .. 3 for P3. Only for a valid p.
func (p Priority) Level() int { return int(p) - 1 }

// ParsePriority parses a config spelling.
func ParsePriority(s string) (Priority, bool) { return priorities.parse(s) }

// Priorities is what route.priority accepts, for messages.
func Priorities() string { return priorities.want }

// UnmarshalYAML decodes route.priority; see the package contract.
func (p *Priority) UnmarshalYAML(n *yaml.Node) error { return priorities.unmarshal(n, p) }

// MarshalYAML writes the config spelling.
func (p Priority) MarshalYAML() (any, error) { return p.String(), nil }

// FailMode is what a route does when the rate limiter cannot decide
// (route.rate_limit_fail_mode). The zero value is unset (the default,
// FailOpen, is filled by config.ApplyDefaults).
type FailMode uint8

const (
	FailOpen   FailMode = iota + 1 // open: admit the request
	FailClosed                     // closed: reject it (503)
)

var failModes = enum[FailMode]{
	what:  "fail mode",
	names: []string{"", "open", "closed"},
	want:  "want open or closed",
}

// String is the config spelling ("open"); "" when unset.
func (f FailMode) String() string { return failModes.name(f) }

// Valid reports whether f is set and one of the modes.
func (f FailMode) Valid() bool { return f.String() != "" }

// ParseFailMode parses a config spelling.
func ParseFailMode(s string) (FailMode, bool) { return failModes.parse(s) }

// FailModes is what route.rate_limit_fail_mode accepts, for messages.
func FailModes() string { return failModes.want }

// UnmarshalYAML decodes a fail mode; see the package contract.
func (f *FailMode) UnmarshalYAML(n *yaml.Node) error { return failModes.unmarshal(n, f) }

// MarshalYAML writes the config spelling.
func (f FailMode) MarshalYAML() (any, error) { return f.String(), nil }

// Balance is how a backend picks an instance among the healthy ones
// (backend.balance). The zero value is unset (the default, RoundRobin, is
// filled by config.ApplyDefaults).
type Balance uint8

const (
	RoundRobin       Balance = iota + 1 // round_robin: weighted round robin
	LeastOutstanding                    // least_outstanding: fewest in flight relative to weight
)

var balances = enum[Balance]{
	what:  "balance",
	names: []string{"", "round_robin", "least_outstanding"},
	want:  "want round_robin or least_outstanding",
}

// String is the config spelling ("round_robin"); "" when unset.
func (b Balance) String() string { return balances.name(b) }

// Valid reports whether b is set and one of the policies.
func (b Balance) Valid() bool { return b.String() != "" }

// ParseBalance parses a config spelling.
func ParseBalance(s string) (Balance, bool) { return balances.parse(s) }

// Balances is what backend.balance accepts, for messages.
func Balances() string { return balances.want }

// UnmarshalYAML decodes backend.balance; see the package contract.
func (b *Balance) UnmarshalYAML(n *yaml.Node) error { return balances.unmarshal(n, b) }

// MarshalYAML writes the config spelling.
func (b Balance) MarshalYAML() (any, error) { return b.String(), nil }

// Auth is how a route authenticates its callers (route.auth). The zero
// value is unset (the default, AuthJWT, is filled by config.ApplyDefaults).
type Auth uint8

const (
	AuthJWT    Auth = iota + 1 // jwt: a bearer JWT is required
	AuthAPIKey                 // api_key: a partner API key is required
	AuthNone                   // none: anonymous
)

var auths = enum[Auth]{
	what:  "auth",
	names: []string{"", "jwt", "api_key", "none"},
	want:  "want jwt, api_key or none",
}

// String is the config spelling ("jwt"); "" when unset.
func (a Auth) String() string { return auths.name(a) }

// Valid reports whether a is set and one of the kinds.
func (a Auth) Valid() bool { return a.String() != "" }

// ParseAuth parses a config spelling.
func ParseAuth(s string) (Auth, bool) { return auths.parse(s) }

// Auths is what route.auth accepts, for messages.
func Auths() string { return auths.want }

// UnmarshalYAML decodes route.auth; see the package contract.
func (a *Auth) UnmarshalYAML(n *yaml.Node) error { return auths.unmarshal(n, a) }

// MarshalYAML writes the config spelling.
func (a Auth) MarshalYAML() (any, error) { return a.String(), nil }
