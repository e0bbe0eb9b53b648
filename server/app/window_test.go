package app_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// TestIdempotencyWindow is issue 11 item 3 through the real server: a
// Research and a CreateCelestialBody, then 1 001 other actions of the same
// player (more than any count-bounded record keeping held), then both
// first ids again, as from a device that was offline meanwhile. Each is
// answered with its original ActionResult bytes and nothing is applied or
// paid for a second time (protocol.md §2: at least 30 days, by age).
func TestIdempotencyWindow(t *testing.T) {
	s := wstest.Start(t, func(c *config.Config) { c.RateBurst, c.RatePerSecond = 100_000, 100_000 })
	c := s.Dial("alice", "")

	c.Create("old-create", "asteroid", 1, 2, 3)
	create, createEnv := c.Result("old-create")
	c.Action(protocol.TypeResearch, "old-research", map[string]string{"topic": "stellar_fusion"})
	research, researchEnv := c.Result("old-research")
	if !create.Success || !research.Success {
		t.Fatalf("first actions refused: %s, %s", createEnv.Data, researchEnv.Data)
	}

	// Plain saves (success, garden unchanged) and refused creations
	// (recorded all the same), answered one by one so that no send queue
	// fills up.
	const others = 1001
	for i := range others {
		id := fmt.Sprintf("other-%d", i)
		if i%2 == 0 {
			c.Action(protocol.TypeSaveGame, id, nil)
		} else {
			c.Create(id, "no-such-type", 0, 0, 0)
		}
		if res, env := c.Result(id); res.Success != (i%2 == 0) {
			t.Fatalf("action %s: %s", id, env.Data)
		}
	}
	before := c.FullState()
	st := gameState(t, before)

	c.Action(protocol.TypeResearch, "old-research", map[string]string{"topic": "stellar_fusion"})
	if _, env := c.Result("old-research"); !bytes.Equal(env.Data, researchEnv.Data) {
		t.Errorf("Research replayed after %d actions: %s, original %s", others, env.Data, researchEnv.Data)
	}
	c.Create("old-create", "asteroid", 1, 2, 3)
	if _, env := c.Result("old-create"); !bytes.Equal(env.Data, createEnv.Data) {
		t.Errorf("CreateCelestialBody replayed after %d actions: %s, original %s", others, env.Data, createEnv.Data)
	}
	after := c.FullState()
	got := gameState(t, after)
	if after.Data.Version != before.Data.Version || after.Data.Hash != before.Data.Hash {
		t.Errorf("replays moved the garden from version %d to %d", before.Data.Version, after.Data.Version)
	}
	if got.Research["stellar_fusion"] != 1 || got.Resources != st.Resources {
		t.Errorf("after the replays: research %v resources %+v; want level 1 and %+v (charged once)",
			got.Research, got.Resources, st.Resources)
	}

	// After a restart the garden is loaded afresh, with no records in
	// memory: the store answers.
	_ = c.Conn.CloseNow()
	s.Stop()
	s = wstest.Start(t, func(cfg *config.Config) { cfg.DBPath = s.Config.DBPath })
	d := s.Dial("alice", "")
	d.Create("old-create", "asteroid", 1, 2, 3)
	if _, env := d.Result("old-create"); !bytes.Equal(env.Data, createEnv.Data) {
		t.Errorf("after a restart: %s, original %s", env.Data, createEnv.Data)
	}
	if u := d.FullState(); u.Data.Version != after.Data.Version {
		t.Errorf("after a restart the replay moved the garden from version %d to %d", after.Data.Version, u.Data.Version)
	}
}
