package garden

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// TestApplyIsPure: apply builds the result, the next snapshot and the
// commit from its arguments alone, leaves cur as it was, and gives the
// same outcome when run again on the same input (what a conflict retry
// relies on).
func TestApplyIsPure(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	cur, err := newSnapshot(7, rules.New("ann", now.UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	before := string(cur.Encoded)
	create := protocol.CreateCelestialBody{BodyType: "planet", Position: game.Vec3{X: 1, Y: 2}}
	cases := []struct {
		name        string
		act         protocol.Action
		success     bool
		snapVersion uint64 // 0: no new snapshot
		gardenWrite uint64 // version the commit writes, 0 for none
	}{
		{name: "change", act: create, success: true, snapVersion: 8, gardenWrite: 8},
		{name: "rejection", act: protocol.CreateCelestialBody{BodyType: "unicorn"}, success: false},
		{name: "plain save of an unchanged garden", act: protocol.SaveGame{}, success: true, gardenWrite: 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := apply("ann", cur, tc.act, "a1", now)
			if err != nil {
				t.Fatal(err)
			}
			again, err := apply("ann", cur, tc.act, "a1", now)
			if err != nil || string(again.data) != string(out.data) {
				t.Fatalf("apply is not repeatable: %s vs %s (%v)", again.data, out.data, err)
			}
			if string(cur.Encoded) != before || cur.Version != 7 {
				t.Fatal("apply changed cur")
			}
			var res protocol.ActionResult
			if err := json.Unmarshal(out.data, &res); err != nil || res.Success != tc.success || out.success != tc.success {
				t.Fatalf("result %s (%v), want success %v", out.data, err, tc.success)
			}
			if got := uint64(0); out.snap != nil {
				got = out.snap.Version
				// Derived from cur's encoding: the same bytes and hash as
				// encoding the new state afresh.
				if enc, err := game.Encode(out.snap.State); err != nil || string(enc) != string(out.snap.Encoded) || game.Hash(enc) != out.snap.Hash {
					t.Errorf("snapshot bytes differ from Encode of its state (%v)", err)
				}
				if got != tc.snapVersion || res.Version != got {
					t.Errorf("snapshot version %d, result version %d, want %d", got, res.Version, tc.snapVersion)
				}
			} else if tc.snapVersion != 0 {
				t.Errorf("no snapshot, want version %d", tc.snapVersion)
			}
			c := out.commit
			if len(c.Actions) != 1 || c.Actions[0].ActionID != "a1" || string(c.Actions[0].Result) != string(out.data) || !c.Actions[0].At.Equal(now) {
				t.Errorf("commit records %+v", c.Actions)
			}
			switch {
			case tc.gardenWrite == 0 && c.Garden != nil:
				t.Errorf("commit writes the garden (version %d), want no write", c.Garden.Version)
			case tc.gardenWrite != 0 && (c.Garden == nil || c.Garden.Version != tc.gardenWrite):
				t.Errorf("commit garden %+v, want version %d", c.Garden, tc.gardenWrite)
			}
		})
	}
}
