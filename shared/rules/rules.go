package rules

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Rejection is an action the rules refuse. Message is for the player;
// Code says why for programs (ActionResult.reason), one of the
// protocol.Reason codes, so that no client parses Message.
type Rejection struct {
	Code    string
	Message string
}

func (r *Rejection) Error() string { return "rejected: " + r.Message }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Outcome is the result of an accepted action.
type Outcome struct {
	// State is the new garden; the input state is left untouched.
	State *game.State
	// BodyID is the id of the body a CreateCelestialBody made.
	BodyID string
	// Message describes what happened, for ActionResult.message.
	Message string
}

// New returns a fresh garden for owner, created at now (Unix ms).
func New(owner string, now int64) *game.State {
	return &game.State{
		Bodies:    map[string]*game.Body{},
		Owner:     owner,
		Research:  map[string]int{},
		Resources: game.Resources{Stardust: StartStardust, Energy: StartEnergy},
		UpdatedAt: now,
	}
}

// Apply applies action a with envelope id actionID to s at time now (Unix
// ms). It first settles growth since s.UpdatedAt. A refused action returns
// a *Rejection and s is unchanged in every case.
func Apply(s *game.State, a protocol.Action, actionID string, now int64) (Outcome, error) {
	switch act := a.(type) {
	case protocol.CreateCelestialBody:
		return create(s, act, actionID, now)
	case protocol.Research:
		return research(s, act, now)
	case protocol.SaveGame:
		return save(s, act, now)
	default:
		return Outcome{}, fmt.Errorf("rules: unsupported action %T", a)
	}
}

func create(s *game.State, act protocol.CreateCelestialBody, actionID string, now int64) (Outcome, error) {
	if _, rej := bodyPrice(s, act.BodyType); rej != nil {
		return Outcome{}, rej
	}
	if err := checkPosition(act.Position); err != nil {
		return Outcome{}, err
	}
	if rej := roomFor(s); rej != nil {
		return Outcome{}, rej
	}
	id := BodyID(actionID)
	if _, exists := s.Bodies[id]; exists {
		return Outcome{}, reject(protocol.ReasonBodyExists, "body %s already exists", id)
	}
	next := Settle(s, now)
	cost := BodyCost(next, act.BodyType)
	if err := spend(&next.Resources, cost, act.BodyType); err != nil {
		return Outcome{}, err
	}
	next.Bodies[id] = &game.Body{CreatedAt: now, ID: id, Position: act.Position.Normalized(), Type: act.BodyType}
	return Outcome{State: next, BodyID: id, Message: act.BodyType + " created"}, nil
}

func research(s *game.State, act protocol.Research, now int64) (Outcome, error) {
	cost, rej := researchPrice(s, act.Topic)
	if rej != nil {
		return Outcome{}, rej
	}
	level := s.Research[act.Topic]
	next := Settle(s, now)
	if err := spend(&next.Resources, cost, "research "+act.Topic); err != nil {
		return Outcome{}, err
	}
	next.Research[act.Topic] = level + 1
	return Outcome{State: next, Message: fmt.Sprintf("%s reached level %d", act.Topic, level+1)}, nil
}

func save(s *game.State, act protocol.SaveGame, now int64) (Outcome, error) {
	if act.State == nil {
		// A plain save changes nothing: every accepted action is already
		// durable when answered. The caller answers once that is true.
		return Outcome{State: s, Message: "saved"}, nil
	}
	if err := ValidateState(act.State, s.Owner); err != nil {
		return Outcome{}, err
	}
	next := act.State.Clone()
	next.Owner = s.Owner
	// Growth restarts from the moment the save is applied: a client cannot
	// claim time it did not spend.
	next.UpdatedAt = max(now, s.UpdatedAt)
	return Outcome{State: next, Message: "saved"}, nil
}

// Settle returns a copy of s with growth credited up to now. A clock that
// went backwards credits nothing.
func Settle(s *game.State, now int64) *game.State {
	next := s.Clone()
	elapsed := now - s.UpdatedAt
	if elapsed <= 0 {
		return next
	}
	elapsed = min(elapsed, MaxGrowthMillis)
	stardustRate, energyRate := GrowthRates(s)
	// Rates are thousandths per second, elapsed is milliseconds.
	next.Resources.Stardust = min(MaxResource, next.Resources.Stardust+stardustRate*elapsed/1_000_000)
	next.Resources.Energy = min(MaxResource, next.Resources.Energy+energyRate*elapsed/1_000_000)
	next.UpdatedAt = now
	return next
}

// GrowthRates returns stardust and energy growth in thousandths of a unit
// per second, research bonuses included.
func GrowthRates(s *game.State) (stardust, energy int64) {
	stardust, energy = BaseStardustRate, BaseEnergyRate
	for _, b := range s.Bodies {
		k, ok := Kind(b.Type)
		if !ok {
			continue
		}
		stardust += k.StardustRate
		energy += k.EnergyRate
	}
	stardust = stardust * int64(100+25*s.Research["asteroid_mining"]) / 100
	energy = energy * int64(100+25*s.Research["stellar_fusion"]) / 100
	return stardust, energy
}

// MaxBodies returns how many bodies s may hold.
func MaxBodies(s *game.State) int {
	return BaseMaxBodies + GravityWellBodies*s.Research["gravity_wells"]
}

// BodyCost returns what a body of bodyType costs in s, research discounts
// included. bodyType must be known.
func BodyCost(s *game.State, bodyType string) game.Resources {
	k, _ := Kind(bodyType)
	pct := int64(100 - 10*s.Research["efficient_construction"])
	return game.Resources{
		Energy:   k.Cost.Energy * pct / 100,
		Stardust: k.Cost.Stardust * pct / 100,
	}
}

// ResearchCost returns what reaching level costs for topic.
func ResearchCost(t Topic, level int) game.Resources {
	n := int64(level) * int64(level)
	return game.Resources{Energy: t.Cost.Energy * n, Stardust: t.Cost.Stardust * n}
}

func spend(r *game.Resources, cost game.Resources, what string) error {
	if r.Stardust < cost.Stardust || r.Energy < cost.Energy {
		return reject(protocol.ReasonInsufficientResource, "not enough resources for %s: need %d stardust and %d energy, have %d and %d",
			what, cost.Stardust, cost.Energy, r.Stardust, r.Energy)
	}
	r.Stardust -= cost.Stardust
	r.Energy -= cost.Energy
	return nil
}

func checkPosition(p game.Vec3) error {
	for _, c := range []float64{p.X, p.Y, p.Z} {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return reject(protocol.ReasonOutOfRange, "position must be finite")
		}
		if math.Abs(c) > WorldRadius {
			return reject(protocol.ReasonOutOfRange, "position out of range: each coordinate must be within ±%g", WorldRadius)
		}
	}
	return nil
}

// ValidateState checks a client-supplied state (SaveGame) against the
// rules: known types and topics, levels and resources in range, body ids
// consistent with their keys, positions valid, at most MaxBodies bodies.
// owner is the garden's owner; a state naming another owner is refused.
func ValidateState(s *game.State, owner string) error {
	if s.Owner != "" && s.Owner != owner {
		return reject(protocol.ReasonInvalidState, "state belongs to %q, not %q", s.Owner, owner)
	}
	r := s.Resources
	if r.Stardust < 0 || r.Energy < 0 {
		return reject(protocol.ReasonInvalidState, "resources must not be negative")
	}
	if r.Stardust > MaxResource || r.Energy > MaxResource {
		return reject(protocol.ReasonInvalidState, "resources must not exceed %d", MaxResource)
	}
	if s.UpdatedAt < 0 || s.UpdatedAt > game.MaxSafeInt {
		return reject(protocol.ReasonInvalidState, "updated_at out of range 0..%d", int64(game.MaxSafeInt))
	}
	for topic, level := range s.Research {
		if _, ok := TopicByName(topic); !ok {
			return reject(protocol.ReasonInvalidState, "unknown research topic %q", truncate(topic))
		}
		if level < 1 || level > MaxResearchLevel {
			return reject(protocol.ReasonInvalidState, "research %s: level %d out of range 1..%d", topic, level, MaxResearchLevel)
		}
	}
	if limit := MaxBodies(s); len(s.Bodies) > limit {
		return reject(protocol.ReasonInvalidState, "too many bodies: %d, at most %d", len(s.Bodies), limit)
	}
	for key, b := range s.Bodies {
		switch {
		case b == nil:
			return reject(protocol.ReasonInvalidState, "body %q is null", truncate(key))
		case b.ID != key:
			return reject(protocol.ReasonInvalidState, "body %q has id %q", truncate(key), truncate(b.ID))
		case key == "" || len(key) > len(BodyIDPrefix)+protocol.MaxIDBytes || !utf8.ValidString(key):
			return reject(protocol.ReasonInvalidState, "body id %q is not valid", truncate(key))
		case b.CreatedAt < 0 || b.CreatedAt > game.MaxSafeInt:
			return reject(protocol.ReasonInvalidState, "body %s: created_at out of range 0..%d", key, int64(game.MaxSafeInt))
		}
		k, ok := Kind(b.Type)
		if !ok {
			return reject(protocol.ReasonInvalidState, "body %s: unknown body type %q", key, truncate(b.Type))
		}
		if k.Requires != "" && s.Research[k.Requires] < 1 {
			return reject(protocol.ReasonInvalidState, "body %s: %s requires research %s", key, b.Type, k.Requires)
		}
		if err := checkPosition(b.Position); err != nil {
			return reject(protocol.ReasonInvalidState, "body %s: %s", key, err.(*Rejection).Message)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:80] + "…"
}
