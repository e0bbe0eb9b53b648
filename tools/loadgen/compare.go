package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// compare prints saved reports (--json files) side by side: for each
// scenario, ours next to each peer with the ratio peer / ours (above 1:
// ours is smaller, which is better for latency, memory and CPU).
func compare(files []string, w io.Writer) error {
	if len(files) == 0 {
		return fmt.Errorf("usage: loadgen compare FILE.json…")
	}
	type key struct{ scenario, target string }
	reps := map[key]*Report{}
	var scenarios, targets []string
	seenS, seenT := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		label := scenarioLabel(&rep)
		reps[key{label, rep.Target}] = &rep
		if !seenS[label] {
			seenS[label] = true
			scenarios = append(scenarios, label)
		}
		if !seenT[rep.Target] && rep.Target != "ours" {
			seenT[rep.Target] = true
			targets = append(targets, rep.Target)
		}
	}
	type metric struct {
		name string
		get  func(*Report) float64
	}
	metrics := []metric{
		{"connections ok", func(r *Report) float64 { return float64(r.ConnectionsOK) }},
		{"connections failed", func(r *Report) float64 { return float64(r.ConnectionsFailed + r.ConnectionsDropped) }},
		{"connect p99 ms", func(r *Report) float64 { return r.ConnectMS.P99 }},
		{"ack p50 ms", func(r *Report) float64 { return r.AckMS.P50 }},
		{"ack p99 ms", func(r *Report) float64 { return r.AckMS.P99 }},
		{"broadcast p50 ms", func(r *Report) float64 { return r.BroadcastMS.P50 }},
		{"broadcast p99 ms", func(r *Report) float64 { return r.BroadcastMS.P99 }},
		{"broadcast max ms", func(r *Report) float64 { return r.BroadcastMS.Max }},
		{"broadcast missed", func(r *Report) float64 { return float64(r.BroadcastMissed) }},
		{"frames in/s (to clients)", func(r *Report) float64 { return r.MsgsPerS.In }},
		{"changes sent/s", func(r *Report) float64 { return r.ActionsPerS }},
		{"server cpu avg %", func(r *Report) float64 {
			if r.ServerCPU == nil {
				return 0
			}
			return r.ServerCPU.Avg
		}},
		{"server rss max MiB", func(r *Report) float64 {
			if r.ServerRSSBytes == nil {
				return 0
			}
			return float64(r.ServerRSSBytes.Max) / (1 << 20)
		}},
		{"server rss/conn KiB", func(r *Report) float64 { return r.RSSPerConn / 1024 }},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, s := range scenarios {
		fmt.Fprintf(tw, "%s\tours\t", s)
		for _, t := range targets {
			fmt.Fprintf(tw, "%s\t%s/ours\t", t, t)
		}
		fmt.Fprintln(tw)
		ours := reps[key{s, "ours"}]
		for _, m := range metrics {
			fmt.Fprintf(tw, "%s\t%s\t", m.name, cell(ours, m.get))
			for _, t := range targets {
				peer := reps[key{s, t}]
				ratio := "-"
				if ours != nil && peer != nil && m.get(ours) != 0 {
					ratio = fmt.Sprintf("%.2f×", m.get(peer)/m.get(ours))
				}
				fmt.Fprintf(tw, "%s\t%s\t", cell(peer, m.get), ratio)
			}
			fmt.Fprintln(tw)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func cell(r *Report, get func(*Report) float64) string {
	if r == nil {
		return "-"
	}
	v := get(r)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// scenarioLabel names a report's row group: the scenario, and for the
// one-garden scenario, which is run at several rates, the rate too.
func scenarioLabel(rep *Report) string {
	if rep.Scenario == "onegarden" {
		if rate, ok := rep.Params["rate"]; ok {
			return fmt.Sprintf("onegarden %v/s", rate)
		}
	}
	return rep.Scenario
}
