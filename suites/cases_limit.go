package suites

// limitCases: see the Feature constants for what they need.
var limitCases = []Case{}
