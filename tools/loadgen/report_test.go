package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportJSONKeys(t *testing.T) {
	rep := &Report{Scenario: "fanout", Target: "ours", ConnectionsOK: 3, AckMS: Summary{P50: 1, P95: 2, P99: 3, Max: 4},
		ServerRSSBytes: &RSS{Avg: 1, Max: 2}, Params: map[string]any{"count": 3},
		Series: []point{{T: 1, AckP50: 1, AckP99: 2, Open: 3}}, Histogram: []Bucket{{Lo: 100, Hi: 101, Count: 2}}, HistOf: "ack_ms"}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"connections_ok", "connections_failed", "connect_ms", "ack_ms", "broadcast_ms", "msgs_per_s", "server_rss_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report JSON lacks %q", k)
		}
	}
	for _, k := range []string{"connect_ms", "ack_ms", "broadcast_ms"} {
		s, _ := m[k].(map[string]any)
		for _, q := range []string{"p50", "p95", "p99", "max"} {
			if _, ok := s[q]; !ok {
				t.Errorf("%s lacks %q", k, q)
			}
		}
	}
	if io, _ := m["msgs_per_s"].(map[string]any); io == nil || io["in"] == nil || io["out"] == nil {
		t.Errorf("msgs_per_s = %v, want {in, out}", m["msgs_per_s"])
	}

	html := filepath.Join(t.TempDir(), "r.html")
	if err := rep.WriteHTML(html); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(html)
	for _, want := range []string{"<svg", "Latency over time", "Histogram of ack_ms"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "http://cdn", "https://"} {
		if bytes.Contains(page, []byte(banned)) {
			t.Errorf("HTML is not self-contained: has %q", banned)
		}
	}

	var out strings.Builder
	if err := compare([]string{path}, &out); err != nil || !strings.Contains(out.String(), "ack p99 ms") {
		t.Errorf("compare: %v\n%s", err, out.String())
	}
}

func TestEachField(t *testing.T) {
	f := []byte(`{"type":"StateUpdate","seq":12,"data":{"full":false,"data":{"version":42,"base":41,"patch":[{"op":"add","path":"/a\"}","value":{"x":[1,{"y":"}"}]}}],"hash":"ab"}}}`)
	if got := string(field(f, "type")); got != `"StateUpdate"` {
		t.Fatalf("type = %s", got)
	}
	if got := parseUint(field(f, "seq")); got != 12 {
		t.Fatalf("seq = %d", got)
	}
	inner := field(field(f, "data"), "data")
	if v := parseUint(field(inner, "version")); v != 42 {
		t.Fatalf("version = %d", v)
	}
	if h := string(rawString(field(inner, "hash"))); h != "ab" {
		t.Fatalf("hash = %q (the patch was not skipped correctly)", h)
	}
	if eachField([]byte(`{"a":`), func(_, _ []byte) bool { return true }) {
		t.Fatal("truncated object accepted")
	}
	if parseInt([]byte("-17")) != -17 {
		t.Fatal("parseInt")
	}
	id := appendActionID(nil, 'a', &device{idx: 35}, 123456789)
	if sent, ok := sentOf(id); !ok || sent != 123456789 || len(id) > 64 {
		t.Fatalf("id %s → %d %v", id, sent, ok)
	}
}

func TestTrackerBothOrders(t *testing.T) {
	r := &runner{st: newStats()}
	g := &garden{}
	for i := range 3 {
		d := &device{idx: i, slot: i, g: g, r: r}
		d.ready.Store(true)
		g.devices = append(g.devices, d)
	}
	// Device 1 sees version 5 before the sender's result; device 2 after.
	g.onState(g.devices[1], 5, 2_000_000)
	g.onResult(g.devices[0], 5, 1_000_000, 3_000_000)
	g.onState(g.devices[2], 6, 4_000_000) // coalesced: 6 includes 5
	if n := r.st.bcast.Count(); n != 2 {
		t.Fatalf("%d broadcast samples, want 2", n)
	}
	if lo, hi := r.st.bcast.Quantile(0.5), r.st.bcast.Max(); lo < 1000 || lo > 1000+1000/histSub || hi != 3000 {
		t.Fatalf("latencies %dµs..%dµs, want 1000..3000", lo, hi)
	}
	if g.missed() != 0 {
		t.Fatal("nothing should be pending")
	}
}

func TestScenarioLabel(t *testing.T) {
	tests := []struct {
		rep  Report
		want string
	}{
		{Report{Scenario: "fanout", Params: map[string]any{"rate": 400.0}}, "fanout"},
		{Report{Scenario: "onegarden", Params: map[string]any{"rate": 100.0}}, "onegarden 100/s"},
		{Report{Scenario: "onegarden"}, "onegarden"},
	}
	for _, tt := range tests {
		if got := scenarioLabel(&tt.rep); got != tt.want {
			t.Errorf("scenarioLabel(%s %v) = %q, want %q", tt.rep.Scenario, tt.rep.Params, got, tt.want)
		}
	}
}
