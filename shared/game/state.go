package game

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
)

// Vec3 is a position in garden space. Units are arbitrary; the rules bound
// each coordinate (see rules.WorldRadius).
type Vec3 struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	Z float64 `json:"z"`
}

// Normalized returns v with every -0 coordinate replaced by 0. The
// canonical encoding writes -0 as 0 (package patch), so a state never holds
// -0: Encode would write "-0" and the two encodings would disagree.
func (v Vec3) Normalized() Vec3 {
	// A comparison, not v.X + 0, which a compiler could fold away.
	if v.X == 0 {
		v.X = 0
	}
	if v.Y == 0 {
		v.Y = 0
	}
	if v.Z == 0 {
		v.Z = 0
	}
	return v
}

// MaxSafeInt is the largest integer a state may hold (2^53 - 1): canonical
// numbers are float64 values, as in JavaScript, and a larger integer would
// not survive the round trip (rules.ValidateState enforces it).
const MaxSafeInt = 1<<53 - 1

// Resources are the garden's spendable amounts, in whole units.
//
// Fields are declared in alphabetical order so that encoding/json emits the
// canonical key order (see Encode).
type Resources struct {
	Energy   int64 `json:"energy"`
	Stardust int64 `json:"stardust"`
}

// Body is one celestial body. Bodies are immutable once created; a changed
// body is a new *Body.
type Body struct {
	CreatedAt int64  `json:"created_at"` // Unix milliseconds
	ID        string `json:"id"`
	Position  Vec3   `json:"position"`
	Type      string `json:"type"`
}

// State is one garden. The zero value is not a valid garden: use New.
//
// Fields are in alphabetical JSON-name order: Encode relies on it.
type State struct {
	// Bodies maps body id to body. Never nil.
	Bodies map[string]*Body `json:"bodies"`
	// Owner is the user id (JWT sub) the garden belongs to.
	Owner string `json:"owner"`
	// Research maps topic to level (≥ 1). Never nil.
	Research map[string]int `json:"research"`
	// Resources available now, as of UpdatedAt.
	Resources Resources `json:"resources"`
	// UpdatedAt is when growth was last settled, Unix milliseconds. Growth
	// between UpdatedAt and the next action is settled by that action
	// (protocol.md §3: a garden changes only through actions).
	UpdatedAt int64 `json:"updated_at"`
}

// Clone returns a shallow copy whose maps may be modified without touching
// s. Bodies are shared: they are immutable.
func (s *State) Clone() *State {
	c := *s
	c.Bodies = maps.Clone(s.Bodies)
	if c.Bodies == nil {
		c.Bodies = map[string]*Body{}
	}
	c.Research = maps.Clone(s.Research)
	if c.Research == nil {
		c.Research = map[string]int{}
	}
	return &c
}

// Normalize replaces nil maps with empty ones, so that a decoded state
// encodes as `{}` rather than `null` and JSON Patch paths into it exist, and
// replaces bodies positioned at -0 with copies at 0 (see Vec3.Normalized).
// Call it on a state just decoded, before it is shared.
func (s *State) Normalize() {
	if s.Bodies == nil {
		s.Bodies = map[string]*Body{}
	}
	if s.Research == nil {
		s.Research = map[string]int{}
	}
	for id, b := range s.Bodies {
		if hasNegZero(b) {
			c := *b
			c.Position = c.Position.Normalized()
			s.Bodies[id] = &c
		}
	}
}

// hasNegZero reports whether b is at a -0 coordinate, which == cannot see.
func hasNegZero(b *Body) bool {
	if b == nil {
		return false
	}
	for _, c := range [3]float64{b.Position.X, b.Position.Y, b.Position.Z} {
		if c == 0 && math.Signbit(c) {
			return true
		}
	}
	return false
}

// Encode returns the canonical encoding of s: compact JSON, object keys in
// byte order, no HTML escaping, numbers as encoding/json writes float64 and
// int64. For a normalized state (see Normalize) whose integers are within
// ±MaxSafeInt, it equals Canonical(json.Marshal(s)), which
// TestEncodeIsCanonical checks, so the server can hash its own encoding
// without a second pass.
//
// The bytes are those of json.Encoder with SetEscapeHTML(false), written
// without reflection (TestEncodeMatchesEncodingJSON); a non-finite
// coordinate is refused with encoding/json's error.
func Encode(s *State) ([]byte, error) {
	e, err := NewEncoding(s)
	if err != nil {
		return nil, err
	}
	return e.text, nil
}

// encodeJSON is Encode through encoding/json: the reference that the
// hand-written encoder matches, and the source of its errors.
func encodeJSON(s *State) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode parses a state and normalizes it. It does not validate the rules:
// see rules.ValidateState. Text written as Encode writes it takes a fast
// path with encoding/json's result; any other goes through encoding/json.
func Decode(b []byte) (*State, error) {
	if s, ok := decodeEncoded(b); ok {
		s.Normalize()
		return s, nil
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	s.Normalize()
	return &s, nil
}

// Hash is the lowercase hex SHA-256 digest of a canonical encoding: the
// `hash` of protocol.md §4.
func Hash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}
