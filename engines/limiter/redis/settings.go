package redis

import (
	"fmt"
	"net/url"

	"github.com/gatelab/gatelab/gateway/config"
)

// Settings are the redis engine's settings: its config section,
// limiter.redis (see engines.RegisterLimiter). The -redis flag of gatelab
// serve overrides URL.
type Settings struct {
	// URL is any go-redis URL: redis://[user:pass@]host:port/db, rediss://
	// for TLS, unix:///path, or a cluster / sentinel form with several addrs
	// (redis://host1:6379?addr=host2:6379&addr=host3:6379). Required.
	URL string `yaml:"url"`
	// PoolSize bounds connections (and so concurrent decisions) per node;
	// a decision that cannot get a connection in time is "no decision".
	// 0: DefaultPoolSize().
	PoolSize int `yaml:"pool_size"`
	// OverLimitCache keeps keys known to be over their limit in memory until
	// their retry time, answering 429 without a round trip.
	OverLimitCache bool `yaml:"over_limit_cache"`
}

// Validate checks the settings (config.SectionValidator). A URL it quotes is
// redacted.
func (s *Settings) Validate() []config.SectionError {
	var errs []config.SectionError
	if s.URL == "" {
		errs = append(errs, config.SectionError{Path: "url", Msg: "is required with engines.limiter redis (or pass -redis URL)"})
	} else if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
		errs = append(errs, config.SectionError{Path: "url",
			Msg: fmt.Sprintf("%q: want redis://host:port[/db], rediss://... or unix://...", config.RedactURL(s.URL))})
	}
	if s.PoolSize < 0 {
		errs = append(errs, config.SectionError{Path: "pool_size", Msg: "must not be negative"})
	}
	return errs
}
