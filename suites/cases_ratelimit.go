package suites

// rateLimitCases: see the Feature constants for what they need.
var rateLimitCases = []Case{}
