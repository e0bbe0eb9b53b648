package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/server/config"
)

// TestLoggerNode: every line names the node, in both formats, so that the
// merged logs of a cluster can be told apart (docs/operations.md, NODE_ID).
func TestLoggerNode(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"text", "node=node-7"},
		{"json", `"node":"node-7"`},
	} {
		t.Run(tt.format, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.NodeID, cfg.LogFormat = "node-7", tt.format
			var out bytes.Buffer
			log, closeLog, err := newLogger(cfg, &out)
			if err != nil {
				t.Fatal(err)
			}
			defer closeLog()
			log.Info("one")
			log.With("user_id", "u").Warn("two")
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("got %d lines:\n%s", len(lines), out.String())
			}
			for _, l := range lines {
				if !strings.Contains(l, tt.want) {
					t.Errorf("line lacks %s: %s", tt.want, l)
				}
			}
		})
	}
}
