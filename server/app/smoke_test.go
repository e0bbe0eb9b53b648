package app_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// TestTwoDevicesConverge runs on both WebSocket paths: the default small
// buffers and WS_PLAIN_BUFFERS, the operator's way back to coder/websocket's
// own buffers.
func TestTwoDevicesConverge(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprintf("plain_buffers=%v", plain), func(t *testing.T) {
			twoDevicesConverge(t, wstest.Start(t, func(c *config.Config) { c.WSPlainBuffers = plain }))
		})
	}
}

func twoDevicesConverge(t *testing.T, s *wstest.Server) {
	a := s.Dial("alice", "")
	b := s.Dial("alice", "")
	if a.Welcome.SessionID == b.Welcome.SessionID || a.Welcome.Resumed {
		t.Fatalf("welcomes: %+v %+v", a.Welcome, b.Welcome)
	}
	fullA := decodeUpdate(t, a.NextOf(protocol.TypeStateUpdate))
	fullB := decodeUpdate(t, b.NextOf(protocol.TypeStateUpdate))
	if !fullA.Full || fullA.Data.Hash != fullB.Data.Hash {
		t.Fatalf("first updates differ: %+v %+v", fullA, fullB)
	}
	// A patch beats the full state only once the garden has some bodies.
	for i := range 5 {
		a.Action(protocol.TypeCreateCelestialBody, fmt.Sprintf("seed-%d", i), map[string]any{"body_type": "asteroid", "position": map[string]float64{"x": float64(i), "y": 0, "z": 0}})
		a.NextOf(protocol.TypeActionResult)
		fullB = applyUpdate(t, fullB, b.NextOf(protocol.TypeStateUpdate))
	}
	a.Action(protocol.TypeCreateCelestialBody, "a-1", map[string]any{"body_type": "planet", "position": map[string]float64{"x": 1, "y": 2, "z": 3}})
	res := a.NextOf(protocol.TypeActionResult)
	var ar protocol.ActionResult
	if err := json.Unmarshal(res.Data, &ar); err != nil || !ar.Success || ar.BodyID != "b-a-1" || res.ID != "a-1" || res.Seq == 0 {
		t.Fatalf("result %+v %s err %v", res, res.Data, err)
	}
	up := decodeUpdate(t, b.NextOf(protocol.TypeStateUpdate))
	if up.Full || up.Data.Base != fullB.Data.Version || up.Data.Version != fullB.Data.Version+1 {
		t.Fatalf("patch update %+v", up)
	}
	doc, err := patch.Apply(fullB.Data.State, up.Data.Patch)
	if err != nil {
		t.Fatal(err)
	}
	if got := game.Hash(doc); got != up.Data.Hash {
		t.Fatalf("hash after patch %s, server says %s", got, up.Data.Hash)
	}
}

// applyUpdate applies a StateUpdate to the full update held and checks
// the hash, returning the new full update.
func applyUpdate(t *testing.T, held protocol.StateUpdate, env protocol.Envelope) protocol.StateUpdate {
	t.Helper()
	u := decodeUpdate(t, env)
	if u.Full {
		return u
	}
	if u.Data.Base != held.Data.Version {
		t.Fatalf("patch base %d, held %d", u.Data.Base, held.Data.Version)
	}
	doc, err := patch.Apply(held.Data.State, u.Data.Patch)
	if err != nil {
		t.Fatal(err)
	}
	if got := game.Hash(doc); got != u.Data.Hash {
		t.Fatalf("hash after patch %s, server says %s", got, u.Data.Hash)
	}
	return protocol.StateUpdate{Full: true, Data: protocol.StateData{Version: u.Data.Version, State: doc, Hash: u.Data.Hash}}
}

func decodeUpdate(t *testing.T, env protocol.Envelope) protocol.StateUpdate {
	t.Helper()
	var u protocol.StateUpdate
	if err := json.Unmarshal(env.Data, &u); err != nil {
		t.Fatalf("decode StateUpdate %s: %v", env.Data, err)
	}
	return u
}
