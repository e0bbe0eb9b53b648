package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
)

// TestAPIConfig: /api/config tells the page what it needs, the node id
// included (docs/operations.md, Endpoints).
func TestAPIConfig(t *testing.T) {
	s := wstest.Start(t, func(c *config.Config) { c.NodeID = "node-42" })
	resp, err := s.Client.Get(s.HTTP.URL + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		DevMode     bool   `json:"dev_mode"`
		Protocol    int    `json:"protocol"`
		HeartbeatMS int64  `json:"heartbeat_ms"`
		Node        string `json:"node"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, decode: %v", resp.StatusCode, err)
	}
	if !got.DevMode || got.Protocol != 1 || got.HeartbeatMS != s.Config.HeartbeatInterval.Milliseconds() || got.Node != "node-42" {
		t.Fatalf("/api/config = %+v", got)
	}
}
