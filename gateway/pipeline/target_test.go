package pipeline

import "testing"

func TestSplitTarget(t *testing.T) {
	cases := []struct{ in, auth, path, query string }{
		{"/a/b?x=1", "", "/a/b", "x=1"},
		{"/a/b", "", "/a/b", ""},
		{"/?", "", "/", ""},
		{"/a?b?c", "", "/a", "b?c"},
		{"http://h:8080/a?x", "h:8080", "/a", "x"},
		{"HTTPS://h/a", "h", "/a", ""},
		{"http://h", "h", "/", ""},
		{"http://h?q=1", "h", "/", "q=1"},
		{"http://u:p@h/a", "h", "/a", ""},
		{"*", "", "*", ""},
		{"h:443", "", "h:443", ""},
		{"ftp://h/a", "", "ftp://h/a", ""},
		{"", "", "", ""},
	}
	for _, c := range cases {
		a, p, q := SplitTarget(c.in)
		if a != c.auth || p != c.path || q != c.query {
			t.Errorf("SplitTarget(%q) = %q, %q, %q; want %q, %q, %q", c.in, a, p, q, c.auth, c.path, c.query)
		}
	}
	var sink string
	if n := testing.AllocsPerRun(100, func() { _, sink, _ = SplitTarget("http://h:8080/a/b?x=1") }); n != 0 || sink != "/a/b" {
		t.Errorf("SplitTarget allocates %.0f", n)
	}
}
