package upstream

import (
	"io"
	"net/http"
	"strconv"
)

// DefaultStaticBody is the static mode's body unless Options.BodyBytes is set:
// what nginx's `return 200 '{"ok":true}'` answers, for like-for-like runs.
const DefaultStaticBody = `{"ok":true}`

// staticAnswer is the static mode's response, built once. Its header values
// are shared, read-only slices put straight into each response's header map:
// no canonicalisation, no per-request slice.
type staticAnswer struct {
	body          []byte
	contentType   []string
	contentLength []string
}

var connectionClose = []string{"close"}

func newStaticAnswer(bodyBytes int) *staticAnswer {
	a := &staticAnswer{body: []byte(DefaultStaticBody), contentType: []string{"application/json"}}
	if bodyBytes > 0 {
		a.body = Payload(bodyBytes)
		a.contentType = []string{"application/octet-stream"}
	}
	a.contentLength = []string{strconv.Itoa(len(a.body))}
	return a
}

// serveStatic answers with the static body. Beyond net/http's own work it
// allocates nothing unless the behaviour has a delay (one timer).
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, b *behavior) {
	// Drain the body so the connection stays reusable; a broken body will
	// break the connection too, which net/http handles.
	if r.Body != nil && r.Body != http.NoBody {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	status, closeConn, ok := s.admit(w, r, b, http.StatusOK, 0)
	if !ok {
		return
	}
	a := s.static
	h := w.Header()
	h["Content-Type"] = a.contentType
	h["Content-Length"] = a.contentLength
	if closeConn {
		h["Connection"] = connectionClose
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}
