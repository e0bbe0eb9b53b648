package rules_test

import (
	"slices"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// TestContractFloors checks the balance against protocol.md §3.
func TestContractFloors(t *testing.T) {
	s := rules.New("alice", 1)
	asteroid := rules.BodyCost(s, "asteroid")
	if s.Resources.Stardust < 100*asteroid.Stardust || s.Resources.Energy < 100*asteroid.Energy {
		t.Errorf("a new garden (%+v) cannot pay for 100 asteroids at %+v", s.Resources, asteroid)
	}
	if rules.MaxBodies(s) < 500 {
		t.Errorf("a new garden holds %d bodies, want at least 500", rules.MaxBodies(s))
	}
	if rules.WorldRadius < 1000 {
		t.Errorf("WorldRadius = %g, want at least 1000", rules.WorldRadius)
	}
	for _, typ := range []string{"star", "planet", "moon", "asteroid", "comet", "nebula"} {
		k, ok := rules.Kind(typ)
		if !ok || k.Requires != "" {
			t.Errorf("body type %s: known=%v requires=%q; want known without research", typ, ok, k.Requires)
		}
	}
	if err := rules.ValidateState(s, "alice"); err != nil {
		t.Errorf("New is not valid: %v", err)
	}
}

func TestBalanceTables(t *testing.T) {
	types := rules.BodyTypes()
	if !slices.IsSorted(types) || len(types) < 6 {
		t.Errorf("BodyTypes = %v", types)
	}
	for _, typ := range types {
		k, _ := rules.Kind(typ)
		if k.Cost.Stardust <= 0 || k.Cost.Energy < 0 {
			t.Errorf("%s costs %+v", typ, k.Cost)
		}
		if k.Requires != "" {
			if _, ok := rules.TopicByName(k.Requires); !ok {
				t.Errorf("%s requires unknown topic %s", typ, k.Requires)
			}
		}
	}
	topics := rules.TopicNames()
	if !slices.IsSorted(topics) {
		t.Errorf("TopicNames = %v", topics)
	}
	for _, name := range topics {
		tp, _ := rules.TopicByName(name)
		if tp.Cost.Stardust+tp.Cost.Energy <= 0 || tp.Effect == "" {
			t.Errorf("topic %s = %+v", name, tp)
		}
		if c := rules.ResearchCost(tp, 3); c.Energy != 9*tp.Cost.Energy || c.Stardust != 9*tp.Cost.Stardust {
			t.Errorf("ResearchCost(%s, 3) = %+v", name, c)
		}
	}
	if _, ok := rules.Kind("dyson_sphere"); ok {
		t.Error("Kind accepted an unknown type")
	}
}

func TestSettle(t *testing.T) {
	s := rules.New("alice", 1000)
	for _, now := range []int64{1000, 999, -5} {
		got := rules.Settle(s, now)
		if got == s || got.Resources != s.Resources || got.UpdatedAt != 1000 {
			t.Errorf("Settle(now=%d) = %+v, want an unchanged copy", now, got)
		}
	}
	got := rules.Settle(s, 1000+2000)
	if got.Resources.Stardust != rules.StartStardust+2 || got.Resources.Energy != rules.StartEnergy+1 || got.UpdatedAt != 3000 {
		t.Errorf("Settle over 2 s = %+v", got)
	}
	if s.UpdatedAt != 1000 || s.Resources.Stardust != rules.StartStardust {
		t.Error("Settle modified its input")
	}
}

func TestGrowthRatesIgnoreUnknownBodies(t *testing.T) {
	s := rules.New("alice", 0)
	s.Bodies["b-x"] = &game.Body{ID: "b-x", Type: "unknown"}
	if sd, en := rules.GrowthRates(s); sd != rules.BaseStardustRate || en != rules.BaseEnergyRate {
		t.Errorf("GrowthRates = %d, %d", sd, en)
	}
}

func TestApplyUnsupported(t *testing.T) {
	if _, err := rules.Apply(rules.New("a", 0), nil, "x", 0); err == nil {
		t.Error("Apply(nil action) succeeded")
	}
}

func TestPlainSaveReturnsTheSameState(t *testing.T) {
	s := rules.New("alice", 5)
	out, err := rules.Apply(s, protocol.SaveGame{}, "s1", 10)
	if err != nil || out.State != s {
		t.Errorf("plain save = %+v, %v; want the same state", out, err)
	}
}

func TestValidateStateBodyIDs(t *testing.T) {
	for name, id := range map[string]string{
		"empty":     "",
		"too long":  "b-" + string(make([]byte, protocol.MaxIDBytes+1)),
		"bad utf-8": "b-\xff",
	} {
		s := rules.New("alice", 0)
		s.Bodies[id] = &game.Body{ID: id, Type: "moon"}
		if err := rules.ValidateState(s, "alice"); err == nil {
			t.Errorf("%s body id accepted", name)
		}
	}
	s := rules.New("alice", 0)
	id := "b-" + string(slices.Repeat([]byte("x"), protocol.MaxIDBytes))
	s.Bodies[id] = &game.Body{ID: id, Type: "moon"}
	if err := rules.ValidateState(s, "alice"); err != nil {
		t.Errorf("longest body id refused: %v", err)
	}
}

func TestValidateStateTooManyBodies(t *testing.T) {
	s := rules.New("alice", 0)
	for i := range rules.BaseMaxBodies + 1 {
		id := "b-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		s.Bodies[id] = &game.Body{ID: id, Type: "moon"}
	}
	if err := rules.ValidateState(s, "alice"); err == nil {
		t.Error("a garden over the cap was accepted")
	}
	s.Research["gravity_wells"] = 1
	if err := rules.ValidateState(s, "alice"); err != nil {
		t.Errorf("gravity_wells did not raise the cap: %v", err)
	}
}
