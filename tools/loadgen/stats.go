package main

import (
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// stats holds the run's counters and histograms. Every field is safe for
// concurrent use.
type stats struct {
	connOK, connFailed, connOpen, dropped atomic.Int64
	msgsIn, msgsOut, bytesIn, bytesOut    atomic.Int64
	actionsSent, actionsOK, rejected      atomic.Int64
	errFrames, rateLimited, sendDropped   atomic.Int64
	writeErrs, bcastMissed, protoErrs     atomic.Int64
	resumed, resynced                     atomic.Int64

	connect, ack, bcast, reconnect Histogram

	// Per-second windows for the time series; swapped by the ticker.
	ackWin, bcastWin, connWin atomic.Pointer[Histogram]

	firstErr atomic.Pointer[string]
}

func newStats() *stats {
	s := &stats{}
	s.ackWin.Store(new(Histogram))
	s.bcastWin.Store(new(Histogram))
	s.connWin.Store(new(Histogram))
	return s
}

// recordAck records an action → own result latency in microseconds.
func (s *stats) recordAck(us int64) {
	s.ack.Record(us)
	s.ackWin.Load().Record(us)
}

// recordBcast records an action → other device latency in microseconds.
func (s *stats) recordBcast(us int64) {
	s.bcast.Record(us)
	s.bcastWin.Load().Record(us)
}

// recordConnect records a dial → ready time in microseconds.
func (s *stats) recordConnect(us int64) {
	s.connect.Record(us)
	s.connWin.Load().Record(us)
}

// noteErr keeps the first error message for the report.
func (s *stats) noteErr(format string, args ...any) {
	if s.firstErr.Load() == nil {
		msg := fmt.Sprintf(format, args...)
		s.firstErr.CompareAndSwap(nil, &msg)
	}
}

// point is one second of the run, for the HTML plots and the JSON.
type point struct {
	T         float64 `json:"t"`
	Open      int64   `json:"open"`
	InPerS    float64 `json:"in_per_s"`
	OutPerS   float64 `json:"out_per_s"`
	AckP50    float64 `json:"ack_p50_ms"`
	AckP99    float64 `json:"ack_p99_ms"`
	BcastP50  float64 `json:"bcast_p50_ms"`
	BcastP99  float64 `json:"bcast_p99_ms"`
	ConnP50   float64 `json:"connect_p50_ms"`
	ConnP99   float64 `json:"connect_p99_ms"`
	ServerCPU float64 `json:"server_cpu_pct"`
	ServerRSS int64   `json:"server_rss_bytes"`
}

// ticker prints the progress line and records the series once a second.
type ticker struct {
	st      *stats
	sampler *sampler
	start   time.Time
	w       io.Writer
	tty     bool
	quiet   bool

	mu     sync.Mutex
	series []point
	phase  string

	lastIn, lastOut int64
	lastT           time.Time
}

func (t *ticker) setPhase(p string) {
	t.mu.Lock()
	t.phase = p
	t.mu.Unlock()
}

// run ticks until stop is closed.
func (t *ticker) run(stop <-chan struct{}) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	t.lastT = time.Now()
	for {
		select {
		case <-stop:
			if t.tty && !t.quiet {
				fmt.Fprintln(t.w)
			}
			return
		case now := <-tk.C:
			t.tick(now)
		}
	}
}

func (t *ticker) tick(now time.Time) {
	st := t.st
	dt := now.Sub(t.lastT).Seconds()
	t.lastT = now
	in, out := st.msgsIn.Load(), st.msgsOut.Load()
	p := point{
		T:    math.Round(now.Sub(t.start).Seconds()*10) / 10,
		Open: st.connOpen.Load(), InPerS: float64(in-t.lastIn) / dt, OutPerS: float64(out-t.lastOut) / dt,
	}
	t.lastIn, t.lastOut = in, out
	ack := st.ackWin.Swap(new(Histogram))
	bc := st.bcastWin.Swap(new(Histogram))
	if cw := st.connWin.Swap(new(Histogram)); cw.Count() > 0 {
		s := cw.SummaryMS()
		p.ConnP50, p.ConnP99 = s.P50, s.P99
	}
	if ack.Count() > 0 {
		s := ack.SummaryMS()
		p.AckP50, p.AckP99 = s.P50, s.P99
	}
	if bc.Count() > 0 {
		s := bc.SummaryMS()
		p.BcastP50, p.BcastP99 = s.P50, s.P99
	}
	if t.sampler != nil {
		if s, ok := t.sampler.last(); ok {
			p.ServerCPU, p.ServerRSS = s.cpu, s.rss
		}
	}
	t.mu.Lock()
	t.series = append(t.series, p)
	phase := t.phase
	t.mu.Unlock()
	if t.quiet {
		return
	}
	errs := st.connFailed.Load() + st.dropped.Load() + st.errFrames.Load() + st.rejected.Load() + st.writeErrs.Load() + st.protoErrs.Load()
	line := fmt.Sprintf("[%5.0fs %-9s] conns %d ok %d fail %d open | msgs/s in %.0f out %.0f | errors %d",
		p.T, phase, st.connOK.Load(), st.connFailed.Load(), p.Open, p.InPerS, p.OutPerS, errs)
	if p.AckP99 > 0 {
		line += fmt.Sprintf(" | ack p99 %.1fms", p.AckP99)
	}
	if p.BcastP99 > 0 {
		line += fmt.Sprintf(" | bcast p50 %.1fms p99 %.1fms", p.BcastP50, p.BcastP99)
	}
	if p.ServerRSS > 0 {
		line += fmt.Sprintf(" | server cpu %.0f%% rss %.0f MiB", p.ServerCPU, float64(p.ServerRSS)/(1<<20))
	}
	if t.tty {
		fmt.Fprintf(t.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(t.w, line)
	}
}

func (t *ticker) points() []point {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]point(nil), t.series...)
}
