package pipeline

import "testing"

func TestDropInbound(t *testing.T) {
	drop := []string{
		"X-User-ID", "x-user-id", "X-USER-ID", "X_User_ID", "x_user_id", "X-User_Id",
		"X-User-Scopes", "x_user_scopes", "X-Partner-ID", "X_PARTNER_ID",
		"Authorization", "authorization", "X-API-Key", "x-api-key", "X_Api_Key",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
		"X-Request-ID", "traceparent", "Traceparent",
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"TE", "Trailer", "Transfer-Encoding", "Upgrade",
	}
	keep := []string{
		"X-User", "X-User-IDs", "X-User-ID2", "User-Agent", "Accept", "Idempotency-Key", "tracestate",
		"X-Forwarded", "X-Api", "Content-Type", "Content-Length", "Cookie", "X-Partner", "X-Scopes",
	}
	for _, h := range drop {
		if !DropInbound(h) {
			t.Errorf("DropInbound(%q) = false, want true", h)
		}
	}
	for _, h := range keep {
		if DropInbound(h) {
			t.Errorf("DropInbound(%q) = true, want false", h)
		}
	}
}

func TestDropOutbound(t *testing.T) {
	for _, h := range []string{"Connection", "keep-alive", "Transfer-Encoding", "Upgrade", "Trailer", "TE", "Proxy-Authenticate"} {
		if !DropOutbound(h) {
			t.Errorf("DropOutbound(%q) = false", h)
		}
	}
	for _, h := range []string{"Content-Type", "Set-Cookie", "X-User-ID", "Cache-Control", "Vary"} {
		if DropOutbound(h) {
			t.Errorf("DropOutbound(%q) = true", h)
		}
	}
}

func TestDropListed(t *testing.T) {
	cases := []struct {
		conn, name string
		want       bool
	}{
		{"X-Secret", "X-Secret", true},
		{"x-secret", "X-Secret", true},
		{"keep-alive, X-Secret", "x-secret", true},
		{"keep-alive ,\tX-Secret , close", "X-Secret", true},
		{"X-Secret-Other", "X-Secret", false},
		{"X-Sec", "X-Secret", false},
		{"", "X-Secret", false},
		{"close", "Close", true},
		{",,", "X", false},
	}
	for _, c := range cases {
		if got := DropListed(c.conn, c.name); got != c.want {
			t.Errorf("DropListed(%q, %q) = %v, want %v", c.conn, c.name, got, c.want)
		}
	}
}

func TestStripPrefix(t *testing.T) {
	cases := []struct{ path, prefix, want string }{
		{"/api/v2/users/me", "/api/v2", "/users/me"},
		{"/api/v2", "/api/v2", "/"},
		{"/api/v2/users", "", "/api/v2/users"},
		{"/other", "/api/v2", "/other"},
	}
	for _, c := range cases {
		if got := stripPrefix(c.path, c.prefix); got != c.want {
			t.Errorf("stripPrefix(%q, %q) = %q, want %q", c.path, c.prefix, got, c.want)
		}
	}
}

func TestAppendMillis(t *testing.T) {
	cases := map[int64]string{0: "0.000", 1_000: "0.001", 1_234_567: "1.234", 12_000_000_000: "12000.000", -5: "0.000"}
	for ns, want := range cases {
		if got := string(appendMillis(nil, durationNS(ns))); got != want {
			t.Errorf("appendMillis(%dns) = %q, want %q", ns, got, want)
		}
	}
}
