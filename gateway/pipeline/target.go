package pipeline

// SplitTarget splits a request-target as sent on the request line into the
// authority (absolute-form only; "" otherwise), the raw path and the raw
// query (without '?'). Engines fill Request.RawPath, Query and, for an
// absolute-form target, Host from it, so both read a target the same way:
//
//	"/a/b?x=1"               -> "", "/a/b", "x=1"
//	"http://h:8080/a?x"      -> "h:8080", "/a", "x"   (RFC 9112 3.2.2: the
//	                            authority is the host; Host is ignored)
//	"http://h"               -> "h", "/", ""
//	"http://u:p@h/a"         -> "h", "/a", ""     (userinfo dropped)
//	"*", "h:443", "a/b"      -> "", target, ""         (the path check refuses them)
//
// It does not allocate.
func SplitTarget(target string) (authority, path, query string) {
	if len(target) > 0 && target[0] != '/' {
		if i := schemeEnd(target); i > 0 {
			rest := target[i+3:]
			j := 0
			for j < len(rest) && rest[j] != '/' && rest[j] != '?' && rest[j] != '#' {
				j++
			}
			authority, target = rest[:j], rest[j:]
			for k := len(authority) - 1; k >= 0; k-- {
				if authority[k] == '@' { // userinfo is not part of the host
					authority = authority[k+1:]
					break
				}
			}
			if target == "" || target[0] != '/' {
				// "http://h" or "http://h?q": the path is "/".
				path, query = splitQuery(target)
				if path == "" {
					path = "/"
				}
				return authority, path, query
			}
		} else {
			return "", target, ""
		}
	}
	path, query = splitQuery(target)
	return authority, path, query
}

func splitQuery(s string) (path, query string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '?' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// schemeEnd returns the index of "://" after an http or https scheme, or -1.
func schemeEnd(s string) int {
	for _, scheme := range [...]string{"http", "https"} {
		if len(s) > len(scheme)+3 && asciiEqualFold(s[:len(scheme)], scheme) && s[len(scheme):len(scheme)+3] == "://" {
			return len(scheme)
		}
	}
	return -1
}
