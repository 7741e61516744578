// Package connlimit caps the open client connections of a listener, the
// server engines' shared defence against a client (or many) holding
// thousands of idle keep-alive connections.
//
// Contract: Wrap returns a listener that never has more than max accepted
// connections open. When a new connection arrives at the cap, the
// connection that has been idle longest (between requests, or not yet sent
// its first one) is closed to make room; when every open connection is busy
// with a request, the new one is answered "503 Service Unavailable" with
// Connection: close and closed. The engine reports each connection's state
// with Idle and Active (from its server's ConnState hook); a connection
// never reported is treated as idle. Safe for concurrent use; nothing is
// allocated per request.
package connlimit
