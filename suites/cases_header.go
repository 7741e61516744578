package suites

// headerCases: see the Feature constants for what they need.
var headerCases = []Case{}
