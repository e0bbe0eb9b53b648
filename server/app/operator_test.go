package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// richState is the state of issue 11 item 5: resources at the cap, every
// research topic at level 5 and 300 black holes.
func richState(owner string) *game.State {
	st := &game.State{Owner: owner, Bodies: map[string]*game.Body{},
		Research: map[string]int{"stellar_fusion": 5, "asteroid_mining": 5, "gravity_wells": 5,
			"efficient_construction": 5, "singularity_theory": 5},
		Resources: game.Resources{Stardust: 1_000_000_000, Energy: 1_000_000_000}}
	for i := range 300 {
		id := fmt.Sprintf("b-hole-%d", i)
		st.Bodies[id] = &game.Body{ID: id, Type: "black_hole", Position: game.Vec3{X: float64(i)}, CreatedAt: 1}
	}
	return st
}

// TestSaveGameWithStateNeedsOperator: the server decides resources. A
// player's SaveGame with a state is answered ActionResult success:false
// (echoing the id, numbered) and leaves the garden as it was; a plain
// SaveGame still works for a player; an operator's SaveGame with the same
// state is applied and reaches the player's devices.
func TestSaveGameWithStateNeedsOperator(t *testing.T) {
	s := wstest.Start(t, nil)
	op := s.DialOperator("alice", "")

	// A garden with no resources, as in the issue.
	poor := gameState(t, op.FullState())
	poor.Resources = game.Resources{}
	op.Action(protocol.TypeSaveGame, "op-empty", map[string]any{"state": poor})
	if res, _ := op.Result("op-empty"); !res.Success {
		t.Fatalf("operator's save refused: %s", res.Message)
	}
	player := s.Dial("alice", "") // after the save: its first full state is the poor garden
	before := player.FullState().Data

	rich := richState("alice")
	for _, id := range []string{"rich-1", "rich-1", "rich-2"} { // a replay is refused again
		player.Action(protocol.TypeSaveGame, id, map[string]any{"state": rich})
		res, env := player.Result(id)
		if res.Success || !strings.Contains(res.Message, "operator") || res.Reason != protocol.ReasonOperatorRequired || env.Seq == 0 || res.Version != 0 {
			t.Fatalf("player's save %s: seq %d %s, want success:false naming the operator token", id, env.Seq, env.Data)
		}
	}
	u := player.FullState()
	if st := gameState(t, u); u.Data.Version != before.Version || u.Data.Hash != before.Hash ||
		st.Resources != (game.Resources{}) || len(st.Bodies) != 0 || len(st.Research) != 0 {
		t.Fatalf("garden changed by a player's save: version %d→%d, %+v", before.Version, u.Data.Version, st)
	}
	if got := scrapeMetric(t, s, `cosmic_action_duration_seconds_count{outcome="rejected",type="SaveGame"}`); got != 3 {
		t.Errorf("rejected SaveGames counted %v, want 3", got)
	}

	for _, frame := range []string{`{"type":"SaveGame","id":"plain-1"}`, `{"type":"SaveGame","id":"plain-2","data":{}}`, `{"type":"SaveGame","id":"plain-3","data":{"state":null}}`} {
		player.SendRaw(frame)
		var id struct{ ID string }
		_ = json.Unmarshal([]byte(frame), &id)
		if res, env := player.Result(id.ID); !res.Success || res.Version != before.Version || strings.Contains(string(env.Data), "reason") {
			t.Fatalf("player's %s: %+v", frame, res)
		}
	}

	op.Action(protocol.TypeSaveGame, "rich-op", map[string]any{"state": rich})
	res, _ := op.Result("rich-op")
	if !res.Success || res.Version != before.Version+1 {
		t.Fatalf("operator's rich save: %+v", res)
	}
	if st := gameState(t, player.FullState()); st.Resources != rich.Resources || len(st.Bodies) != 300 || st.Research["singularity_theory"] != 5 {
		t.Fatalf("player's device after the operator's save: %d bodies, %+v, %v", len(st.Bodies), st.Resources, st.Research)
	}
}

// TestOperatorRoleFollowsRefreshToken: the role is the newest token's; a
// RefreshToken with an operator's token grants it, one with a player's
// token takes it away.
func TestOperatorRoleFollowsRefreshToken(t *testing.T) {
	s := wstest.Start(t, nil)
	c := s.Dial("bob", "")
	st := gameState(t, c.FullState())
	save := func(id string, stardust int64) protocol.ActionResult {
		t.Helper()
		st.Resources = game.Resources{Stardust: stardust, Energy: 5}
		c.Action(protocol.TypeSaveGame, id, map[string]any{"state": st})
		res, _ := c.Result(id)
		return res
	}
	refresh := func(id, token string) {
		t.Helper()
		c.Action(protocol.TypeRefreshToken, id, map[string]string{"token": token})
		if res, _ := c.Result(id); !res.Success {
			t.Fatalf("refresh %s: %s", id, res.Message)
		}
	}
	if res := save("s-1", 1); res.Success {
		t.Fatal("a player's SaveGame with a state was applied")
	}
	refresh("rt-1", s.OperatorToken("bob", time.Hour))
	if res := save("s-2", 2); !res.Success {
		t.Fatalf("after refreshing to an operator's token: %s", res.Message)
	}
	refresh("rt-2", s.Token("bob", time.Hour))
	if res := save("s-3", 3); res.Success {
		t.Fatal("after refreshing back to a player's token the SaveGame was applied")
	}
	if got := gameState(t, c.FullState()).Resources; got != (game.Resources{Stardust: 2, Energy: 5}) {
		t.Fatalf("resources %+v, want only the operator's save", got)
	}
}

// TestDevLoginIsNotOperator: anyone can dev-login, so its tokens never
// carry the operator claim.
func TestDevLoginIsNotOperator(t *testing.T) {
	s := wstest.Start(t, nil)
	resp, err := http.Post(s.URL("/api/auth/dev-login"), "application/json", strings.NewReader(`{"user":"dora"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Token == "" {
		t.Fatalf("dev-login: %d %s", resp.StatusCode, body)
	}
	c := s.DialWith("token="+got.Token, nil)
	c.Action(protocol.TypeSaveGame, "dev-rich", map[string]any{"state": richState("dora")})
	if res, _ := c.Result("dev-rich"); res.Success {
		t.Fatal("a dev-login token's SaveGame with a state was applied")
	}
}
