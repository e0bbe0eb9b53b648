package main

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
)

// WriteHTML writes a self-contained page: the figures, and inline SVG
// plots of latency over time, the latency histogram, connections and
// message rates, and the server's CPU and RSS. No script, no CDN.
func (rep *Report) WriteHTML(path string) error {
	var text strings.Builder
	rep.WriteText(&text)
	js, _ := json.MarshalIndent(rep, "", "  ")
	var plots []template.HTML
	t := func(p point) float64 { return p.T }
	lat := []series{
		{"ack p50", "#1f77b4", func(p point) float64 { return p.AckP50 }},
		{"ack p99", "#aec7e8", func(p point) float64 { return p.AckP99 }},
		{"broadcast p50", "#d62728", func(p point) float64 { return p.BcastP50 }},
		{"broadcast p99", "#ff9896", func(p point) float64 { return p.BcastP99 }},
		{"connect p50", "#2ca02c", func(p point) float64 { return p.ConnP50 }},
		{"connect p99", "#98df8a", func(p point) float64 { return p.ConnP99 }},
	}
	plots = append(plots, lineChart("Latency over time (per second, ms)", rep.Series, t, lat))
	if len(rep.Histogram) > 0 {
		plots = append(plots, histChart("Histogram of "+rep.HistOf+" (log-spaced buckets)", rep.Histogram))
	}
	plots = append(plots, lineChart("Open connections", rep.Series, t, []series{
		{"open", "#2ca02c", func(p point) float64 { return float64(p.Open) }}}))
	plots = append(plots, lineChart("Messages per second", rep.Series, t, []series{
		{"in (to clients)", "#9467bd", func(p point) float64 { return p.InPerS }},
		{"out (to server)", "#8c564b", func(p point) float64 { return p.OutPerS }}}))
	plots = append(plots, lineChart("Server CPU (% of one core)", rep.Series, t, []series{
		{"cpu", "#e377c2", func(p point) float64 { return p.ServerCPU }}}))
	plots = append(plots, lineChart("Server RSS (MiB)", rep.Series, t, []series{
		{"rss", "#7f7f7f", func(p point) float64 { return float64(p.ServerRSS) / (1 << 20) }}}))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pageTmpl.Execute(f, map[string]any{
		"Title": fmt.Sprintf("loadgen %s → %s", rep.Scenario, rep.Target), "Text": text.String(), "Plots": plots, "JSON": string(js),
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}
svg{background:#fff;border:1px solid #ddd;margin:.5em 0}
h1{font-size:1.3em}
details{margin-top:1em}
</style></head><body>
<h1>{{.Title}}</h1>
<pre>{{.Text}}</pre>
{{range .Plots}}{{.}}
{{end}}
<details><summary>Report JSON</summary><pre>{{.JSON}}</pre></details>
</body></html>
`))

type series struct {
	name  string
	color string
	get   func(point) float64
}

const (
	plotW, plotH = 1000, 260
	padL, padR   = 60, 20
	padT, padB   = 30, 40
)

// lineChart draws series against time.
func lineChart(title string, pts []point, x func(point) float64, ss []series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`, padL, template.HTMLEscapeString(title))
	xmax, ymax := 1.0, 0.0
	for _, p := range pts {
		xmax = math.Max(xmax, x(p))
		for _, s := range ss {
			ymax = math.Max(ymax, s.get(p))
		}
	}
	if ymax <= 0 {
		ymax = 1
	}
	ymax = niceCeil(ymax)
	axes(&b, xmax, ymax, "s")
	for i, s := range ss {
		var poly []string
		for _, p := range pts {
			v := s.get(p)
			if v == 0 && strings.Contains(s.name, "p") && strings.Contains(title, "Latency") {
				continue // no sample that second
			}
			poly = append(poly, fmt.Sprintf("%.1f,%.1f", sx(x(p), xmax), sy(v, ymax)))
		}
		if len(poly) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.color, strings.Join(poly, " "))
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			plotW-padR-160, padT+4+i*15, s.color, plotW-padR-145, padT+13+i*15, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// histChart draws bucket counts (µs buckets, shown in ms) on a log x axis.
func histChart(title string, bs []Bucket) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`, plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14">%s</text>`, padL, template.HTMLEscapeString(title))
	lo := math.Log10(math.Max(1, float64(bs[0].Lo)))
	hi := math.Log10(float64(bs[len(bs)-1].Hi + 1))
	if hi <= lo {
		hi = lo + 1
	}
	var cmax uint64
	for _, x := range bs {
		cmax = max(cmax, x.Count)
	}
	w := float64(plotW - padL - padR)
	h := float64(plotH - padT - padB)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, padL, plotH-padB, plotW-padR, plotH-padB)
	for _, x := range bs {
		x0 := float64(padL) + (math.Log10(math.Max(1, float64(x.Lo)))-lo)/(hi-lo)*w
		x1 := float64(padL) + (math.Log10(float64(x.Hi+1))-lo)/(hi-lo)*w
		bh := float64(x.Count) / float64(cmax) * h
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4c78a8"><title>%.3f–%.3f ms: %d</title></rect>`,
			x0, float64(plotH-padB)-bh, math.Max(1, x1-x0), bh, float64(x.Lo)/1000, float64(x.Hi)/1000, x.Count)
	}
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		if e < lo {
			continue
		}
		px := float64(padL) + (e-lo)/(hi-lo)*w
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888"/><text x="%.1f" y="%d" font-size="11" text-anchor="middle">%g ms</text>`,
			px, plotH-padB, px, plotH-padB+5, px, plotH-padB+18, math.Pow(10, e)/1000)
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" font-size="11">max %d</text>`, padT+10, cmax)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axes(b *strings.Builder, xmax, ymax float64, unit string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, padL, plotH-padB, plotW-padR, plotH-padB)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, padL, padT, padL, plotH-padB)
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		y := sy(v, ymax)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>`,
			padL, y, plotW-padR, y, padL-5, y+4, short(v))
	}
	for i := 0; i <= 10; i++ {
		v := xmax * float64(i) / 10
		fmt.Fprintf(b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%.0f%s</text>`, sx(v, xmax), plotH-padB+16, v, unit)
	}
}

func sx(v, xmax float64) float64 { return float64(padL) + v/xmax*float64(plotW-padL-padR) }
func sy(v, ymax float64) float64 {
	return float64(plotH-padB) - v/ymax*float64(plotH-padT-padB)
}

func niceCeil(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}
