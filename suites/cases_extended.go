package suites

// extendedCases: see the Feature constants for what they need.
var extendedCases = []Case{}
