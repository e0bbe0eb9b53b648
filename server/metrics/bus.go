package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// busMetrics are the cross-node bus's collectors (bus.Observer and
// garden.RemoteObserver). They stay at zero on a single node.
type busMetrics struct {
	up          atomic.Bool
	connected   prometheus.Gauge
	disconnects prometheus.Counter
	published   prometheus.Counter
	pubBytes    prometheus.Counter
	received    prometheus.Counter
	recvBytes   prometheus.Counter
	dropped     *prometheus.CounterVec
	rereads     *prometheus.CounterVec
	mismatches  prometheus.Counter
}

func (b *busMetrics) register(f func(prometheus.Collector)) {
	b.connected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cosmic_bus_connected", Help: "1 while the connection to NATS is up (0 also without NATS_URL)."})
	b.disconnects = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_disconnects_total", Help: "Connections to NATS lost."})
	b.published = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_messages_published_total", Help: "Garden versions announced on the bus."})
	b.pubBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_published_bytes_total", Help: "Bytes of the messages published."})
	b.received = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_messages_received_total", Help: "Bus messages received."})
	b.recvBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_received_bytes_total", Help: "Bytes of the messages received."})
	b.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_bus_messages_dropped_total", Help: "Bus messages lost on this node, by reason."}, []string{"reason"})
	b.rereads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_garden_rereads_total", Help: "Gardens read from the store because the bus did not bring their newest version, by reason."}, []string{"reason"})
	b.mismatches = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_bus_patch_mismatches_total", Help: "Bus patches whose result did not have the announced hash."})
	for _, c := range []prometheus.Collector{b.connected, b.disconnects, b.published, b.pubBytes, b.received, b.recvBytes, b.dropped, b.rereads, b.mismatches} {
		f(c)
	}
}

// bus.Observer

// BusConnected sets the connection gauge and counts a loss.
func (m *Metrics) BusConnected(up bool) {
	if m.bus.up.Swap(up) && !up {
		m.bus.disconnects.Inc()
	}
	if up {
		m.bus.connected.Set(1)
	} else {
		m.bus.connected.Set(0)
	}
}

// BusPublished counts a published message.
func (m *Metrics) BusPublished(n int) { m.bus.published.Inc(); m.bus.pubBytes.Add(float64(n)) }

// BusReceived counts a received message.
func (m *Metrics) BusReceived(n int) { m.bus.received.Inc(); m.bus.recvBytes.Add(float64(n)) }

// BusDropped counts a message lost on this node.
func (m *Metrics) BusDropped(reason string) { m.bus.dropped.WithLabelValues(reason).Inc() }

// garden.RemoteObserver

// GardenReread counts a store read that repaired what the bus missed.
func (m *Metrics) GardenReread(reason string) { m.bus.rereads.WithLabelValues(reason).Inc() }

// PatchHashMismatch counts a bus patch that failed its hash check.
func (m *Metrics) PatchHashMismatch() { m.bus.mismatches.Inc() }
