package pipeline

import "github.com/gatelab/gatelab/gateway/policy"

// CanonicalPath checks the raw request-target path (the bytes before '?',
// exactly as received, not percent-decoded) and returns it unchanged when it
// is already canonical; ok false means 400 Bad Request. The rule is
// policy.CanonicalPath, the one definition that route patterns are checked
// against too (policy.ParsePattern): reject, never rewrite, any path some
// component could canonicalise into a different one ("/admin/../public",
// "/%61dmin", "/a//b"), so the bytes the router matched are the bytes the
// backend receives.
//
// When ok, path == raw: the function never copies and never allocates.
func CanonicalPath(raw string) (path string, ok bool) { return policy.CanonicalPath(raw) }
