// Package policy is the vocabulary of the gateway's configuration: the
// enumerated choices a config makes (HTTP methods, what a rate-limit tier
// counts by and how, a route's authentication, shedding priority and fail
// mode, a backend's balancing), the grammar of route patterns and the rule
// for canonical request paths. Each is defined once, here, and used by the
// config's decoding and validation, its defaults and the compiled snapshot,
// so the words a config accepts and what they mean cannot drift apart.
//
// # Contract
//
//   - One definition per value. Every enum has String (its config spelling,
//     "" for the zero value), a Parse function, Valid, and UnmarshalYAML /
//     MarshalYAML, so a config field of the enum's type is parsed once, when
//     the YAML is decoded.
//   - Decoding errors are collected, never fatal: UnmarshalYAML returns a
//     *yaml.TypeError whose message is "line N: invalid <what> "<value>":
//     want <choices>", so a strict decoder reports it with its line next to
//     every other problem and goes on (gateway/config turns it into a
//     Problem). An empty or null value decodes to the zero value: "use the
//     default". A bad value leaves a value that is neither valid nor zero
//     (MethodUnknown for a method; a bad name in a list keeps its place),
//     so no default replaces it and nothing is checked against a value the
//     author did not write.
//   - Zero means unset where a default exists (Auth, Priority, FailMode,
//     Balance): their zero value is not a choice, and config.ApplyDefaults
//     fills it. LimitAlgorithm's zero value is SlidingWindow, the default;
//     LimitKeyKind's and Method's zero values are invalid.
//   - The hot path never allocates here: ParseMethod, MethodSet.Has and
//     CanonicalPath compare bytes and return values.
//   - A leaf: it imports nothing from this module, so any package may use
//     it (config, pipeline, the engines). It holds no state.
//
// Route patterns (ParsePattern) follow the grammar documented on
// pipeline.RouteSpec; both gateway/config (validation, with its messages)
// and the router engines (engines/router/internal/routespec) use
// ParsePattern, so a pattern the config accepts is one every router accepts.
// The request-path rule (CanonicalPath) is the one the pipeline applies to
// every request (pipeline.CanonicalPath calls it), and ParsePattern only
// accepts a pattern whose literal part it accepts.
package policy
