package game

import (
	"strconv"
)

// decodeEncoded parses b when it is written exactly as Encode writes a
// garden whose strings are printable ASCII without '"' or '\\', and whose
// bodies are not null: the text of nearly every garden, which it reads an
// order of magnitude faster than encoding/json. ok is false for anything
// else (other key order, whitespace, escapes, numbers out of range...),
// which Decode then leaves to encoding/json. When ok, s is what
// json.Unmarshal gives (TestDecodeMatchesEncodingJSON).
func decodeEncoded(b []byte) (s *State, ok bool) {
	d := decoder{b: b}
	s = &State{Bodies: map[string]*Body{}, Research: map[string]int{}}
	if !d.lit(`{"bodies":{`) {
		return nil, false
	}
	for first := true; !d.lit("}"); first = false {
		if !first && !d.lit(",") {
			return nil, false
		}
		id, ok := d.str()
		body := &Body{}
		if !ok || !d.lit(`:{"created_at":`) || !d.int(&body.CreatedAt) ||
			!d.lit(`,"id":`) || !d.strTo(&body.ID) ||
			!d.lit(`,"position":{"x":`) || !d.float(&body.Position.X) ||
			!d.lit(`,"y":`) || !d.float(&body.Position.Y) ||
			!d.lit(`,"z":`) || !d.float(&body.Position.Z) ||
			!d.lit(`},"type":`) || !d.strTo(&body.Type) || !d.lit("}") {
			return nil, false
		}
		s.Bodies[id] = body
	}
	if !d.lit(`,"owner":`) || !d.strTo(&s.Owner) || !d.lit(`,"research":{`) {
		return nil, false
	}
	for first := true; !d.lit("}"); first = false {
		if !first && !d.lit(",") {
			return nil, false
		}
		topic, ok := d.str()
		var level int64
		if !ok || !d.lit(":") || !d.int(&level) || int64(int(level)) != level {
			return nil, false
		}
		s.Research[topic] = int(level)
	}
	if !d.lit(`,"resources":{"energy":`) || !d.int(&s.Resources.Energy) ||
		!d.lit(`,"stardust":`) || !d.int(&s.Resources.Stardust) ||
		!d.lit(`},"updated_at":`) || !d.int(&s.UpdatedAt) || !d.lit("}") || d.i != len(b) {
		return nil, false
	}
	return s, true
}

// decoder reads b from i on; each method reports whether what it reads is
// there, in the form Encode writes it.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// str reads a string of printable ASCII without '"' or '\\', which JSON
// writes as it is.
func (d *decoder) str() (string, bool) {
	if !d.lit(`"`) {
		return "", false
	}
	start := d.i
	for ; d.i < len(d.b) && d.b[d.i] != '"'; d.i++ {
		if c := d.b[d.i]; c < ' ' || c > '~' || c == '\\' {
			return "", false
		}
	}
	s := string(d.b[start:d.i])
	return s, d.lit(`"`)
}

func (d *decoder) strTo(p *string) (ok bool) {
	*p, ok = d.str()
	return ok
}

// number reads a JSON number, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?,
// with fraction and exponent only when frac, and returns its text.
func (d *decoder) number(frac bool) (string, bool) {
	start := d.i
	d.lit("-")
	if !d.lit("0") && (d.i == len(d.b) || d.b[d.i] == '0' || !d.digits()) {
		return "", false
	}
	if frac {
		if d.lit(".") && !d.digits() {
			return "", false
		}
		if d.lit("e") || d.lit("E") {
			if !d.lit("+") {
				d.lit("-")
			}
			if !d.digits() {
				return "", false
			}
		}
	}
	return string(d.b[start:d.i]), true
}

// digits reads one decimal digit or more.
func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}

// int reads an integer as encoding/json decodes one into an int64.
func (d *decoder) int(p *int64) bool {
	n, ok := d.number(false)
	v, err := strconv.ParseInt(n, 10, 64)
	*p = v
	return ok && err == nil
}

// float reads a number as encoding/json decodes one into a float64.
func (d *decoder) float(p *float64) bool {
	n, ok := d.number(true)
	v, err := strconv.ParseFloat(n, 64)
	*p = v
	return ok && err == nil
}
