package suites

// upstreamCases: see the Feature constants for what they need.
var upstreamCases = []Case{}
