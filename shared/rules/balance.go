package rules

import (
	"maps"
	"slices"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// Balance constants. docs/protocol.md ("Game balance") documents them for
// client authors; protocol.md §3 sets the floors they must respect.
const (
	// StartStardust and StartEnergy fund a new garden: 200 asteroids' worth
	// (floor: 100).
	StartStardust = 2000
	StartEnergy   = 1000

	// BaseMaxBodies is how many bodies a garden holds before research
	// (floor: 500). Each gravity_wells level adds GravityWellBodies.
	BaseMaxBodies     = 1000
	GravityWellBodies = 200

	// WorldRadius bounds every coordinate of a position (floor: 1000).
	WorldRadius = 5000.0

	// MaxResource caps each resource so that growth cannot overflow and a
	// saved state cannot claim absurd wealth.
	MaxResource = 1_000_000_000

	// MaxGrowthMillis caps how much elapsed time one settlement credits
	// (7 days), bounding the work and the windfall after a long absence.
	MaxGrowthMillis = 7 * 24 * 3600 * 1000

	// MaxResearchLevel is the highest level of every topic.
	MaxResearchLevel = 5

	// BodyIDPrefix is prepended to an action id to form the id of the body it
	// creates, so a replayed action yields the same body id.
	BodyIDPrefix = "b-"
)

// BodyKind describes one body type.
type BodyKind struct {
	Cost game.Resources
	// StardustRate and EnergyRate are what one body of this kind adds to
	// growth, in thousandths of a unit per second.
	StardustRate int64
	EnergyRate   int64
	// Requires names a research topic that must be at level ≥ 1 first;
	// empty when always available.
	Requires string
}

// bodyKinds lists every body type. The six of protocol.md §3 need no research.
// Read-only: use Kind and BodyTypes.
var bodyKinds = map[string]BodyKind{
	"asteroid":   {Cost: game.Resources{Stardust: 10}, StardustRate: 200},
	"moon":       {Cost: game.Resources{Stardust: 25, Energy: 5}, EnergyRate: 100},
	"comet":      {Cost: game.Resources{Stardust: 30, Energy: 10}, StardustRate: 400},
	"planet":     {Cost: game.Resources{Stardust: 60, Energy: 20}, StardustRate: 500, EnergyRate: 200},
	"nebula":     {Cost: game.Resources{Stardust: 100, Energy: 40}, StardustRate: 1500},
	"star":       {Cost: game.Resources{Stardust: 150, Energy: 60}, EnergyRate: 1000},
	"black_hole": {Cost: game.Resources{Stardust: 400, Energy: 200}, StardustRate: 3000, EnergyRate: 3000, Requires: "singularity_theory"},
}

// Topic describes one research topic. Level n (1-based) costs n² × Cost.
type Topic struct {
	Cost   game.Resources
	Effect string // for documentation and the UI
}

// topics lists every research topic. Read-only: use TopicByName and
// TopicNames.
var topics = map[string]Topic{
	"stellar_fusion":         {Cost: game.Resources{Energy: 50}, Effect: "+25% energy growth per level"},
	"asteroid_mining":        {Cost: game.Resources{Energy: 50}, Effect: "+25% stardust growth per level"},
	"gravity_wells":          {Cost: game.Resources{Stardust: 100, Energy: 100}, Effect: "+200 body capacity per level"},
	"efficient_construction": {Cost: game.Resources{Stardust: 150, Energy: 75}, Effect: "-10% body cost per level"},
	"singularity_theory":     {Cost: game.Resources{Stardust: 500, Energy: 400}, Effect: "unlocks black_hole"},
}

// Base growth of every garden, thousandths of a unit per second.
const (
	BaseStardustRate = 1000
	BaseEnergyRate   = 500
)

// Kind returns the description of a body type.
func Kind(bodyType string) (BodyKind, bool) {
	k, ok := bodyKinds[bodyType]
	return k, ok
}

// BodyTypes returns every body type, sorted.
func BodyTypes() []string { return slices.Sorted(maps.Keys(bodyKinds)) }

// TopicByName returns the description of a research topic.
func TopicByName(name string) (Topic, bool) {
	t, ok := topics[name]
	return t, ok
}

// TopicNames returns every research topic, sorted.
func TopicNames() []string { return slices.Sorted(maps.Keys(topics)) }
