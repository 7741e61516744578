package suites

// authCases: see the Feature constants for what they need.
var authCases = []Case{}
