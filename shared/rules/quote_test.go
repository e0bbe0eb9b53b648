package rules_test

import (
	"errors"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// TestQuoteAgreesWithApply: for gardens at several research levels, every
// price QuoteFor gives is what Apply spends with resources to spare, and
// every refusal is the one Apply gives, code and message.
func TestQuoteAgreesWithApply(t *testing.T) {
	const now = 1_700_000_000_000
	gardens := map[string]map[string]int{
		"new":        {},
		"discounted": {"efficient_construction": 2, "singularity_theory": 1},
		"top levels": {"gravity_wells": rules.MaxResearchLevel, "stellar_fusion": 3},
	}
	for name, research := range gardens {
		t.Run(name, func(t *testing.T) {
			s := rules.New("alice", now)
			s.Research = research
			s.Resources = game.Resources{Stardust: rules.MaxResource, Energy: rules.MaxResource}
			q := rules.QuoteFor(s)
			check := func(what string, p rules.Price, act protocol.Action) {
				t.Helper()
				out, err := rules.Apply(s, act, "q1", now)
				var rej *rules.Rejection
				switch {
				case errors.As(err, &rej):
					if p.Cost != nil || p.Reason != rej.Code || p.Message != rej.Message {
						t.Errorf("%s: quote %+v, Apply refuses %s %q", what, p, rej.Code, rej.Message)
					}
				case err != nil:
					t.Fatal(err)
				case p.Cost == nil:
					t.Errorf("%s: quote refuses (%s), Apply accepts", what, p.Reason)
				default:
					spent := game.Resources{
						Stardust: s.Resources.Stardust - out.State.Resources.Stardust,
						Energy:   s.Resources.Energy - out.State.Resources.Energy,
					}
					if spent != *p.Cost {
						t.Errorf("%s: quote %+v, Apply spent %+v", what, *p.Cost, spent)
					}
				}
			}
			for _, bt := range rules.BodyTypes() {
				check(bt, q.Bodies[bt], protocol.CreateCelestialBody{BodyType: bt})
			}
			for _, tp := range rules.TopicNames() {
				check(tp, q.Topics[tp], protocol.Research{Topic: tp})
			}
			if len(q.Bodies) != len(rules.BodyTypes()) || len(q.Topics) != len(rules.TopicNames()) {
				t.Errorf("quote has %d bodies and %d topics", len(q.Bodies), len(q.Topics))
			}
		})
	}
}

func TestQuoteReasons(t *testing.T) {
	s := rules.New("alice", 0)
	s.Research["gravity_wells"] = rules.MaxResearchLevel
	q := rules.QuoteFor(s)
	if p := q.Bodies["black_hole"]; p.Reason != protocol.ReasonRequiresResearch || p.Requires != "singularity_theory" {
		t.Errorf("black_hole = %+v", p)
	}
	if p := q.Topics["gravity_wells"]; p.Reason != protocol.ReasonMaxLevel || p.Cost != nil {
		t.Errorf("gravity_wells = %+v", p)
	}
	full := rules.New("alice", 0)
	for i := range rules.MaxBodies(full) {
		id := rules.BodyID(string(rune('a'+i%26)) + string(rune('0'+i/26%10)) + string(rune('0'+i/260)))
		full.Bodies[id] = &game.Body{ID: id, Type: "asteroid"}
	}
	if p := rules.QuoteFor(full).Bodies["asteroid"]; p.Reason != protocol.ReasonGardenFull {
		t.Errorf("full garden: asteroid = %+v", p)
	}
}

func TestRatesAndBodyID(t *testing.T) {
	s := rules.New("alice", 0)
	if got := rules.RatesFor(s); got != (rules.Rates{Stardust: rules.BaseStardustRate, Energy: rules.BaseEnergyRate}) {
		t.Errorf("new garden rates %+v", got)
	}
	s.Bodies["b-x"] = &game.Body{ID: "b-x", Type: "planet"}
	s.Research["asteroid_mining"] = 2
	// (1000 + 500) × 150% stardust, 500 + 200 energy.
	if got := rules.RatesFor(s); got != (rules.Rates{Stardust: 2250, Energy: 700}) {
		t.Errorf("rates %+v", got)
	}
	// Settle credits the rates: thousandths per second, so whole units
	// per 1000 s.
	after := rules.Settle(s, 1_000_000).Resources
	if d := after.Stardust - s.Resources.Stardust; d != rules.RatesFor(s).Stardust {
		t.Errorf("settled %d stardust in 1000 s", d)
	}
	if got := rules.BodyID("dev.1-7"); got != rules.BodyIDPrefix+"dev.1-7" {
		t.Errorf("BodyID = %q", got)
	}
}
