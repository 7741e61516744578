package targets

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/suites"
)

// ExternalOptions describe a gateway gatelab conform does not start: the
// user's, configured by the user from the fixture's routes, in front of
// the echo upstreams conform starts at the capabilities file's addresses.
type ExternalOptions struct {
	// URL is its traffic base URL ("http://127.0.0.1:8080").
	URL string
	// Admin is its admin base URL; used only when the implementation is
	// gatelab, to replace its config for the config reload cases.
	Admin        string
	Capabilities *suites.Capabilities
	// Root is the repository root and Fixture the running echo upstreams:
	// both needed only for a gatelab with Admin (the config conform
	// submits is rendered from fixtures/gateway.yaml and the fixture's
	// addresses).
	Root    string
	Fixture *Fixture
}

// External is a user's gateway as a Target: its URL and the features its
// capabilities file declares.
type External struct {
	url   string
	caps  *suites.Capabilities
	admin *Gatelab // a handle on a gatelab's admin API; nil otherwise
}

// NewExternal checks the URLs and returns the target. It starts nothing.
func NewExternal(o ExternalOptions) (*External, error) {
	if o.Capabilities == nil {
		return nil, fmt.Errorf("the external target needs a capabilities file")
	}
	u, err := BaseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("target URL: %w", err)
	}
	e := &External{url: u, caps: o.Capabilities}
	if o.Admin == "" || o.Capabilities.Implementation.Name != "gatelab" {
		return e, nil
	}
	admin, err := BaseURL(o.Admin)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err)
	}
	if o.Fixture == nil {
		return nil, fmt.Errorf("the admin API of an external gatelab needs the running fixture")
	}
	fx, err := config.Load(filepath.Join(o.Root, "fixtures", "gateway.yaml"))
	if err != nil {
		return nil, fmt.Errorf("fixtures/gateway.yaml: %w", err)
	}
	// The reference target's Reconfigure, pointed at this admin API: the
	// same rendering of the fixture, the same compare-and-swap and wait
	// for the new version.
	m := o.Capabilities.Implementation.Mode
	e.admin = &Gatelab{o: GatelabOptions{Root: o.Root, Fixture: o.Fixture,
		Server: orDefault(m["server"], "external"), Router: orDefault(m["router"], "external"), Limiter: orDefault(m["limiter"], "external")},
		fx: fx, admin: admin}
	return e, nil
}

// BaseURL checks an http(s) base URL and returns it without a trailing
// slash (cases append paths beginning with '/').
func BaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("%q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: no query, fragment or user info", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Name is the implementation name of the capabilities file.
func (e *External) Name() string { return e.caps.Implementation.Name }

// Implementation is the capabilities file's.
func (e *External) Implementation() suites.Implementation { return e.caps.Implementation }

// URL is the traffic base URL.
func (e *External) URL() string { return e.url }

// Features are the capabilities file's.
func (e *External) Features() []suites.Feature { return slices.Clone(e.caps.Features) }

// Reconfigure submits the fixture's config plus extra through a gatelab's
// admin API and waits for it to be served; any other target answers
// suites.ErrUnsupported.
func (e *External) Reconfigure(ctx context.Context, extra []suites.Route) error {
	if e.admin == nil {
		return suites.ErrUnsupported
	}
	return e.admin.Reconfigure(ctx, extra)
}
