package patch

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// ApplyState applies patch to the garden s, as Apply applies it to
// game.Encode(s), when the patch is of the kind the server emits
// (DiffStates): add, remove and replace of a whole body (/bodies/<id>) or
// of a research level (/research/<topic>), and add or replace of
// /resources/energy, /resources/stardust, /owner and /updated_at, every
// value written as game.Encode writes it. It works on the typed state,
// cloning the maps it changes and sharing the bodies, and decodes nothing
// but the patch.
//
// ok is false for anything else: another path or operation, a value
// written in another form, a member to replace or remove that is missing,
// a state that does not encode canonically (EncodesCanonically) or has a
// nil map or body. The caller then uses Apply, which also explains
// failures. When ok is true, game.Encode(next) is byte-identical to
// Apply(game.Encode(s), patch) (TestApplyStateMatchesApply), and next
// encodes canonically too. s is not modified.
func ApplyState(s *game.State, patch []byte) (next *game.State, ok bool) {
	if len(patch) > MaxPatchBytes || !takesState(s) {
		return nil, false
	}
	var ops []map[string]json.RawMessage
	if json.Unmarshal(patch, &ops) != nil || ops == nil {
		return nil, false
	}
	n := *s
	copied := false // n's maps are its own
	for _, op := range ops {
		var kind, path string
		value, hasValue := op["value"]
		if len(op) != 2+btoi(hasValue) || !stringMember(op, "op", &kind) || !stringMember(op, "path", &path) ||
			(kind == "remove") == hasValue || kind != "add" && kind != "remove" && kind != "replace" {
			return nil, false
		}
		if !copied {
			n.Bodies, n.Research = maps.Clone(n.Bodies), maps.Clone(n.Research)
			copied = true
		}
		if id, found := strings.CutPrefix(path, "/bodies/"); found {
			id, ok := unescapeToken(id)
			if _, exists := n.Bodies[id]; !ok || !exists && kind != "add" {
				return nil, false
			}
			delete(n.Bodies, id)
			if kind != "remove" {
				var b game.Body
				if !decodeExact(value, &b) || !safeInt(b.CreatedAt) || hasNegZero(b.Position) {
					return nil, false
				}
				n.Bodies[id] = &b
			}
			continue
		}
		if topic, found := strings.CutPrefix(path, "/research/"); found {
			topic, ok := unescapeToken(topic)
			if _, exists := n.Research[topic]; !ok || !exists && kind != "add" {
				return nil, false
			}
			delete(n.Research, topic)
			if kind != "remove" {
				level, ok := intValue(value)
				if !ok || int64(int(level)) != level {
					return nil, false
				}
				n.Research[topic] = int(level)
			}
			continue
		}
		if kind == "remove" {
			return nil, false
		}
		if path == "/owner" {
			if !decodeExact(value, &n.Owner) {
				return nil, false
			}
			continue
		}
		v, ok := intValue(value)
		switch {
		case !ok:
			return nil, false
		case path == "/resources/energy":
			n.Resources.Energy = v
		case path == "/resources/stardust":
			n.Resources.Stardust = v
		case path == "/updated_at":
			n.UpdatedAt = v
		default:
			return nil, false
		}
	}
	return &n, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stringMember decodes the string member key of an operation.
func stringMember(op map[string]json.RawMessage, key string, s *string) bool {
	raw, ok := op[key]
	return ok && len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, s) == nil
}

// decodeExact decodes raw into ptr and reports whether encoding what it
// decoded gives raw back byte for byte: raw is written as game.Encode
// writes it (keys in order, none unknown or repeated, numbers and strings
// in canonical form).
func decodeExact(raw json.RawMessage, ptr any) bool {
	if json.Unmarshal(raw, ptr) != nil {
		return false
	}
	enc, err := encodeValue(ptr)
	return err == nil && bytes.Equal(enc, raw)
}

// unescapeToken decodes a JSON Pointer reference token (RFC 6901),
// refusing what json-patch reads otherwise or specially: the empty token,
// a '/', and a '~' not followed by 0 or 1.
func unescapeToken(t string) (string, bool) {
	for i := 0; i < len(t); i++ {
		if t[i] == '/' || t[i] == '~' && (i+1 == len(t) || t[i+1] != '0' && t[i+1] != '1') {
			return "", false
		}
	}
	if strings.IndexByte(t, '~') >= 0 {
		t = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return t, t != ""
}

// intValue reads an integer written as game.Encode writes one that
// canonical form keeps: plain digits, within ±game.MaxSafeInt.
func intValue(raw json.RawMessage) (int64, bool) {
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return v, err == nil && safeInt(v) && strconv.FormatInt(v, 10) == string(raw)
}

// EncodesCanonically reports whether game.Encode(s) is in canonical form,
// that is Canonical(game.Encode(s)) == game.Encode(s): every integer
// within ±game.MaxSafeInt (canonical form rounds larger ones as float64),
// no -0 coordinate, valid UTF-8 in every string. States that game.Decode
// returns and the rules derive from them are, unless a number is out of
// range.
func EncodesCanonically(s *game.State) bool { return encodesCanonically(s, false) }

// takesState reports whether ApplyState works on s: it encodes
// canonically and has no nil map or body, which a patch would see as null
// rather than as part of a garden.
func takesState(s *game.State) bool {
	return s != nil && s.Bodies != nil && s.Research != nil && encodesCanonically(s, true)
}

func encodesCanonically(s *game.State, noNilBody bool) bool {
	ok := utf8.ValidString(s.Owner) && safeInt(s.Resources.Energy) && safeInt(s.Resources.Stardust) && safeInt(s.UpdatedAt)
	for t, level := range s.Research {
		ok = ok && utf8.ValidString(t) && safeInt(int64(level))
	}
	for id, b := range s.Bodies {
		ok = ok && utf8.ValidString(id) && (b == nil && !noNilBody ||
			b != nil && safeInt(b.CreatedAt) && !hasNegZero(b.Position) && utf8.ValidString(b.ID) && utf8.ValidString(b.Type))
	}
	return ok
}

func safeInt(v int64) bool { return v >= -game.MaxSafeInt && v <= game.MaxSafeInt }

func hasNegZero(p game.Vec3) bool {
	return p.X == 0 && math.Signbit(p.X) || p.Y == 0 && math.Signbit(p.Y) || p.Z == 0 && math.Signbit(p.Z)
}
