package observe

import (
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// CountTrafficConns wraps the traffic listener of a server engine so that
// gatelab_open_connections{listener="traffic"} follows its connections: one
// more for each connection Accept returns, one less when that connection
// is closed. Only the first Close of a connection counts, whoever calls it
// (the server after the last response, its idle or read timeouts, a
// shutdown, a handler that took the connection over), so the gauge goes
// back exactly to where it was once every connection is closed. Wrap the
// listener below any wrapper that closes connections itself (the
// connection cap), so the connections it refuses or evicts are counted
// out too.
//
// A returned connection passes NetConn (the wrapped one) and CloseWrite
// through, so wrappers that look underneath it keep working. Costs one
// allocation per accepted connection and nothing per request.
func (m *Metrics) CountTrafficConns(ln net.Listener) net.Listener {
	return &countedListener{Listener: ln, open: m.openConns}
}

// OpenConnections is the gatelab_open_connections{listener="traffic"}
// gauge, for tests and for engines that count connections themselves.
func (m *Metrics) OpenConnections() prometheus.Gauge { return m.openConns }

type countedListener struct {
	net.Listener
	open prometheus.Gauge
}

func (l *countedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Inc()
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open   prometheus.Gauge
	closed atomic.Bool
}

// Close closes the connection; the first call counts it out.
func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Dec()
	}
	return c.Conn.Close()
}

// NetConn is the wrapped connection.
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite half-closes the connection when the wrapped one can.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// UpstreamConnsFunc reports, when called, the connections currently open
// to each backend: report(backend, open) once per backend of the served
// config (0 when none is open). It runs at scrape time, concurrently with
// requests.
type UpstreamConnsFunc func(report func(backend string, open int))

// SetUpstreamConns makes f the source of gatelab_upstream_open_connections
// (the server engine's upstream pools); nil removes it, and the family is
// then absent from scrapes. The last call wins.
func (m *Metrics) SetUpstreamConns(f UpstreamConnsFunc) {
	if f == nil {
		m.upstreamConns.src.Store(nil)
		return
	}
	m.upstreamConns.src.Store(&f)
}

// upstreamConnsCollector is gatelab_upstream_open_connections: a gauge per
// backend read from the source at each scrape, so the pools keep no
// Prometheus state and the request path pays nothing.
type upstreamConnsCollector struct {
	desc *prometheus.Desc
	src  atomic.Pointer[UpstreamConnsFunc]
}

func (c *upstreamConnsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *upstreamConnsCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.src.Load()
	if f == nil {
		return
	}
	(*f)(func(backend string, open int) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(open), backend)
	})
}
