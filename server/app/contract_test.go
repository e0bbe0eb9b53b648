package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/config"
	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// gameState decodes and checks a full StateUpdate: its hash must be the
// digest of the canonical encoding of its state (protocol.md §4).
func gameState(t *testing.T, u protocol.StateUpdate) *game.State {
	t.Helper()
	if !u.Full || len(u.Data.State) == 0 {
		t.Fatalf("not a full state: %+v", u)
	}
	canon, err := patch.Canonical(u.Data.State)
	if err != nil {
		t.Fatal(err)
	}
	if got := game.Hash(canon); got != u.Data.Hash {
		t.Fatalf("hash %s, digest of the canonical state %s", u.Data.Hash, got)
	}
	s, err := game.Decode(u.Data.State)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestWelcomeAndFirstState: Welcome, then a full StateUpdate with seq 1
// (protocol.md §5).
func TestWelcomeAndFirstState(t *testing.T) {
	s := wstest.Start(t, func(c *config.Config) { c.HeartbeatInterval = 1500 * time.Millisecond })
	c, err := s.DialRaw("token="+s.Token("alice", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := c.Expect(protocol.TypeWelcome)
	if env.Seq != 0 || env.ID != "" {
		t.Errorf("Welcome seq %d id %q, want neither", env.Seq, env.ID)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"session_id", "resumed", "heartbeat_ms", "user_id", "protocol"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("Welcome lacks %s: %s", k, env.Data)
		}
	}
	w := wstest.Decode[protocol.Welcome](t, env)
	if w.SessionID == "" || w.Resumed || w.HeartbeatMS != 1500 || w.UserID != "alice" || w.Protocol != 1 {
		t.Errorf("Welcome %+v", w)
	}

	env = c.Expect(protocol.TypeStateUpdate)
	if env.Seq != 1 {
		t.Errorf("first StateUpdate seq %d, want 1", env.Seq)
	}
	u := wstest.Decode[protocol.StateUpdate](t, env)
	st := gameState(t, u)
	if u.Data.Version < 1 || st.Owner != "alice" || len(st.Bodies) != 0 {
		t.Errorf("first state version %d owner %q bodies %d", u.Data.Version, st.Owner, len(st.Bodies))
	}
}

// TestCreateBodies: every body type of protocol.md §3 at positions within
// ±1000 is accepted, answered with the action's id and body "b-"+id.
func TestCreateBodies(t *testing.T) {
	s := wstest.Start(t, nil)
	c := s.Dial("alice", "")
	version := c.FullState().Data.Version
	type body struct {
		typ     string
		x, y, z float64
	}
	tests := []body{
		{"star", 0, 0, 0},
		{"planet", 1000, 1000, 1000},
		{"moon", -1000, -1000, -1000},
		{"asteroid", 1000, -1000, 0.5},
		{"comet", -999.75, 0, 1000},
		{"nebula", 12.5, -0.001, -1000},
	}
	for i, b := range tests {
		t.Run(b.typ, func(t *testing.T) {
			id := fmt.Sprintf("create-%d", i)
			c.Create(id, b.typ, b.x, b.y, b.z)
			res, env := c.Result(id)
			if !res.Success || res.BodyID != "b-"+id || res.Message == "" || env.Seq == 0 {
				t.Fatalf("result %s seq %d", env.Data, env.Seq)
			}
			if res.Version != version+1 {
				t.Errorf("version %d, want %d", res.Version, version+1)
			}
			version = res.Version
		})
	}
	st := gameState(t, c.FullState())
	for i, b := range tests {
		got := st.Bodies[fmt.Sprintf("b-create-%d", i)]
		if got == nil || got.Type != b.typ || got.Position != (game.Vec3{X: b.x, Y: b.y, Z: b.z}) {
			t.Errorf("body %d in state: %+v, want %+v", i, got, b)
		}
	}
}

// TestBalanceFloors: a new garden affords 100 asteroids; a garden holds
// 500 bodies (protocol.md §3).
func TestBalanceFloors(t *testing.T) {
	s := wstest.Start(t, nil)
	t.Run("100 asteroids", func(t *testing.T) {
		c := s.Dial("miner", "")
		for i := range 100 { // pipelined: well within the burst of 200
			c.Create(fmt.Sprintf("ast-%d", i), "asteroid", float64(i), 0, 0)
		}
		for i := range 100 {
			if res, _ := c.Result(fmt.Sprintf("ast-%d", i)); !res.Success {
				t.Fatalf("asteroid %d refused: %s", i, res.Message)
			}
		}
		if st := gameState(t, c.FullState()); len(st.Bodies) != 100 {
			t.Fatalf("%d bodies, want 100", len(st.Bodies))
		}
	})
	t.Run("500 bodies", func(t *testing.T) {
		c := s.DialOperator("hoarder", "") // SaveGame with a state needs an operator
		st := gameState(t, c.FullState())
		st.Resources = game.Resources{Stardust: 100000, Energy: 100000}
		for i := range 499 {
			id := fmt.Sprintf("b-%d", i)
			st.Bodies[id] = &game.Body{ID: id, Type: "asteroid", Position: game.Vec3{X: float64(i)}}
		}
		c.Action(protocol.TypeSaveGame, "save-499", map[string]any{"state": st})
		if res, _ := c.Result("save-499"); !res.Success {
			t.Fatalf("save of 499 bodies refused: %s", res.Message)
		}
		c.Create("the-500th", "planet", 1, 1, 1)
		if res, _ := c.Result("the-500th"); !res.Success {
			t.Fatalf("500th body refused: %s", res.Message)
		}
		if st := gameState(t, c.FullState()); len(st.Bodies) != 500 {
			t.Fatalf("%d bodies, want 500", len(st.Bodies))
		}
	})
}

// TestRefusals: an action the rules refuse gets ActionResult
// success:false; a message that does not decode gets an Error. Either way
// the connection stays open and the garden unchanged (protocol.md §3, §4).
func TestRefusals(t *testing.T) {
	s := wstest.Start(t, nil)
	// Operators, so that a SaveGame with a state reaches the rules.
	c := s.DialOperator("alice", "")
	poor := s.DialOperator("pauper", "")
	st := gameState(t, poor.FullState())
	st.Resources = game.Resources{}
	poor.Action(protocol.TypeSaveGame, "impoverish", map[string]any{"state": st})
	if res, _ := poor.Result("impoverish"); !res.Success {
		t.Fatalf("save: %s", res.Message)
	}
	create := func(id, typ string, x, y, z float64) string {
		b, _ := json.Marshal(map[string]any{"type": protocol.TypeCreateCelestialBody, "id": id,
			"data": map[string]any{"body_type": typ, "position": map[string]float64{"x": x, "y": y, "z": z}}})
		return string(b)
	}
	negative := gameState(t, c.FullState())
	negative.Resources.Stardust = -1
	negFrame, _ := json.Marshal(map[string]any{"type": protocol.TypeSaveGame, "id": "neg", "data": map[string]any{"state": negative}})
	foreign := gameState(t, c.FullState())
	foreign.Owner = "mallory"
	foreignFrame, _ := json.Marshal(map[string]any{"type": protocol.TypeSaveGame, "id": "foreign", "data": map[string]any{"state": foreign}})

	tests := []struct {
		name   string
		c      *wstest.Client
		frame  string
		result bool   // want ActionResult success:false, else Error
		code   string // Error code, or ActionResult reason
		id     string // echoed id
	}{
		{"unknown body type", c, create("r-type", "wormhole", 0, 0, 0), true, "unknown_body_type", "r-type"},
		{"empty body type", c, create("r-empty", "", 0, 0, 0), true, "unknown_body_type", "r-empty"},
		{"x out of range", c, create("r-x", "planet", 1e7, 0, 0), true, "out_of_range", "r-x"},
		{"z out of range", c, create("r-z", "planet", 0, 0, -1e9), true, "out_of_range", "r-z"},
		{"not enough resources", poor, create("r-poor", "star", 0, 0, 0), true, "insufficient_resources", "r-poor"},
		{"unknown research topic", c, `{"type":"Research","id":"r-topic","data":{"topic":"alchemy"}}`, true, "unknown_topic", "r-topic"},
		{"research without resources", poor, `{"type":"Research","id":"r-poor-topic","data":{"topic":"gravity_wells"}}`, true, "insufficient_resources", "r-poor-topic"},
		{"save negative resources", c, string(negFrame), true, "invalid_state", "neg"},
		{"save another owner's state", c, string(foreignFrame), true, "invalid_state", "foreign"},
		{"string for a number", c, `{"type":"CreateCelestialBody","id":"d-1","data":{"body_type":"planet","position":{"x":"one","y":0,"z":0}}}`, false, "invalid_data", "d-1"},
		{"number for a string", c, `{"type":"CreateCelestialBody","id":"d-2","data":{"body_type":7,"position":{"x":1,"y":0,"z":0}}}`, false, "invalid_data", "d-2"},
		{"missing position", c, `{"type":"CreateCelestialBody","id":"d-3","data":{"body_type":"planet"}}`, false, "invalid_data", "d-3"},
		{"data not an object", c, `{"type":"Research","id":"d-4","data":"stellar_fusion"}`, false, "invalid_data", "d-4"},
		{"state of the wrong shape", c, `{"type":"SaveGame","id":"d-5","data":{"state":{"resources":"lots"}}}`, false, "invalid_data", "d-5"},
		{"not JSON", c, `not json`, false, "bad_message", ""},
		{"truncated JSON", c, `{"type":"GetState"`, false, "bad_message", ""},
		{"JSON array", c, `[1,2,3]`, false, "bad_message", ""},
		{"no type", c, `{"id":"m-1","data":{}}`, false, "bad_message", "m-1"},
		{"unknown type", c, `{"type":"Teleport","id":"u-1","data":{}}`, false, "unknown_type", "u-1"},
		{"server-only type", c, `{"type":"Welcome","id":"u-2"}`, false, "unknown_type", "u-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.c.FullState().Data
			tt.c.SendRaw(tt.frame)
			if tt.result {
				res, env := tt.c.Result(tt.id)
				if res.Success || res.Message == "" || res.Reason != tt.code || env.Seq == 0 {
					t.Fatalf("result %s seq %d, want success:false with a message and reason %s", env.Data, env.Seq, tt.code)
				}
			} else {
				e, env := tt.c.ErrorAnswer()
				if e.Code != tt.code || e.Message == "" || env.ID != tt.id || env.Seq == 0 {
					t.Fatalf("error id %q seq %d %s, want code %s id %q", env.ID, env.Seq, env.Data, tt.code, tt.id)
				}
			}
			after := tt.c.FullState().Data // the connection still answers
			if after.Version != before.Version || after.Hash != before.Hash {
				t.Errorf("garden changed: version %d→%d", before.Version, after.Version)
			}
		})
	}
}

// TestResearchAndSave: Research raises a topic; SaveGame without a state
// succeeds; SaveGame with a valid state replaces the garden.
func TestResearchAndSave(t *testing.T) {
	s := wstest.Start(t, nil)
	c := s.DialOperator("alice", "") // for the SaveGame with a state
	c.Action(protocol.TypeResearch, "res-1", map[string]string{"topic": "stellar_fusion"})
	if res, _ := c.Result("res-1"); !res.Success {
		t.Fatalf("research refused: %s", res.Message)
	}
	st := gameState(t, c.FullState())
	if st.Research["stellar_fusion"] != 1 {
		t.Fatalf("research %v", st.Research)
	}

	for _, frame := range []string{`{"type":"SaveGame","id":"save-1"}`, `{"type":"SaveGame","id":"save-2","data":{}}`, `{"type":"SaveGame","id":"save-3","data":{"state":null}}`} {
		c.SendRaw(frame)
		var id struct{ ID string }
		_ = json.Unmarshal([]byte(frame), &id)
		if res, _ := c.Result(id.ID); !res.Success {
			t.Fatalf("%s: %s", frame, res.Message)
		}
	}

	st.Bodies = map[string]*game.Body{"b-saved": {ID: "b-saved", Type: "planet", Position: game.Vec3{X: 1, Y: 2, Z: 3}, CreatedAt: 1}}
	st.Resources = game.Resources{Stardust: 12345, Energy: 678}
	st.Research = map[string]int{"gravity_wells": 2}
	c.Action(protocol.TypeSaveGame, "save-4", map[string]any{"state": st})
	res, _ := c.Result("save-4")
	if !res.Success {
		t.Fatalf("save refused: %s", res.Message)
	}
	u := c.FullState()
	got := gameState(t, u)
	if u.Data.Version != res.Version || len(got.Bodies) != 1 || got.Bodies["b-saved"] == nil ||
		got.Resources != st.Resources || got.Research["gravity_wells"] != 2 || len(got.Research) != 1 {
		t.Fatalf("state after save (version %d, result %d): %+v", u.Data.Version, res.Version, got)
	}
	// A second connection loads the same garden.
	if other := gameState(t, s.Dial("alice", "").FullState()); other.Bodies["b-saved"] == nil {
		t.Fatalf("second device sees %+v", other)
	}
}

// TestIdempotency: an id is applied at most once per user and answered
// with the original result (protocol.md §2).
func TestIdempotency(t *testing.T) {
	s := wstest.Start(t, nil)
	a1, a2, b := s.Dial("alice", ""), s.Dial("alice", ""), s.Dial("bob", "")
	v0 := a1.FullState().Data.Version

	a1.Create("dup-1", "planet", 1, 2, 3)
	first, env1 := a1.Result("dup-1")
	if !first.Success || first.BodyID != "b-dup-1" || first.Version != v0+1 {
		t.Fatalf("first result %s, base version %d", env1.Data, v0)
	}
	replays := []struct {
		name string
		c    *wstest.Client
		typ  string
	}{
		{"same device", a1, "planet"},
		{"same device, other payload", a1, "asteroid"},
		{"second device", a2, "planet"},
	}
	for _, r := range replays {
		r.c.Create("dup-1", r.typ, 9, 9, 9)
		if _, env := r.c.Result("dup-1"); !bytes.Equal(env.Data, env1.Data) {
			t.Errorf("%s: replay %s, original %s", r.name, env.Data, env1.Data)
		}
	}
	for _, c := range []*wstest.Client{a1, a2} {
		u := c.FullState()
		st := gameState(t, u)
		if u.Data.Version != v0+1 || len(st.Bodies) != 1 || st.Bodies["b-dup-1"].Type != "planet" {
			t.Fatalf("after replays: version %d (want %d), bodies %v", u.Data.Version, v0+1, st.Bodies)
		}
	}

	// Another user's id space is separate.
	bv := b.FullState().Data.Version
	b.Create("dup-1", "moon", 4, 5, 6)
	res, env := b.Result("dup-1")
	if !res.Success || res.BodyID != "b-dup-1" || res.Version != bv+1 || bytes.Equal(env.Data, env1.Data) {
		t.Fatalf("bob's result %s, alice's %s", env.Data, env1.Data)
	}
	if st := gameState(t, b.FullState()); st.Bodies["b-dup-1"].Type != "moon" {
		t.Fatalf("bob's body %+v", st.Bodies["b-dup-1"])
	}
	if u := a1.FullState(); u.Data.Version != v0+1 {
		t.Fatalf("alice's garden moved to %d by bob's action", u.Data.Version)
	}
}

// TestSeqContiguous: on one connection, StateUpdate, ActionResult and
// Error carry seq 1, 2, 3, ...; Welcome and Heartbeat carry none
// (protocol.md §2, §5).
func TestSeqContiguous(t *testing.T) {
	s := wstest.Start(t, nil)
	c, err := s.DialRaw("token="+s.Token("alice", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	other := s.Dial("alice", "") // its actions reach c as broadcasts
	frames := []string{
		`{"type":"Heartbeat"}`,
		`{"type":"CreateCelestialBody","id":"s-1","data":{"body_type":"planet","position":{"x":1,"y":1,"z":1}}}`,
		`{"type":"CreateCelestialBody","id":"s-2","data":{"body_type":"wormhole","position":{"x":1,"y":1,"z":1}}}`,
		`garbage`,
		`{"type":"Nope","id":"s-3"}`,
		`{"type":"CreateCelestialBody","id":"s-4","data":{"body_type":"planet","position":{"x":"a","y":1,"z":1}}}`,
		`{"type":"GetState"}`,
		`{"type":"Research","id":"s-5","data":{"topic":"asteroid_mining"}}`,
		`{"type":"Heartbeat"}`,
		`{"type":"RefreshToken","id":"s-6","data":{"token":"` + s.Token("alice", time.Hour) + `"}}`,
		`{"type":"Ack","data":{"seq":2}}`,
		`{"type":"SaveGame","id":"s-7"}`,
	}
	for i, f := range frames {
		c.SendRaw(f)
		if i%3 == 0 {
			other.Create(fmt.Sprintf("o-%d", i), "asteroid", float64(i), 0, 0)
			other.Result(fmt.Sprintf("o-%d", i))
		}
	}
	c.Create("s-end", "moon", 0, 0, 0)

	var seqs []uint64
	var kinds []string
	heartbeats := 0
	for done := false; !done; {
		env := c.Next()
		kinds = append(kinds, fmt.Sprintf("%s/%d", env.Type, env.Seq))
		switch env.Type {
		case protocol.TypeWelcome, protocol.TypeHeartbeat:
			if env.Seq != 0 {
				t.Errorf("%s has seq %d", env.Type, env.Seq)
			}
			if env.Type == protocol.TypeHeartbeat {
				heartbeats++
			}
		case protocol.TypeStateUpdate, protocol.TypeActionResult, protocol.TypeError:
			seqs = append(seqs, env.Seq)
			done = env.Type == protocol.TypeActionResult && env.ID == "s-end"
		default:
			t.Fatalf("unexpected %s", env.Type)
		}
	}
	if heartbeats != 2 {
		t.Errorf("%d heartbeats answered, want 2", heartbeats)
	}
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("seq %d at position %d, want %d; messages: %v", seq, i, i+1, kinds)
		}
	}
	if len(seqs) < 10 {
		t.Fatalf("only %d numbered messages: %v", len(seqs), kinds)
	}
}

// TestHeartbeat: Heartbeat is answered; a silent connection is closed
// with 4408 after two intervals; one that keeps talking is not
// (protocol.md §5).
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	s := wstest.Start(t, func(c *config.Config) { c.HeartbeatInterval = 300 * time.Millisecond })
	t.Run("answered", func(t *testing.T) {
		c := s.Dial("alice", "")
		c.Send(map[string]string{"type": protocol.TypeHeartbeat})
		env := c.Answer()
		if env.Type != protocol.TypeHeartbeat || env.Seq != 0 || env.ID != "" || len(env.Data) != 0 {
			t.Fatalf("answer %+v", env)
		}
	})
	t.Run("silent client closed", func(t *testing.T) {
		t.Parallel()
		c := s.Dial("alice", "")
		if c.Welcome.HeartbeatMS != 300 {
			t.Fatalf("heartbeat_ms %d", c.Welcome.HeartbeatMS)
		}
		if code, reason := c.CloseStatus(5 * time.Second); code != protocol.CloseHeartbeat {
			t.Fatalf("closed %d %q, want 4408", code, reason)
		}
	})
	t.Run("talking client kept", func(t *testing.T) {
		t.Parallel()
		c := s.Dial("alice", "")
		keepAlive(t, c, 1500*time.Millisecond) // five intervals
	})
}

// TestFrames: the inbound frame limit is 64 KiB (close 1009), binary
// frames close with 4400 (protocol.md §6).
func TestFrames(t *testing.T) {
	s := wstest.Start(t, nil)
	padded := func(size int) string {
		f := `{"type":"Heartbeat","pad":"` + `"}`
		return f[:len(f)-2] + strings.Repeat("x", size-len(f)) + `"}`
	}
	t.Run("60 KiB processed", func(t *testing.T) {
		c := s.Dial("alice", "")
		f := padded(60 << 10)
		if len(f) != 60<<10 {
			t.Fatalf("frame is %d bytes", len(f))
		}
		c.SendRaw(f)
		if env := c.Answer(); env.Type != protocol.TypeHeartbeat {
			t.Fatalf("got %s %s", env.Type, env.Data)
		}
	})
	t.Run("65 KiB closes 1009", func(t *testing.T) {
		c := s.Dial("alice", "")
		c.SendRaw(padded(65 << 10))
		if code, reason := c.CloseStatus(5 * time.Second); code != websocket.StatusMessageTooBig {
			t.Fatalf("closed %d %q, want 1009", code, reason)
		}
	})
	t.Run("binary closes 4400", func(t *testing.T) {
		c := s.Dial("alice", "")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Conn.Write(ctx, websocket.MessageBinary, []byte(`{"type":"Heartbeat"}`)); err != nil {
			t.Fatal(err)
		}
		if code, reason := c.CloseStatus(5 * time.Second); code != protocol.CloseProtocol {
			t.Fatalf("closed %d %q, want 4400", code, reason)
		}
	})
}

// burst writes n Heartbeats as fast as the socket takes them. It does not
// touch t, so that it may run on any goroutine.
func burst(c *wstest.Client, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range n {
		if err := c.Conn.Write(ctx, websocket.MessageText, []byte(`{"type":"Heartbeat"}`)); err != nil {
			return err
		}
	}
	return nil
}

// countAnswers reads n answers to Heartbeats: processed ones (Heartbeat)
// and refused ones (Error rate_limited, which carries no seq and no id).
// It fails unless the first 200 were all processed.
func countAnswers(t *testing.T, c *wstest.Client, n int) (processed, limited int) {
	t.Helper()
	for i := range n {
		env := c.Answer()
		switch env.Type {
		case protocol.TypeHeartbeat:
			processed++
		case protocol.TypeError:
			e := wstest.Decode[protocol.ErrorMessage](t, env)
			if e.Code != protocol.CodeRateLimited || env.Seq != 0 || env.ID != "" {
				t.Fatalf("answer %d: Error id %q seq %d %s, want rate_limited without seq or id", i, env.ID, env.Seq, env.Data)
			}
			if i < 200 {
				t.Fatalf("answer %d is rate_limited: the burst is 200", i)
			}
			limited++
		default:
			t.Fatalf("answer %d: %s", i, env.Type)
		}
	}
	return processed, limited
}

// TestRateLimit: a burst of 200 is processed, beyond that rate_limited,
// and a flood closes with 4429; users do not share a limit (protocol.md §5).
func TestRateLimit(t *testing.T) {
	// In a synctest bubble over pipes: no token refills during a burst,
	// and the refill that serves Bob again is waited for in fake time.
	synctest.Test(t, func(t *testing.T) {
		s := wstest.StartWith(t, wstest.Options{Pipe: true})
		alice, bob := s.Dial("alice", ""), s.Dial("bob", "")

		// Both flood at once: each gets its own burst.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, c := range []*wstest.Client{alice, bob} {
			wg.Go(func() { errs[i] = burst(c, 250) })
		}
		wg.Wait()
		for i, c := range []*wstest.Client{alice, bob} {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			processed, limited := countAnswers(t, c, 250)
			if processed < 200 || limited < 1 || processed+limited != 250 {
				t.Fatalf("client %d: %d processed, %d rate_limited, want ≥200 and ≥1 of 250", i, processed, limited)
			}
		}

		// A fresh client of another user is unaffected by the flood.
		carol := s.Dial("carol", "")
		carol.Create("c-1", "planet", 0, 0, 0)
		if res, _ := carol.Result("c-1"); !res.Success {
			t.Fatalf("carol: %s", res.Message)
		}

		// Alice keeps flooding: 4429.
		var flood sync.WaitGroup
		flood.Go(func() { _ = burst(alice, 1000) }) // ends when the server closes
		code, reason := alice.CloseStatus(10 * time.Second)
		flood.Wait()
		if code != protocol.CloseTooManyMessage {
			t.Fatalf("closed %d %q, want 4429", code, reason)
		}
		// Bob, limited a moment ago but calm since, is still served once his
		// bucket refills (50 tokens/s): rate_limited answers are fine until
		// then; a close or any other answer is not.
		deadline := time.Now().Add(2 * time.Second)
		for {
			bob.Send(map[string]string{"type": protocol.TypeHeartbeat})
			env := bob.Answer()
			if env.Type == protocol.TypeHeartbeat {
				break
			}
			if e := wstest.Decode[protocol.ErrorMessage](t, env); env.Type != protocol.TypeError || e.Code != protocol.CodeRateLimited || time.Now().After(deadline) {
				t.Fatalf("bob got %s %s", env.Type, env.Data)
			}
			time.Sleep(25 * time.Millisecond) // fake time: the refill is the property under test
		}
	})
}

// TestTokenExpiry: a connection whose token expires is closed with 4401
// auth_expired unless a RefreshToken for the same user came first
// (protocol.md §1, §3). Tokens are accepted up to 5 s after exp, so a token
// that expired 3 s ago has 1-2 s of life left (exp has whole seconds).
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	s := wstest.Start(t, func(c *config.Config) { c.HeartbeatInterval = 2 * time.Second }) // sweeps every 500 ms
	shortLived := func(t *testing.T, user string) (string, time.Time) {
		exp := time.Now().Unix() - 3
		return mint(t, map[string]any{"sub": user, "exp": exp}), time.Unix(exp, 0).Add(5 * time.Second)
	}
	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		tok, _ := shortLived(t, "alice")
		c := s.DialWith("token="+tok, nil)
		if code, reason := c.CloseStatus(5 * time.Second); code != protocol.CloseAuth || reason != "auth_expired" {
			t.Fatalf("closed %d %q, want 4401 auth_expired", code, reason)
		}
	})
	t.Run("refreshed", func(t *testing.T) {
		t.Parallel()
		tok, end := shortLived(t, "bob")
		c := s.DialWith("", http.Header{"Authorization": {"Bearer " + tok}})
		c.Action(protocol.TypeRefreshToken, "refresh-1", map[string]string{"token": mint(t, map[string]any{"sub": "bob"})})
		if res, env := c.Result("refresh-1"); !res.Success || env.Seq == 0 {
			t.Fatalf("refresh refused: %s", env.Data)
		}
		keepAlive(t, c, time.Until(end)+time.Second) // past the old expiry and a sweep
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		c := s.Dial("carol", "")
		for _, tt := range []struct{ name, token string }{
			{"another user", mint(t, map[string]any{"sub": "mallory"})},
			{"expired", mint(t, map[string]any{"sub": "carol", "exp": time.Now().Add(-time.Minute).Unix()})},
			{"garbage", "garbage"},
		} {
			c.Action(protocol.TypeRefreshToken, "r-"+tt.name, map[string]string{"token": tt.token})
			if res, env := c.Result("r-" + tt.name); res.Success || res.Message == "" {
				t.Errorf("%s: %s, want success:false", tt.name, env.Data)
			}
		}
		c.FullState() // still open
	})
}

// TestOperatorEndpoints: /healthz, /readyz, /metrics (protocol.md §11).
func TestOperatorEndpoints(t *testing.T) {
	s := wstest.Start(t, nil)
	c := s.Dial("alice", "") // one action, so that the histograms have samples
	c.Create("m-1", "planet", 0, 0, 0)
	c.Result("m-1")
	get := func(path string) (int, string) {
		resp, err := http.Get(s.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != http.StatusOK {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, m := range []string{"cosmic_ws_connections 1", "cosmic_action_duration_seconds_bucket", "cosmic_store_commit_duration_seconds_bucket"} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
	// The full state at connect went out before the ActionResult.
	if !regexp.MustCompile(`(?m)^cosmic_state_updates_sent_total\{kind="full"\} [1-9]`).MatchString(body) ||
		!regexp.MustCompile(`(?m)^cosmic_state_update_bytes_total\{kind="full"\} [1-9]`).MatchString(body) {
		t.Errorf("/metrics does not count the full state sent at connect:\n%s", grepLines(body, "cosmic_state_update"))
	}
}

// grepLines returns body's lines that contain substr.
func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestShutdownClosesGoingAway: App.Shutdown closes clients with 1001.
func TestShutdownClosesGoingAway(t *testing.T) {
	s := wstest.Start(t, nil)
	clients := []*wstest.Client{s.Dial("alice", ""), s.Dial("alice", ""), s.Dial("bob", "")}
	var stopped sync.WaitGroup
	stopped.Go(s.Stop)
	for i, c := range clients {
		if code, reason := c.CloseStatus(10 * time.Second); code != websocket.StatusGoingAway {
			t.Errorf("client %d closed %d %q, want 1001", i, code, reason)
		}
	}
	stopped.Wait()
}
