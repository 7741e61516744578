package rawtcp

import (
	"bufio"
	"io"
	"net"
	"testing"
)

func TestServeHandsEachConnectionOverAndClosesIt(t *testing.T) {
	addr := Serve(t, func(c net.Conn) {
		l, _ := bufio.NewReader(c).ReadString('\n')
		io.WriteString(c, "got "+l)
	})
	for _, msg := range []string{"a\n", "b\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, msg)
		b, err := io.ReadAll(c) // ends when the server closes after handle
		c.Close()
		if err != nil || string(b) != "got "+msg {
			t.Errorf("sent %q: got %q, %v", msg, b, err)
		}
	}
}
