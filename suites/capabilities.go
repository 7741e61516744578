package suites

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/internal/yamlpos"
	"go.yaml.in/yaml/v3"
)

// Capabilities is what a capabilities file says about a third-party
// gateway: what it is, which features it supports, and where it expects
// the fixture's backends (gatelab conform starts the echo upstreams
// there). An example:
//
//	implementation:
//	  name: my-gateway
//	  version: 2.3.1
//	  mode: {workers: "4"}
//	features: [routing.prefix, routing.exact, headers.forwarded]
//	upstreams:
//	  alpha: 127.0.0.1:18081
//	  beta: 127.0.0.1:18082
//	  gamma: 127.0.0.1:18083
//	  dead: 127.0.0.1:18084
type Capabilities struct {
	Implementation Implementation `yaml:"implementation"`
	Features       []Feature      `yaml:"features"`
	// Upstreams maps each fixture backend (alpha, beta, gamma; dead
	// optional) to the host:port the gateway sends its requests to.
	Upstreams map[string]string `yaml:"upstreams"`
	// File is the file it was read from.
	File string `yaml:"-"`
}

// KnownFeatures lists every feature a target may declare, in the order of
// the constants.
var KnownFeatures = []Feature{
	RoutingPrefix, RoutingExact, RoutingMethods, RoutingCanonical,
	AuthJWT, AuthAPIKey, AuthScopes,
	HeadersIdentity, HeadersHopByHop, HeadersForwarded, HeadersRequestID, HeadersTrace,
	RateLimit, RateLimitIP,
	UpstreamErrors, UpstreamBreaker,
	LimitsBody, LimitsHeaders, LimitsSlowHeader,
	FailMode, ConfigReload, CORS, Shedding,
}

// Problem and Problems are the gateway config's problem types, so a
// capabilities file's problems print like a config file's
// ("file:line: path: message").
type (
	Problem  = config.Problem
	Problems = config.Problems
)

// LoadCapabilities reads and parses a capabilities file.
func LoadCapabilities(path string) (*Capabilities, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the capabilities file: %w", err)
	}
	return ParseCapabilities(b, path)
}

// ParseCapabilities decodes a capabilities file strictly and validates it.
// The error is Problems listing every problem (unknown keys, unknown
// features, missing or bad upstream addresses) with its line.
func ParseCapabilities(data []byte, file string) (*Capabilities, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{File: file, Line: yamlpos.Line(err), Msg: "invalid YAML: " + yamlpos.Message(err)}}
	}
	v := capValidator{file: file, lines: map[string]int{}}
	if len(root.Content) > 0 {
		yamlpos.Index(root.Content[0], "", v.lines)
	}
	c := &Capabilities{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// Type errors (unknown keys among them) leave the rest decoded:
		// report them with the validation's problems.
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, Problems{{File: file, Line: yamlpos.Line(err), Msg: yamlpos.Message(err)}}
		}
		for _, e := range te.Errors {
			v.probs = append(v.probs, Problem{File: file, Line: yamlpos.Line(errors.New(e)), Msg: yamlpos.Message(errors.New(e))})
		}
	}
	v.check(c)
	if len(v.probs) > 0 {
		sort.SliceStable(v.probs, func(i, j int) bool { return v.probs[i].Line < v.probs[j].Line })
		return nil, v.probs
	}
	return c, nil
}

// capValidator collects a capabilities file's problems with their lines.
type capValidator struct {
	file  string
	lines map[string]int // "upstreams.alpha", "features[2]" -> line
	probs Problems
}

// add records a problem at path, on the line of path or of its nearest
// written ancestor.
func (v *capValidator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{File: v.file, Line: yamlpos.LineOf(v.lines, path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// targetNameRE is what an implementation name may be: it names the
// target's report file.
var targetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (v *capValidator) check(c *Capabilities) {
	switch n := c.Implementation.Name; {
	case n == "":
		v.add("implementation.name", "missing (the report and its file are named after it)")
	case !targetNameRE.MatchString(n):
		v.add("implementation.name", "%q: only letters, digits, '-', '_' and '.' are allowed, starting with a letter or digit", n)
	}
	if c.Implementation.Version == "" {
		v.add("implementation.version", "missing (the report states it)")
	}
	if len(c.Features) == 0 {
		v.add("features", "none declared: every case would be skipped")
	}
	seen := map[Feature]int{}
	for i, f := range c.Features {
		at := fmt.Sprintf("features[%d]", i)
		if !has(KnownFeatures, f) {
			v.add(at, "unknown feature %q (known: %s)", f, joinFeatures(KnownFeatures))
			continue
		}
		if j, dup := seen[f]; dup {
			v.add(at, "%s is also features[%d]", f, j)
		}
		seen[f] = i
	}
	known := append(slices.Clone(EchoBackends), RefusedBackends...)
	for _, b := range EchoBackends {
		if _, ok := c.Upstreams[b]; !ok {
			v.add("upstreams", "no address for backend %s (the echo upstream conform starts for it)", b)
		}
	}
	names := make([]string, 0, len(c.Upstreams))
	for n := range c.Upstreams {
		names = append(names, n)
	}
	sort.Strings(names)
	addrs := map[string]string{}
	for _, n := range names {
		at := "upstreams." + n
		a := c.Upstreams[n]
		if !slices.Contains(known, n) {
			v.add(at, "unknown backend %q (known: %s)", n, strings.Join(known, ", "))
			continue
		}
		if why := checkListenAddr(a); why != "" {
			v.add(at, "%q: %s", a, why)
			continue
		}
		if other, dup := addrs[a]; dup {
			v.add(at, "%s is also backend %s's address", a, other)
		}
		addrs[a] = n
	}
}

// checkListenAddr checks an address conform can listen on: an IP literal
// or "localhost", and a port 1..65535.
func checkListenAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "not host:port"
	}
	if host != "localhost" && net.ParseIP(host) == nil {
		return "the host must be an IP address or localhost (conform listens there)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "the port must be 1..65535"
	}
	return ""
}
