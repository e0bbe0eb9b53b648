package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Report is the result of a run, written as text to stdout and as JSON
// with --json. The keys connections_ok, connections_failed, connect_ms,
// ack_ms, broadcast_ms, msgs_per_s and server_rss_bytes are relied on by
// make load-compare and docs/performance.md.
type Report struct {
	Scenario  string         `json:"scenario"`
	Target    string         `json:"target"`
	URL       string         `json:"url"`
	StartedAt time.Time      `json:"started_at"`
	Seconds   float64        `json:"seconds"`
	Params    map[string]any `json:"params"`
	Machine   map[string]any `json:"machine"`

	ConnectionsOK      int64   `json:"connections_ok"`
	ConnectionsFailed  int64   `json:"connections_failed"`
	ConnectionsDropped int64   `json:"connections_dropped"`
	SuccessRate        float64 `json:"success_rate"`

	ConnectMS   Summary `json:"connect_ms"`
	AckMS       Summary `json:"ack_ms"`
	BroadcastMS Summary `json:"broadcast_ms"`

	MsgsPerS  InOut `json:"msgs_per_s"`
	BytesPerS InOut `json:"bytes_per_s"`
	Msgs      InOut `json:"msgs"`
	Bytes     InOut `json:"bytes"`

	ActionsSent     int64   `json:"actions_sent"`
	ActionsOK       int64   `json:"actions_ok"`
	ActionsPerS     float64 `json:"actions_per_s"`
	Rejected        int64   `json:"actions_rejected"`
	ErrorFrames     int64   `json:"error_frames"`
	RateLimited     int64   `json:"rate_limited"`
	SendDropped     int64   `json:"send_dropped"`
	WriteErrors     int64   `json:"write_errors"`
	ProtocolErrors  int64   `json:"protocol_errors"`
	BroadcastMissed int64   `json:"broadcast_missed"`
	BroadcastPerS   float64 `json:"broadcast_deliveries_per_s"`
	FirstError      string  `json:"first_error,omitempty"`

	ServerPID      int64              `json:"server_pid,omitempty"`
	ServerCPU      *CPU               `json:"server_cpu_pct,omitempty"`
	ServerRSSBytes *RSS               `json:"server_rss_bytes,omitempty"`
	RSSPerConn     float64            `json:"server_rss_per_conn_bytes,omitempty"`
	ServerGo       map[string]float64 `json:"server_go,omitempty"`
	ClientCPU      *CPU               `json:"client_cpu_pct,omitempty"`
	ClientRSSBytes *RSS               `json:"client_rss_bytes,omitempty"`
	ServerExit     string             `json:"server_exit,omitempty"`

	Reconnect *ReconnectStats `json:"reconnect,omitempty"`
	Patch     *PatchStats     `json:"patch,omitempty"`

	Notes     []string `json:"notes,omitempty"`
	Series    []point  `json:"series"`
	Histogram []Bucket `json:"histogram,omitempty"` // of broadcast_ms (else ack_ms, else connect_ms), µs
	HistOf    string   `json:"histogram_of,omitempty"`
}

// InOut is a pair of figures, toward the tool (in) and toward the server.
type InOut struct {
	In  float64 `json:"in"`
	Out float64 `json:"out"`
}

// CPU is a process's CPU use in % of one core (200 % = both cores).
type CPU struct {
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

// RSS is a process's resident set size in bytes.
type RSS struct {
	Avg      int64 `json:"avg"`
	Max      int64 `json:"max"`
	Baseline int64 `json:"baseline,omitempty"`
	End      int64 `json:"end,omitempty"` // at the end of the hold, before closing
}

// ReconnectStats are the figures of the reconnect scenario.
type ReconnectStats struct {
	Devices      int64   `json:"devices"`
	Back         int64   `json:"back"`
	Resumed      int64   `json:"resumed"`
	Resynced     int64   `json:"resynced"`
	AllBackS     float64 `json:"all_back_s"` // first drop → last device ready
	PerDeviceMS  Summary `json:"per_device_ms"`
	ServerStopS  float64 `json:"server_stop_s"`
	ServerStartS float64 `json:"server_start_s"`
}

// PatchStats are the figures of the patchsize scenario.
type PatchStats struct {
	Bodies         int     `json:"bodies"`
	FullFrameBytes int64   `json:"full_frame_bytes"`
	PatchFrameAvg  float64 `json:"patch_frame_bytes_avg"`
	Patches        int64   `json:"patches"`
	RatioPct       float64 `json:"ratio_pct"`
}

func (r *runner) report() *Report {
	cfg, st := r.cfg, r.st
	secs := time.Since(r.start).Seconds()
	win := secs
	if !r.measureFrom.IsZero() && !r.measureTo.IsZero() {
		win = r.measureTo.Sub(r.measureFrom).Seconds()
	}
	rep := &Report{
		Scenario: cfg.scenario, Target: cfg.target, URL: redact(r.url), StartedAt: r.start.UTC(), Seconds: round(secs, 2),
		Params: map[string]any{
			"count": cfg.count, "num": cfg.num, "duration_s": cfg.duration.Seconds(), "rate": cfg.rate, "ramp": cfg.ramp,
			"gardens": len(r.gardens), "devices": cfg.devices, "rich": cfg.rich, "payload": cfg.payload, "measured_s": round(win, 2),
		},
		Machine: map[string]any{"nproc": runtime.NumCPU(), "go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0)},

		ConnectionsOK: st.connOK.Load(), ConnectionsFailed: st.connFailed.Load(), ConnectionsDropped: st.dropped.Load(),
		ConnectMS: st.connect.SummaryMS(), AckMS: st.ack.SummaryMS(), BroadcastMS: st.bcast.SummaryMS(),
		Msgs:  InOut{In: float64(st.msgsIn.Load()), Out: float64(st.msgsOut.Load())},
		Bytes: InOut{In: float64(st.bytesIn.Load()), Out: float64(st.bytesOut.Load())},

		ActionsSent: st.actionsSent.Load(), ActionsOK: st.actionsOK.Load(), Rejected: st.rejected.Load(),
		ErrorFrames: st.errFrames.Load(), RateLimited: st.rateLimited.Load(), SendDropped: st.sendDropped.Load(),
		WriteErrors: st.writeErrs.Load(), ProtocolErrors: st.protoErrs.Load(), BroadcastMissed: st.bcastMissed.Load(),
		Notes: r.notes, Series: r.tick.points(),
	}
	if m, ok := memTotal(); ok {
		rep.Machine["mem_total_bytes"] = m
	}
	if p := st.firstErr.Load(); p != nil {
		rep.FirstError = *p
	}
	if total := rep.ConnectionsOK + rep.ConnectionsFailed; total > 0 {
		rep.SuccessRate = round(float64(rep.ConnectionsOK-rep.ConnectionsDropped)/float64(total), 4)
	}
	// Rates over the whole run, and over the measured window for the
	// scenarios that send.
	rep.MsgsPerS = InOut{In: round(rep.Msgs.In/secs, 1), Out: round(rep.Msgs.Out/secs, 1)}
	rep.BytesPerS = InOut{In: round(rep.Bytes.In/secs, 0), Out: round(rep.Bytes.Out/secs, 0)}
	if r.sendSeconds > 0 {
		rep.ActionsPerS = round(float64(rep.ActionsSent)/r.sendSeconds, 1)
		rep.BroadcastPerS = round(float64(rep.BroadcastMS.Count)/r.sendSeconds, 1)
		if in, out, ok := r.windowRates(); ok {
			rep.MsgsPerS = InOut{In: round(in, 1), Out: round(out, 1)}
		}
	}
	if r.sampler != nil {
		ca, cm, ra, rm, n := r.sampler.summary(r.measureFrom, r.measureTo)
		if n == 0 {
			ca, cm, ra, rm, _ = r.sampler.summary(time.Time{}, time.Time{})
		}
		rep.ServerCPU = &CPU{Avg: round(ca, 1), Max: round(cm, 1)}
		rep.ServerRSSBytes = &RSS{Avg: ra, Max: rm, Baseline: r.rssBaseline, End: r.rssHoldEnd}
		if rep.ConnectionsOK >= 100 && r.rssHoldEnd > 0 && r.rssBaseline > 0 {
			rep.RSSPerConn = round(float64(r.rssHoldEnd-r.rssBaseline)/float64(rep.ConnectionsOK), 0)
		}
		if r.srv != nil {
			rep.ServerPID = atomic.LoadInt64(&r.serverPID)
		} else {
			rep.ServerPID = int64(cfg.serverPID)
		}
	}
	if r.self != nil {
		ca, cm, ra, rm, _ := r.self.summary(time.Time{}, time.Time{})
		rep.ClientCPU = &CPU{Avg: round(ca, 1), Max: round(cm, 1)}
		rep.ClientRSSBytes = &RSS{Avg: ra, Max: rm}
	}
	rep.ServerGo = r.goMetrics
	if r.srv != nil {
		rep.ServerExit = "0"
		if r.serverExitErr != nil {
			rep.ServerExit = r.serverExitErr.Error()
		}
	}
	if cfg.scenario == "reconnect" {
		rc := &ReconnectStats{Devices: st.connOK.Load(), Back: r.back.Load(), Resumed: st.resumed.Load(), Resynced: st.resynced.Load(),
			PerDeviceMS: st.reconnect.SummaryMS(), ServerStopS: round(r.restartStop.Seconds(), 3), ServerStartS: round(r.restartStart.Seconds(), 3)}
		if fd, lb := r.firstDrop.Load(), r.lastBack.Load(); fd > 0 && lb > 0 {
			rc.AllBackS = round(float64(lb-fd)/1e9, 3)
		}
		rep.Reconnect = rc
	}
	if pt := r.patch.Load(); pt != nil {
		ps := &PatchStats{Bodies: cfg.bodies, FullFrameBytes: pt.fullBytes.Load(), Patches: pt.patchN.Load()}
		if ps.Patches > 0 {
			ps.PatchFrameAvg = round(float64(pt.patchSum.Load())/float64(ps.Patches), 1)
		}
		if ps.FullFrameBytes > 0 {
			ps.RatioPct = round(ps.PatchFrameAvg/float64(ps.FullFrameBytes)*100, 3)
		}
		rep.Patch = ps
	}
	for _, h := range []struct {
		name string
		h    *Histogram
	}{{"broadcast_ms", &st.bcast}, {"ack_ms", &st.ack}, {"reconnect_ms", &st.reconnect}, {"connect_ms", &st.connect}} {
		if h.h.Count() > 0 {
			rep.Histogram, rep.HistOf = h.h.Buckets(), h.name
			break
		}
	}
	return rep
}

// windowRates averages the per-second message rates of the measured
// window.
func (r *runner) windowRates() (in, out float64, ok bool) {
	from := r.measureFrom.Sub(r.start).Seconds()
	to := r.measureTo.Sub(r.start).Seconds()
	n := 0
	for _, p := range r.tick.points() {
		if p.T > from+0.5 && p.T <= to+0.5 {
			in += p.InPerS
			out += p.OutPerS
			n++
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return in / float64(n), out / float64(n), true
}

// WriteText prints the human-readable report.
func (rep *Report) WriteText(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	sum := func(s Summary) string {
		if s.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %.2f  p95 %.2f  p99 %.2f  max %.2f ms  (n=%d)", s.P50, s.P95, s.P99, s.Max, s.Count)
	}
	p("== loadgen %s → %s (%s), %.1f s", rep.Scenario, rep.Target, rep.URL, rep.Seconds)
	var ps []string
	for _, k := range slices.Sorted(maps.Keys(rep.Params)) {
		ps = append(ps, fmt.Sprintf("%s=%v", k, rep.Params[k]))
	}
	p("params        %s", strings.Join(ps, " "))
	p("connections   %d ok, %d failed, %d dropped — success %.2f %%", rep.ConnectionsOK, rep.ConnectionsFailed, rep.ConnectionsDropped, rep.SuccessRate*100)
	p("connect       %s", sum(rep.ConnectMS))
	if rep.AckMS.Count > 0 || rep.ActionsSent > 0 {
		p("actions       %d sent (%.0f/s), %d ok, %d rejected, %d not sent (device down or tool busy)", rep.ActionsSent, rep.ActionsPerS, rep.ActionsOK, rep.Rejected, rep.SendDropped)
		p("ack           %s", sum(rep.AckMS))
	}
	if rep.BroadcastMS.Count > 0 || rep.BroadcastMissed > 0 {
		p("broadcast     %s, %d missed, %.0f deliveries/s", sum(rep.BroadcastMS), rep.BroadcastMissed, rep.BroadcastPerS)
	}
	p("messages/s    in %.0f  out %.0f   (total in %.0f out %.0f)", rep.MsgsPerS.In, rep.MsgsPerS.Out, rep.Msgs.In, rep.Msgs.Out)
	p("bytes/s       in %s  out %s", human(rep.BytesPerS.In), human(rep.BytesPerS.Out))
	p("errors        %d Error frames (%d rate_limited), %d write, %d protocol", rep.ErrorFrames, rep.RateLimited, rep.WriteErrors, rep.ProtocolErrors)
	if rep.FirstError != "" {
		p("first error   %s", rep.FirstError)
	}
	if rep.ServerCPU != nil {
		p("server        pid %d  cpu avg %.0f %% max %.0f %%  rss avg %s max %s (baseline %s, end of hold %s)",
			rep.ServerPID, rep.ServerCPU.Avg, rep.ServerCPU.Max, human(float64(rep.ServerRSSBytes.Avg)), human(float64(rep.ServerRSSBytes.Max)),
			human(float64(rep.ServerRSSBytes.Baseline)), human(float64(rep.ServerRSSBytes.End)))
		if rep.RSSPerConn > 0 {
			p("rss/conn      %.0f bytes (%.1f KiB)", rep.RSSPerConn, rep.RSSPerConn/1024)
		}
	}
	if len(rep.ServerGo) > 0 {
		var s []string
		for _, k := range slices.Sorted(maps.Keys(rep.ServerGo)) {
			v := fmt.Sprintf("%.0f", rep.ServerGo[k])
			switch {
			case strings.HasSuffix(k, "_bytes"):
				v = human(rep.ServerGo[k])
			case strings.HasSuffix(k, "_seconds"):
				v = fmt.Sprintf("%gs", rep.ServerGo[k])
			}
			k = strings.TrimPrefix(strings.TrimPrefix(k, "go_memstats_"), "cosmic_store_")
			s = append(s, fmt.Sprintf("%s=%s", k, v))
		}
		p("server go     %s", strings.Join(s, " "))
		// Counted from the server's start to the end of the run (connects
		// and drain included), divided by the measured window: an upper
		// bound of the rate while measuring.
		if d, ok := rep.ServerGo["cosmic_garden_diffs_total"]; ok && rep.MeasuredSeconds() > 0 && rep.Gardens() > 0 {
			p("diffs         %.0f computed, %.1f/s per garden (at most)", d, d/rep.MeasuredSeconds()/float64(rep.Gardens()))
		}
	}
	if rep.ServerExit != "" && rep.ServerExit != "0" {
		p("server exit   %s", rep.ServerExit)
	}
	if rep.ClientCPU != nil {
		p("loadgen       cpu avg %.0f %% max %.0f %%  rss max %s", rep.ClientCPU.Avg, rep.ClientCPU.Max, human(float64(rep.ClientRSSBytes.Max)))
	}
	if rc := rep.Reconnect; rc != nil {
		p("reconnect     %d/%d back (%d resumed, %d resynced); all back %.3f s after the first drop; per device %s; server stop %.2f s start %.2f s",
			rc.Back, rc.Devices, rc.Resumed, rc.Resynced, rc.AllBackS, sum(rc.PerDeviceMS), rc.ServerStopS, rc.ServerStartS)
	}
	if pt := rep.Patch; pt != nil {
		p("patch         %d bodies: full state frame %d B, one-body patch frame %.0f B avg (n=%d) = %.3f %% of the full state",
			pt.Bodies, pt.FullFrameBytes, pt.PatchFrameAvg, pt.Patches, pt.RatioPct)
	}
	for _, n := range rep.Notes {
		p("note          %s", n)
	}
}

// WriteJSON writes the report to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func human(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2fGiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1fMiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1fKiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f", v)
}

// redact hides a token in a URL (protocol.md §1: tokens never in logs).
func redact(u string) string {
	if i := strings.Index(u, "token="); i >= 0 {
		j := strings.IndexByte(u[i:], '&')
		if j < 0 {
			return u[:i] + "token=REDACTED"
		}
		return u[:i] + "token=REDACTED" + u[i+j:]
	}
	return u
}

func memTotal() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	var kb int64
	if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err != nil {
		return 0, false
	}
	return kb << 10, true
}

// MeasuredSeconds is the measured window of the run, 0 if unknown.
func (r *Report) MeasuredSeconds() float64 { return paramFloat(r.Params["measured_s"]) }

// Gardens is how many gardens the run used, 0 if unknown.
func (r *Report) Gardens() int { return int(paramFloat(r.Params["gardens"])) }

// paramFloat reads a numeric parameter, as built (int, float64) or as
// read back from JSON (float64).
func paramFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}
