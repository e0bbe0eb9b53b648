package rules

import (
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// BodyID returns the id of the body that a CreateCelestialBody with
// envelope id actionID makes: the same id on every replay (docs/protocol.md
// §2, "The id also names what the action creates").
func BodyID(actionID string) string { return BodyIDPrefix + actionID }

// Price is what one action costs in a garden now, or why the rules refuse
// it whatever the resources: Cost is set when it is available, Reason (a
// protocol.Reason code) and Message otherwise. Requires names the research
// topic a requires_research refusal waits for.
type Price struct {
	Cost     *game.Resources `json:"cost,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Message  string          `json:"message,omitempty"`
	Requires string          `json:"requires,omitempty"`
}

// Quote is the price of every body type and of the next level of every
// research topic in one garden, keyed by body type and topic name.
type Quote struct {
	Bodies map[string]Price `json:"bodies"`
	Topics map[string]Price `json:"topics"`
}

// QuoteFor prices every action of the balance for s, by the checks Apply
// makes before it spends: what Apply would then spend, or the refusal it
// would give. Affordability is left out (resources change every second;
// the caller compares), and so is what depends on the action itself (a
// position, an id already used). A quote is a hint: Apply decides.
func QuoteFor(s *game.State) Quote {
	q := Quote{Bodies: map[string]Price{}, Topics: map[string]Price{}}
	full := roomFor(s)
	for _, t := range BodyTypes() {
		cost, rej := bodyPrice(s, t)
		if rej == nil {
			rej = full
		}
		q.Bodies[t] = price(cost, rej)
		if rej != nil && rej.Code == protocol.ReasonRequiresResearch {
			k, _ := Kind(t)
			p := q.Bodies[t]
			p.Requires = k.Requires
			q.Bodies[t] = p
		}
	}
	for _, name := range TopicNames() {
		q.Topics[name] = price(researchPrice(s, name))
	}
	return q
}

func price(cost game.Resources, rej *Rejection) Price {
	if rej != nil {
		return Price{Reason: rej.Code, Message: rej.Message}
	}
	return Price{Cost: &cost}
}

// Rates is growth per second in thousandths of a unit, as GrowthRates
// returns it.
type Rates struct {
	Stardust int64 `json:"stardust"`
	Energy   int64 `json:"energy"`
}

// RatesFor returns the growth of s, research bonuses included: what Settle
// credits per second below MaxResource.
func RatesFor(s *game.State) Rates {
	st, en := GrowthRates(s)
	return Rates{Stardust: st, Energy: en}
}

// bodyPrice is what a body of bodyType costs in s, or why it may not be
// built there at all.
func bodyPrice(s *game.State, bodyType string) (game.Resources, *Rejection) {
	kind, ok := Kind(bodyType)
	if !ok {
		return game.Resources{}, reject(protocol.ReasonUnknownBodyType, "unknown body type %q", bodyType)
	}
	if kind.Requires != "" && s.Research[kind.Requires] < 1 {
		return game.Resources{}, reject(protocol.ReasonRequiresResearch, "%s requires research %s", bodyType, kind.Requires)
	}
	return BodyCost(s, bodyType), nil
}

// roomFor refuses a new body when s holds as many as it may.
func roomFor(s *game.State) *Rejection {
	if limit := MaxBodies(s); len(s.Bodies) >= limit {
		return reject(protocol.ReasonGardenFull, "garden is full (%d bodies)", limit)
	}
	return nil
}

// researchPrice is what the next level of topic costs in s, or why it
// cannot be researched.
func researchPrice(s *game.State, topic string) (game.Resources, *Rejection) {
	t, ok := TopicByName(topic)
	if !ok {
		return game.Resources{}, reject(protocol.ReasonUnknownTopic, "unknown research topic %q", topic)
	}
	level := s.Research[topic]
	if level >= MaxResearchLevel {
		return game.Resources{}, reject(protocol.ReasonMaxLevel, "%s is already at the highest level (%d)", topic, MaxResearchLevel)
	}
	return ResearchCost(t, level+1), nil
}
