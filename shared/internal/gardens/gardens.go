// Package gardens generates random gardens for property tests and
// benchmarks of the shared packages. Only _test.go files may import it
// (TestPurity checks): it draws random numbers.
package gardens

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// Rand returns a deterministic generator for seed.
func Rand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)) }

// awkwardIDs exercise JSON Pointer escaping and canonical key order.
var awkwardIDs = []string{"b-a/b", "b-~0", "b-~1/~", "b-é", "b-😀", "b-\u2028", "b-<&>", "b-", "b-\"q\""}

// Random returns a valid, normalized garden with n bodies whose numbers
// cover the awkward cases of the canonical encoding: -0 (normalized away),
// fractions, tiny and large coordinates, integers up to game.MaxSafeInt.
func Random(r *rand.Rand, n int) *game.State {
	owners := []string{"alice", "bob", "ü/~x", "<script>"}
	s := &game.State{
		Bodies:   make(map[string]*game.Body, n),
		Owner:    owners[r.IntN(len(owners))],
		Research: map[string]int{},
		Resources: game.Resources{
			Energy:   r.Int64N(rules.MaxResource + 1),
			Stardust: r.Int64N(rules.MaxResource + 1),
		},
		UpdatedAt: randInt(r),
	}
	for _, t := range rules.TopicNames() {
		if r.IntN(2) == 0 {
			s.Research[t] = 1 + r.IntN(rules.MaxResearchLevel)
		}
	}
	s.Research["singularity_theory"] = 1 // black_hole bodies are allowed
	for i := range n {
		id := fmt.Sprintf("b-%d", i)
		if r.IntN(10) == 0 {
			id = awkwardIDs[r.IntN(len(awkwardIDs))] + id
		}
		s.Bodies[id] = RandomBody(r, id)
	}
	s.Normalize()
	return s
}

// RandomBody returns a body with id and random content. Its position may
// hold -0: Normalize the state it goes into.
func RandomBody(r *rand.Rand, id string) *game.Body {
	types := rules.BodyTypes()
	return &game.Body{
		CreatedAt: randInt(r),
		ID:        id,
		Position:  game.Vec3{X: coord(r), Y: coord(r), Z: coord(r)},
		Type:      types[r.IntN(len(types))],
	}
}

func randInt(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return game.MaxSafeInt - r.Int64N(3)
	case 1:
		return r.Int64N(1000)
	default:
		return 1_600_000_000_000 + r.Int64N(1_000_000_000_000)
	}
}

func coord(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return float64(r.IntN(2001) - 1000)
	case 2:
		return (r.Float64() - 0.5) * 2e-6 // exponent form
	case 3:
		return rules.WorldRadius * float64(1-2*r.IntN(2))
	default:
		return (r.Float64()*2 - 1) * rules.WorldRadius
	}
}

// Mutate returns a copy of s with changes: about frac of the bodies
// replaced (half of the replacements with identical content under a new
// pointer, which is no change), removed or added, plus research, resources,
// owner and updated_at changes at random. At least one body changes when s
// has bodies and frac > 0. Unchanged bodies are shared, as rules do.
func Mutate(r *rand.Rand, s *game.State, frac float64) *game.State {
	next := s.Clone()
	ids := make([]string, 0, len(next.Bodies))
	for id := range next.Bodies {
		ids = append(ids, id)
	}
	slices.Sort(ids) // map order is random per run

	k := int(math.Ceil(frac * float64(len(ids))))
	for i := 0; i < k; i++ {
		id := ids[r.IntN(len(ids))]
		switch r.IntN(4) {
		case 0:
			delete(next.Bodies, id)
		case 1:
			if b, ok := next.Bodies[id]; ok {
				c := *b // same content, new pointer
				next.Bodies[id] = &c
			}
		case 2:
			next.Bodies[id] = RandomBody(r, id)
		default:
			nid := fmt.Sprintf("%s+%d", id, r.IntN(1000))
			next.Bodies[nid] = RandomBody(r, nid)
		}
	}
	if r.IntN(3) == 0 {
		t := rules.TopicNames()[r.IntN(len(rules.TopicNames()))]
		if t != "singularity_theory" {
			if r.IntN(3) == 0 {
				delete(next.Research, t)
			} else {
				next.Research[t] = 1 + r.IntN(rules.MaxResearchLevel)
			}
		}
	}
	if r.IntN(2) == 0 {
		next.Resources.Stardust = r.Int64N(rules.MaxResource + 1)
	}
	if r.IntN(2) == 0 {
		next.Resources.Energy = r.Int64N(rules.MaxResource + 1)
	}
	if r.IntN(2) == 0 {
		next.UpdatedAt = randInt(r)
	}
	if r.IntN(10) == 0 {
		next.Owner += "2"
	}
	next.Normalize()
	return next
}

// ChangeOne returns a copy of s with one new body, as a CreateCelestialBody
// makes, and the resources and updated_at an action settles.
func ChangeOne(r *rand.Rand, s *game.State) *game.State {
	next := s.Clone()
	id := fmt.Sprintf("b-new-%d", r.IntN(1_000_000))
	next.Bodies[id] = RandomBody(r, id)
	next.Resources.Stardust -= min(10, next.Resources.Stardust)
	next.UpdatedAt++
	next.Normalize()
	return next
}

// Pair returns two gardens of at most n bodies for diff properties, in turn
// (by i) a mutation of the first, a one-body change, or an unrelated garden.
func Pair(r *rand.Rand, i, n int) (a, b *game.State) {
	a = Random(r, r.IntN(n))
	switch i % 3 {
	case 0:
		b = Mutate(r, a, 0.3)
	case 1:
		b = ChangeOne(r, a)
	default:
		b = Random(r, r.IntN(n))
	}
	return a, b
}
