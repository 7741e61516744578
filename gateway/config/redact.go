package config

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a secret in a URL rendered by RedactURL.
const Redacted = "xxxxx"

// RedactURL returns raw with its credentials hidden, for problems, logs and
// the audit log: a userinfo password becomes "xxxxx" (as url.URL.Redacted
// does; a user name alone is kept), and so does the value of every query or
// fragment parameter whose name looks secret (see secretParam: token, key,
// api_key, password, secret, sig, signature, access_token, auth, ...).
// Everything else is kept as written, so the result still points at the
// right place in the config. A URL that does not parse has its whole
// userinfo hidden. The empty string stays empty.
//
// Every URL the config holds (backend instance URLs, auth.jwt.jwks_url,
// limiter.redis.url) goes through RedactURL wherever it is printed; see
// RedactURLsIn for free text.
func RedactURL(raw string) string {
	if raw == "" {
		return raw
	}
	// Split off the fragment and the query; what is left is
	// [scheme:][//authority][path].
	head, frag, hasFrag := strings.Cut(raw, "#")
	head, query, hasQuery := strings.Cut(head, "?")

	var b strings.Builder
	b.Grow(len(raw) + 8)
	b.WriteString(redactUserinfo(head, raw))
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(redactParams(query))
	}
	if hasFrag {
		b.WriteByte('#')
		b.WriteString(redactParams(frag))
	}
	return b.String()
}

// redactUserinfo hides the password in the userinfo of head (a URL without
// query and fragment). The userinfo is found the way net/url finds it: the
// authority runs from "//" to the next '/', and the userinfo ends at its last
// '@'. full is the whole URL, to tell whether net/url can parse it.
func redactUserinfo(head, full string) string {
	start := strings.Index(head, "//")
	if start < 0 {
		// No authority ("user:pw@host:1" without a scheme does not parse
		// as a URL): hide whatever precedes an '@' in the first segment.
		seg, _, _ := strings.Cut(head, "/")
		if at := strings.LastIndexByte(seg, '@'); at >= 0 {
			return Redacted + head[at:]
		}
		return head
	}
	start += 2
	auth := head[start:]
	end := strings.IndexByte(auth, '/')
	if end < 0 {
		end = len(auth)
	}
	at := strings.LastIndexByte(auth[:end], '@')
	if _, err := url.Parse(full); err != nil {
		// Unparsable: a client might read the userinfo differently (an
		// unescaped '/' or '@' in a password); hide every byte before the
		// last '@' of the whole head, user name included.
		if at2 := strings.LastIndexByte(auth, '@'); at2 >= 0 {
			return head[:start] + Redacted + auth[at2:]
		}
		return head
	}
	if at < 0 {
		return head
	}
	user, _, hasPassword := strings.Cut(auth[:at], ":")
	if !hasPassword {
		return head
	}
	return head[:start] + user + ":" + Redacted + auth[at:]
}

// redactParams hides the values of secret-looking parameters in a query (or
// a fragment written as one), keeping order, separators and the other
// parameters exactly as written.
func redactParams(q string) string {
	if !strings.Contains(q, "=") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	for q != "" {
		i := strings.IndexAny(q, "&;")
		part, sep := q, ""
		if i >= 0 {
			part, sep, q = q[:i], q[i:i+1], q[i+1:]
		} else {
			q = ""
		}
		if name, value, ok := strings.Cut(part, "="); ok && value != "" && secretParam(name) {
			part = name + "=" + Redacted
		}
		b.WriteString(part)
		b.WriteString(sep)
	}
	return b.String()
}

// secretParam reports whether a query parameter name looks like it carries
// a credential. It errs on the side of hiding: a hidden harmless value costs
// nothing, a shown token leaks.
func secretParam(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	switch n {
	case "key", "sig", "pass", "pwd", "auth", "code", "jwt", "session", "sid":
		return true
	}
	for _, s := range []string{"token", "secret", "passw", "apikey", "api_key", "_key", "key_", "signature", "auth", "credential", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// urlInText finds what looks like a URL in free text: a scheme, "://", then
// everything up to white space or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// RedactURLsIn applies RedactURL to every URL found in text (a log line, an
// error message from another package). Problems from Validate are already
// redacted; this is for text the config package did not write.
func RedactURLsIn(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, RedactURL)
}
