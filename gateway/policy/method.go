package policy

import (
	"errors"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Method is an HTTP method the gateway knows, as a small integer so routers can
// keep per-route method sets in a bit mask and lookups never compare strings.
type Method uint8

// Known methods. MethodUnknown is anything else (CONNECT, TRACE, extensions):
// no route ever allows it.
const (
	MethodUnknown Method = iota
	MethodGet
	MethodHead
	MethodPost
	MethodPut
	MethodPatch
	MethodDelete
	MethodOptions
	methodCount
)

// methodNames is the one list of the methods a config may name, in the
// order they are listed (Allow headers, messages).
var methodNames = [methodCount]string{"", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// KnownMethods lists the methods a config may name, for messages:
// "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".
var KnownMethods = strings.Join(methodNames[1:], ", ")

// String returns the canonical upper-case name ("" for MethodUnknown and
// anything out of range).
func (m Method) String() string {
	if m >= methodCount {
		return ""
	}
	return methodNames[m]
}

// Valid reports whether m is a known method (not MethodUnknown).
func (m Method) Valid() bool { return m > MethodUnknown && m < methodCount }

// ParseMethod maps a request method to a Method without allocating. Methods are
// case-sensitive (RFC 9110): "get" is MethodUnknown.
func ParseMethod(s string) Method {
	switch s {
	case "GET":
		return MethodGet
	case "HEAD":
		return MethodHead
	case "POST":
		return MethodPost
	case "PUT":
		return MethodPut
	case "PATCH":
		return MethodPatch
	case "DELETE":
		return MethodDelete
	case "OPTIONS":
		return MethodOptions
	}
	return MethodUnknown
}

// MethodProblem says what is wrong with s as a method in a config, "" if
// it is a known one.
func MethodProblem(s string) string {
	if ParseMethod(s).Valid() {
		return ""
	}
	if up := strings.ToUpper(s); ParseMethod(up).Valid() {
		return "methods are case-sensitive: want " + up
	}
	return "want one of " + KnownMethods
}

// UnmarshalYAML decodes a method name; see the package contract for errors.
// A bad name leaves MethodUnknown.
func (m *Method) UnmarshalYAML(n *yaml.Node) error {
	*m = MethodUnknown
	s, err := scalar(n)
	if err != nil {
		return err
	}
	if msg := MethodProblem(s); msg != "" {
		return invalid(n, "method", s, msg)
	}
	*m = ParseMethod(s)
	return nil
}

// MarshalYAML writes the method's name.
func (m Method) MarshalYAML() (any, error) { return m.String(), nil }

// MethodSet is a bit set of Methods. The zero value is the empty set.
type MethodSet uint16

// AllMethods is the set a route with no `methods:` list allows.
const AllMethods MethodSet = (1<<methodCount - 1) &^ 1

// Has reports whether m is in the set.
func (s MethodSet) Has(m Method) bool { return m != MethodUnknown && s&(1<<m) != 0 }

// With returns the set plus m; an unknown method adds nothing.
func (s MethodSet) With(m Method) MethodSet {
	if !m.Valid() {
		return s
	}
	return s | 1<<m
}

// Allow renders the set as an `Allow` header value ("GET, HEAD, POST").
func (s MethodSet) Allow() string {
	b := make([]byte, 0, 48)
	for m := MethodGet; m < methodCount; m++ {
		if s.Has(m) {
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = append(b, m.String()...)
		}
	}
	return string(b)
}

// Methods is a list of methods as a config writes it ([GET, POST]).
type Methods []Method

// UnmarshalYAML decodes a list of method names. Unlike yaml.v3's own
// decoding of a list, a bad name keeps its place (as MethodUnknown) rather
// than vanishing, so "[fetch]" is not read as the empty list (every
// method); every bad name is reported, as one *yaml.TypeError.
func (ms *Methods) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		var list []Method // yaml.v3's own error for a scalar or a mapping
		return n.Decode(&list)
	}
	out := make(Methods, len(n.Content))
	var errs []string
	for i, c := range n.Content {
		err := out[i].UnmarshalYAML(c)
		var te *yaml.TypeError
		switch {
		case err == nil:
		case errors.As(err, &te):
			errs = append(errs, te.Errors...)
		default:
			return err
		}
	}
	*ms = out
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// Set returns the methods as a set (duplicates count once).
func (ms Methods) Set() MethodSet {
	var s MethodSet
	for _, m := range ms {
		s = s.With(m)
	}
	return s
}

// String renders the list as written, comma-separated ("GET, POST").
func (ms Methods) String() string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.String()
	}
	return strings.Join(names, ", ")
}
