package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Metrics holds every collector. Create with New; safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	connsOpen      prometheus.Gauge
	connsTotal     prometheus.Counter
	connsClosed    *prometheus.CounterVec
	authRefused    *prometheus.CounterVec
	msgsIn         *prometheus.CounterVec
	msgsOut        prometheus.Counter
	bytesOut       prometheus.Counter
	sessionsOpen   prometheus.Gauge
	sessionsOpened *prometheus.CounterVec
	takeovers      prometheus.Counter
	resyncs        *prometheus.CounterVec
	coalesced      prometheus.Counter
	overflows      prometheus.Counter
	updatesSent    *prometheus.CounterVec
	updateBytes    *prometheus.CounterVec
	// The vectors' children, resolved once: StateSent runs per frame and
	// a label lookup hashes on every call.
	sentPatch, sentFull           prometheus.Counter
	sentPatchBytes, sentFullBytes prometheus.Counter
	patchBytes                    prometheus.Counter
	patchFullBytes                prometheus.Counter
	actionDur                     *prometheus.HistogramVec
	commitDur                     prometheus.Histogram
	checkpointDur                 *prometheus.HistogramVec
	commitBatch                   prometheus.Histogram
	conflicts                     prometheus.Counter
	diffs                         prometheus.Counter
	steps                         *prometheus.CounterVec
	stepVersions                  prometheus.Counter
	bus                           busMetrics // bus.go
}

// New registers the collectors, plus the Go and process collectors, on a
// new registry. gauges are read at scrape time.
func New(gauges Gauges) *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{reg: reg}
	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cosmic_ws_connections", Help: "Open WebSocket connections."})
	m.connsTotal = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_ws_connections_total", Help: "WebSocket connections accepted."})
	m.connsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_ws_closes_total", Help: "Closed connections by close code."}, []string{"code"})
	m.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_auth_refused_total", Help: "Refused authentications by contract code."}, []string{"code"})
	m.msgsIn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_ws_messages_received_total", Help: "Inbound messages by type (invalid, rate_limited for refused ones)."}, []string{"type"})
	m.msgsOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_ws_messages_sent_total", Help: "Outbound messages."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_ws_sent_bytes_total", Help: "Outbound message bytes."})
	m.sessionsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cosmic_sessions", Help: "Live sessions, attached or retained."})
	m.sessionsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_sessions_opened_total", Help: "Sessions opened, by whether they were resumed."}, []string{"resumed"})
	m.takeovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_session_takeovers_total", Help: "Sessions taken over by a newer connection (4409)."})
	m.resyncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_resyncs_total", Help: "Full-state resyncs forced by a resume, by reason."}, []string{"reason"})
	m.coalesced = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_state_updates_coalesced_total", Help: "State changes merged into a pending update."})
	m.overflows = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_sendq_overflows_total", Help: "Connections closed because their send queue was full."})
	m.updatesSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_state_updates_sent_total", Help: "State updates sent, by kind."}, []string{"kind"})
	m.updateBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_state_update_bytes_total", Help: "Bytes of state updates sent, by kind."}, []string{"kind"})
	m.sentPatch, m.sentFull = m.updatesSent.WithLabelValues("patch"), m.updatesSent.WithLabelValues("full")
	m.sentPatchBytes, m.sentFullBytes = m.updateBytes.WithLabelValues("patch"), m.updateBytes.WithLabelValues("full")
	m.patchBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_patch_bytes_total", Help: "Bytes of patches computed (once per version step)."})
	m.patchFullBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_patch_replaced_state_bytes_total", Help: "Bytes of the full states those patches replaced."})
	m.actionDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cosmic_action_duration_seconds", Help: "Action handling time including the durable commit.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"type", "outcome"})
	m.commitDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cosmic_store_commit_duration_seconds", Help: "Durable store transaction time.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	m.checkpointDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cosmic_store_checkpoint_duration_seconds",
		Help:    "WAL checkpoints by mode: passive ones run beside the writer, restart ones hold it back while they run.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"mode"})
	m.commitBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cosmic_store_commit_batch_size", Help: "Commits per store transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.conflicts = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_store_conflicts_total",
		Help: "Commits refused because another process wrote the garden first (reloaded and applied again)."})
	m.diffs = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_garden_diffs_total",
		Help: "State diffs computed (one per version step asked for and not cached; full states are not diffs)."})
	m.steps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cosmic_garden_steps_total",
		Help: "Version steps shown to a garden's devices, by when: at once (after a quiet interval) or on the garden's tick."}, []string{"when"})
	m.stepVersions = prometheus.NewCounter(prometheus.CounterOpts{Name: "cosmic_garden_step_versions_total",
		Help: "Versions covered by the steps shown; divided by cosmic_garden_steps_total, the average coalescing."})
	for _, c := range []prometheus.Collector{m.diffs, m.steps, m.stepVersions, m.conflicts, m.connsOpen, m.connsTotal, m.connsClosed, m.authRefused, m.msgsIn, m.msgsOut, m.bytesOut,
		m.sessionsOpen, m.sessionsOpened, m.takeovers, m.resyncs, m.coalesced, m.overflows, m.updatesSent, m.updateBytes,
		m.patchBytes, m.patchFullBytes, m.actionDur, m.commitDur, m.checkpointDur, m.commitBatch} {
		f(c)
	}
	m.bus.register(f)
	if gauges.GardensLoaded != nil {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cosmic_gardens_loaded", Help: "Gardens held in memory."},
			func() float64 { return float64(gauges.GardensLoaded()) }))
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Gauges are values read at scrape time; nil fields are not exported.
type Gauges struct {
	GardensLoaded func() int
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ws.Observer

// ConnOpened counts an accepted connection.
func (m *Metrics) ConnOpened() { m.connsOpen.Inc(); m.connsTotal.Inc() }

// ConnClosed counts a closed connection by code. Codes outside the
// contract's table are folded into "other" to bound cardinality.
func (m *Metrics) ConnClosed(code int) {
	m.connsOpen.Dec()
	label := "other"
	switch code {
	case protocol.CloseNormal, protocol.CloseGoingAway, 1006, protocol.ClosePolicy, protocol.CloseTooBig,
		protocol.CloseInternal, protocol.CloseTryAgainLater, protocol.CloseProtocol, protocol.CloseAuth,
		protocol.CloseHeartbeat, protocol.CloseTakenOver, protocol.CloseTooManyMessage:
		// 1006 (abnormal closure) is never sent: it is what a dropped
		// connection reads as.
		label = strconv.Itoa(code)
	}
	m.connsClosed.WithLabelValues(label).Inc()
}

// MessageIn counts an inbound message by type; unknown types are counted
// as "invalid" by the caller.
func (m *Metrics) MessageIn(typ string) { m.msgsIn.WithLabelValues(typ).Inc() }

// MessageOut counts an outbound message of n bytes.
func (m *Metrics) MessageOut(n int) { m.msgsOut.Inc(); m.bytesOut.Add(float64(n)) }

// AuthRefused counts a refused authentication.
func (m *Metrics) AuthRefused(code string) { m.authRefused.WithLabelValues(code).Inc() }

// session.Observer

// Opened counts a session attach.
func (m *Metrics) Opened(resumed bool) {
	if !resumed {
		m.sessionsOpen.Inc()
	}
	m.sessionsOpened.WithLabelValues(strconv.FormatBool(resumed)).Inc()
}

// Expired counts an expired session.
func (m *Metrics) Expired() { m.sessionsOpen.Dec() }

// TakenOver counts a 4409 takeover.
func (m *Metrics) TakenOver() { m.takeovers.Inc() }

// Resync counts a forced full state.
func (m *Metrics) Resync(reason string) { m.resyncs.WithLabelValues(reason).Inc() }

// Coalesced counts a merged state change.
func (m *Metrics) Coalesced() { m.coalesced.Inc() }

// Overflow counts a send-queue overflow.
func (m *Metrics) Overflow() { m.overflows.Inc() }

// StateSent counts a state update.
func (m *Metrics) StateSent(full bool, n int) {
	if full {
		m.sentFull.Inc()
		m.sentFullBytes.Add(float64(n))
		return
	}
	m.sentPatch.Inc()
	m.sentPatchBytes.Add(float64(n))
}

// garden.Observer (and ws.Observer for ActionDone)

// ActionDone observes an action's duration.
func (m *Metrics) ActionDone(typ, outcome string, d time.Duration) {
	m.actionDur.WithLabelValues(typ, outcome).Observe(d.Seconds())
}

// PatchBuilt records patch size against the state it replaces.
func (m *Metrics) PatchBuilt(patchBytes, stateBytes int, full bool) {
	m.diffs.Inc()
	if !full {
		m.patchBytes.Add(float64(patchBytes))
		m.patchFullBytes.Add(float64(stateBytes))
	}
}

// StepShown counts a version step shown to a garden's devices.
func (m *Metrics) StepShown(versions uint64, deferred bool) {
	when := "at_once"
	if deferred {
		when = "tick"
	}
	m.steps.WithLabelValues(when).Inc()
	m.stepVersions.Add(float64(versions))
}

// StoreConflict counts a conditional commit refused by the store.
func (m *Metrics) StoreConflict() { m.conflicts.Inc() }

// CheckpointDone observes a WAL checkpoint (store.Config.ObserveCheckpoint).
func (m *Metrics) CheckpointDone(mode string, d time.Duration) {
	m.checkpointDur.WithLabelValues(mode).Observe(d.Seconds())
}

// CommitDone observes a store transaction (store.Config.Observe).
func (m *Metrics) CommitDone(batch int, d time.Duration) {
	m.commitDur.Observe(d.Seconds())
	m.commitBatch.Observe(float64(batch))
}
