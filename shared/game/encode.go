package game

import (
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/cosmic-gardener/realtime/shared/internal/jsonenc"
)

// Encoding is the canonical encoding of a state (Encode) together with
// where each body lies in it, so that the encoding of a state derived from
// it, which shares its unchanged bodies by pointer as rules and patches
// do, costs a copy of the unchanged bytes plus the encoding of what
// changed (Derive). An Encoding is immutable and safe for concurrent use.
type Encoding struct {
	state *State
	text  []byte
	// ids are the keys of state.Bodies in byte order, and ends[i] is the
	// offset just past the member "ids[i]":{...} in text, which starts
	// after the comma that follows member i-1. Both nil when state.Bodies
	// is.
	ids  []string
	ends []int32
}

// bodiesStart is the offset of the first body member in an encoding.
const bodiesStart = len(`{"bodies":{`)

// NewEncoding encodes s. It fails as Encode does.
func NewEncoding(s *State) (*Encoding, error) {
	e := &Encoding{state: s, text: []byte("null")}
	if s == nil {
		return e, nil
	}
	b, ok := appendState(make([]byte, 0, 160+130*len(s.Bodies)+32*len(s.Research)), s, e)
	if !ok {
		return nil, refuse(s)
	}
	e.text = b
	return e, nil
}

// State returns the encoded state, which must not be modified.
func (e *Encoding) State() *State { return e.state }

// Bytes returns Encode(e.State()). The caller must not modify them.
func (e *Encoding) Bytes() []byte { return e.text }

// Derive returns the encoding of next, byte-identical to Encode(next)
// (TestDerive). The bodies that next shares by pointer with e.State() are
// copied from e's bytes rather than encoded again; when most bodies
// differ, next is encoded in full.
func (e *Encoding) Derive(next *State) (*Encoding, error) {
	if next == e.state {
		return e, nil
	}
	if e.ids == nil || next == nil || next.Bodies == nil {
		return NewEncoding(next)
	}
	prev := e.state.Bodies
	var changed []string // in next but not in prev, or another pointer
	added := 0
	for id, b := range next.Bodies {
		if ob, ok := prev[id]; !ok || ob != b {
			changed = append(changed, id)
			added += btoi(!ok)
		}
	}
	removals := len(prev)+added > len(next.Bodies)
	if len(changed) > len(e.ids)/2 {
		return NewEncoding(next)
	}
	if len(changed) == 0 && len(prev) == len(next.Bodies) {
		// The same bodies (a settlement, research): copy them at once.
		end := int32(bodiesStart) + 1 // past the closing brace
		if len(e.ends) > 0 {
			end = e.ends[len(e.ends)-1] + 1
		}
		b := append(make([]byte, 0, len(e.text)+64), e.text[:end]...)
		return &Encoding{state: next, text: appendTail(b, next), ids: e.ids, ends: e.ends}, nil
	}
	slices.Sort(changed)
	d := &Encoding{state: next, ids: make([]string, 0, len(next.Bodies)), ends: make([]int32, 0, len(next.Bodies))}
	b := append(make([]byte, 0, len(e.text)+len(e.text)/8+256), e.text[:bodiesStart]...)
	ok := true
	for i, j := 0, 0; i < len(e.ids) || j < len(changed); {
		if len(d.ids) > 0 {
			b = append(b, ',')
		}
		var id string
		if j == len(changed) || i < len(e.ids) && e.ids[i] < changed[j] {
			// An unchanged or removed body of e.
			id = e.ids[i]
			if removals {
				if _, kept := next.Bodies[id]; !kept {
					b = b[:len(b)-min(len(d.ids), 1)] // no member: no comma
					i++
					continue
				}
			}
			start := bodiesStart
			if i > 0 {
				start = int(e.ends[i-1]) + 1
			}
			b = append(b, e.text[start:e.ends[i]]...)
			i++
		} else {
			id = changed[j]
			if i < len(e.ids) && e.ids[i] == id {
				i++
			}
			j++
			var bok bool
			b, bok = appendMember(b, id, next.Bodies[id])
			ok = ok && bok
		}
		d.ids = append(d.ids, id)
		d.ends = append(d.ends, int32(len(b)))
	}
	if !ok {
		return nil, refuse(next)
	}
	d.text = appendTail(append(b, '}'), next)
	return d, nil
}

// refuse returns encoding/json's error for a state the hand-written encoder
// cannot write (a coordinate that is not finite).
func refuse(s *State) error {
	if _, err := encodeJSON(s); err != nil {
		return err
	}
	return errors.New("encode state: a coordinate is not finite")
}

// appendState appends Encode(s) for a non-nil s, recording the bodies in
// e. ok is false if a coordinate is not finite.
func appendState(b []byte, s *State, e *Encoding) ([]byte, bool) {
	ok := true
	b = append(b, `{"bodies":`...)
	if s.Bodies == nil {
		b = append(b, "null"...)
	} else {
		e.ids = sortedKeys(s.Bodies)
		e.ends = make([]int32, len(e.ids))
		b = append(b, '{')
		for i, id := range e.ids {
			if i > 0 {
				b = append(b, ',')
			}
			var bok bool
			b, bok = appendMember(b, id, s.Bodies[id])
			ok = ok && bok
			e.ends[i] = int32(len(b))
		}
		b = append(b, '}')
	}
	return appendTail(b, s), ok
}

// sortedKeys returns the keys of m in byte order, as encoding/json writes
// them.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendTail appends what follows the bodies in Encode(s).
func appendTail(b []byte, s *State) []byte {
	b = jsonenc.AppendString(append(b, `,"owner":`...), s.Owner)
	b = append(b, `,"research":`...)
	if s.Research == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, t := range sortedKeys(s.Research) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(append(jsonenc.AppendString(b, t), ':'), int64(s.Research[t]), 10)
		}
		b = append(b, '}')
	}
	b = strconv.AppendInt(append(b, `,"resources":{"energy":`...), s.Resources.Energy, 10)
	b = strconv.AppendInt(append(b, `,"stardust":`...), s.Resources.Stardust, 10)
	b = strconv.AppendInt(append(b, `},"updated_at":`...), s.UpdatedAt, 10)
	return append(b, '}')
}

// appendMember appends "id":body; ok is false if a coordinate is not
// finite.
func appendMember(b []byte, id string, body *Body) ([]byte, bool) {
	b = append(jsonenc.AppendString(b, id), ':')
	if body == nil {
		return append(b, "null"...), true
	}
	p := body.Position
	if !finite(p.X) || !finite(p.Y) || !finite(p.Z) {
		return b, false
	}
	b = strconv.AppendInt(append(b, `{"created_at":`...), body.CreatedAt, 10)
	b = jsonenc.AppendString(append(b, `,"id":`...), body.ID)
	b = jsonenc.AppendFloat(append(b, `,"position":{"x":`...), p.X)
	b = jsonenc.AppendFloat(append(b, `,"y":`...), p.Y)
	b = jsonenc.AppendFloat(append(b, `,"z":`...), p.Z)
	b = jsonenc.AppendString(append(b, `},"type":`...), body.Type)
	return append(b, '}'), true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
