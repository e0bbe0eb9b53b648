package app_test

import (
	"testing"

	"github.com/cosmic-gardener/realtime/server/internal/wstest"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// TestIDsOfInvalidText: ids that differ only in text that is not valid
// Unicode (issue 11 item 4) used to decode to one id, "s\uFFFD", so the
// second action, a different body, was answered with the first's result
// and silently not applied. Each is now refused with Error invalid_data,
// echoing no id, and nothing is applied (protocol.md §2).
func TestIDsOfInvalidText(t *testing.T) {
	s := wstest.Start(t, nil)
	c := s.Dial("alice", "")
	before := c.FullState().Data

	frames := []struct{ name, frame string }{
		{"lone high surrogate", `{"type":"CreateCelestialBody","id":"s\ud800","data":{"body_type":"planet","position":{"x":1,"y":2,"z":0}}}`},
		{"lone low surrogate", `{"type":"CreateCelestialBody","id":"s\udc00","data":{"body_type":"star","position":{"x":3,"y":4,"z":0}}}`},
		{"reversed pair", `{"type":"CreateCelestialBody","id":"s\udc00\ud800","data":{"body_type":"moon","position":{"x":5,"y":6,"z":0}}}`},
		{"bytes that are not UTF-8", "{\"type\":\"CreateCelestialBody\",\"id\":\"s\xff\",\"data\":{\"body_type\":\"comet\",\"position\":{\"x\":7,\"y\":8,\"z\":0}}}"},
	}
	// One connection in order, so no subtests: the client's helpers fail
	// the test they were made with.
	for _, f := range frames {
		c.SendRaw(f.frame)
		e, env := c.ErrorAnswer()
		if e.Code != protocol.CodeInvalidData || env.ID != "" || env.Seq == 0 {
			t.Fatalf("%s: answer id %q seq %d %s, want Error invalid_data with a seq and no id", f.name, env.ID, env.Seq, env.Data)
		}
	}
	after := c.FullState()
	if st := gameState(t, after); after.Data.Version != before.Version || len(st.Bodies) != 0 {
		t.Fatalf("garden changed: version %d→%d, %d bodies", before.Version, after.Data.Version, len(st.Bodies))
	}

	// U+FFFD is a character like any other: an id holding it is valid and
	// distinct, and a surrogate pair (an emoji) is valid too.
	for _, id := range []string{"s\uFFFD", "s\U0001F600"} {
		c.Create(id, "planet", 1, 2, 0)
		if res, _ := c.Result(id); !res.Success || res.BodyID != "b-"+id {
			t.Fatalf("id %q: %+v", id, res)
		}
	}
	c.SendRaw(`{"type":"CreateCelestialBody","id":"s\ud83d\ude01","data":{"body_type":"planet","position":{"x":1,"y":2,"z":0}}}`)
	if res, _ := c.Result("s\U0001F601"); !res.Success || res.BodyID != "b-s\U0001F601" {
		t.Fatalf("escaped surrogate pair: %+v", res)
	}
	if st := gameState(t, c.FullState()); len(st.Bodies) != 3 {
		t.Fatalf("%d bodies, want 3", len(st.Bodies))
	}
}
