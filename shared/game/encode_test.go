package game

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The internal tests cannot use shared/internal/gardens (it imports rules,
// which imports game), so they draw their own states: awkward strings and
// numbers, nil maps and bodies, -0 left in place.

var awkwardStrings = []string{"", "b-1", "b-a/b", "b-~0", `b-"q"\`, "b-é😀", "b-\u2028\u2029", "b-<&>", "b-\x00\x1f\b", "b-\xff\xfe", "b-\ufffd"}

func randString(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return awkwardStrings[r.IntN(len(awkwardStrings))] + fmt.Sprint(r.IntN(100))
	}
	return fmt.Sprintf("b-%d", r.IntN(100000))
}

func randFloat(r *rand.Rand) float64 {
	switch r.IntN(7) {
	case 0:
		return math.Copysign(0, -1)
	case 1:
		return math.Float64frombits(r.Uint64() &^ (0x7ff << 52)) // subnormal or zero
	case 2:
		return (r.Float64() - 0.5) * 2e-6
	case 3:
		return (r.Float64() - 0.5) * 1e25
	case 4:
		return float64(r.IntN(2001) - 1000)
	default:
		return (r.Float64()*2 - 1) * 5000
	}
}

func randInt(r *rand.Rand) int64 {
	switch r.IntN(4) {
	case 0:
		return math.MaxInt64 - r.Int64N(3)
	case 1:
		return -r.Int64N(1 << 60)
	default:
		return r.Int64N(1 << 53)
	}
}

func randBody(r *rand.Rand, id string) *Body {
	if r.IntN(50) == 0 {
		return nil
	}
	return &Body{CreatedAt: randInt(r), ID: id, Position: Vec3{randFloat(r), randFloat(r), randFloat(r)}, Type: randString(r)}
}

func randState(r *rand.Rand, n int) *State {
	s := &State{Owner: randString(r), Resources: Resources{randInt(r), randInt(r)}, UpdatedAt: randInt(r)}
	if r.IntN(20) != 0 {
		s.Bodies = map[string]*Body{}
		for range n {
			id := randString(r)
			s.Bodies[id] = randBody(r, id)
		}
	}
	if r.IntN(20) != 0 {
		s.Research = map[string]int{}
		for range r.IntN(6) {
			s.Research[randString(r)] = int(randInt(r))
		}
	}
	return s
}

// mutate returns a copy of s sharing most bodies, as rules and patches
// derive states: bodies added, removed, replaced (sometimes by an equal
// copy), and the other fields changed at random.
func mutate(r *rand.Rand, s *State) *State {
	next := s.Clone()
	ids := make([]string, 0, len(next.Bodies))
	for id := range next.Bodies {
		ids = append(ids, id)
	}
	for range r.IntN(4) {
		switch r.IntN(4) {
		case 0:
			id := randString(r)
			next.Bodies[id] = randBody(r, id)
		case 1:
			if len(ids) > 0 {
				delete(next.Bodies, ids[r.IntN(len(ids))])
			}
		case 2:
			if len(ids) > 0 {
				id := ids[r.IntN(len(ids))]
				if b := next.Bodies[id]; b != nil {
					c := *b
					next.Bodies[id] = &c
				}
			}
		default:
			if len(ids) > 0 {
				id := ids[r.IntN(len(ids))]
				next.Bodies[id] = randBody(r, id)
			}
		}
	}
	if r.IntN(5) == 0 { // a wholesale change: Derive encodes in full
		for _, id := range ids {
			next.Bodies[id] = randBody(r, id)
		}
	}
	if r.IntN(3) == 0 {
		next.Research[randString(r)] = r.IntN(6)
	}
	if r.IntN(2) == 0 {
		next.Resources.Stardust = randInt(r)
	}
	if r.IntN(2) == 0 {
		next.UpdatedAt = randInt(r)
	}
	if r.IntN(10) == 0 {
		next.Owner = randString(r)
	}
	if r.IntN(30) == 0 {
		next.Bodies = nil
	}
	return next
}

// TestEncodeMatchesEncodingJSON: the hand-written encoder writes exactly
// what json.Encoder writes, for states far outside the rules.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		s := randState(r, r.IntN(40))
		want, err := encodeJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d: Encode\n got %s\nwant %s", i, got, want)
		}
		e, err := NewEncoding(s)
		if err != nil || !bytes.Equal(e.Bytes(), want) || e.State() != s {
			t.Fatalf("case %d: NewEncoding = %s, %v", i, e.Bytes(), err)
		}
	}
	if got, _ := Encode(nil); string(got) != "null" {
		t.Errorf("Encode(nil) = %s", got)
	}
}

// TestDerive: along chains of derived states, Derive is byte-identical to
// Encode, and its recorded spans stay right for the next link.
func TestDerive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for chain := range 200 {
		s := randState(r, r.IntN(60))
		e, err := NewEncoding(s)
		if err != nil {
			t.Fatal(err)
		}
		for link := range 8 {
			next := mutate(r, e.State())
			d, err := e.Derive(next)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := encodeJSON(next)
			if !bytes.Equal(d.Bytes(), want) || d.State() != next {
				t.Fatalf("chain %d link %d: Derive\n got %s\nwant %s", chain, link, d.Bytes(), want)
			}
			e = d
		}
		if d, _ := e.Derive(e.State()); d != e {
			t.Fatal("Derive of the same state did not return the same encoding")
		}
	}
}

func TestDeriveRejectsNonFinite(t *testing.T) {
	s := &State{Bodies: map[string]*Body{"a": {ID: "a"}}, Research: map[string]int{}}
	e, err := NewEncoding(s)
	if err != nil {
		t.Fatal(err)
	}
	next := s.Clone()
	next.Bodies["b"] = &Body{ID: "b", Position: Vec3{Y: math.Inf(1)}}
	if _, err := e.Derive(next); err == nil {
		t.Error("Derive accepted +Inf")
	}
	if _, err := NewEncoding(next); err == nil {
		t.Error("NewEncoding accepted +Inf")
	}
	if _, err := Encode(next); err == nil || err.Error() != "encode state: json: unsupported value: +Inf" {
		t.Errorf("Encode error = %v", err)
	}
}

// decodeJSON is Decode through encoding/json, before Normalize.
func decodeJSON(b []byte) (*State, error) {
	var s State
	err := json.Unmarshal(b, &s)
	return &s, err
}

// sameState fails unless a and b encode alike, -0 and nil maps included.
func sameState(t testing.TB, a, b *State, doc []byte) {
	t.Helper()
	ea, errA := encodeJSON(a)
	eb, errB := encodeJSON(b)
	if errA != nil || errB != nil || !bytes.Equal(ea, eb) {
		t.Fatalf("decoding %.300s\nfast    %s\njson    %s", doc, ea, eb)
	}
}

// TestDecodeMatchesEncodingJSON: the fast path of Decode reads what
// encoding/json reads, and takes the text of ordinary gardens.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	fast := 0
	for i := range 600 {
		s := randState(r, r.IntN(30))
		doc, err := encodeJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // mostly plain strings and numbers: the common case
			for id, b := range s.Bodies {
				if b != nil {
					c := *b
					c.ID, c.Type = "b-x", "moon"
					s.Bodies[id] = &c
				}
			}
			doc, _ = encodeJSON(&State{Bodies: map[string]*Body{"b-1": {ID: "b-1", Type: "moon", CreatedAt: int64(i), Position: Vec3{1.5, -2e-7, 3e21}}},
				Research: map[string]int{"gravity_wells": i}, Owner: "alice", UpdatedAt: -int64(i)})
		}
		got, ok := decodeEncoded(doc)
		if !ok {
			continue
		}
		fast++
		want, err := decodeJSON(doc)
		if err != nil {
			t.Fatalf("fast path took %s, which encoding/json refuses: %v", doc, err)
		}
		sameState(t, got, want, doc)
	}
	if fast < 200 {
		t.Errorf("the fast path took only %d of 600 gardens", fast)
	}
	for _, bad := range []string{
		``, `{}`, `{"bodies":{}}`, `{"bodies":{},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3} `,
		`{"bodies":{},"owner":"a","research":{},"resources":{"energy":01,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{},"resources":{"energy":1.0,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{},"resources":{"energy":1e3,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{},"resources":{"energy":99999999999999999999,"stardust":2},"updated_at":3}`,
		`{"bodies":{"b":{"created_at":1,"id":"b","position":{"x":1e400,"y":0,"z":0},"type":"t"}},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{"b":{"created_at":1,"id":"b","position":{"x":.5,"y":0,"z":0},"type":"t"}},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{"b":{"created_at":1,"id":"b","position":{"x":1.,"y":0,"z":0},"type":"t"}},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{"b":{"created_at":1,"id":"b","position":{"x":1e,"y":0,"z":0},"type":"t"}},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{"b":null},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a\u0041","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"é","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{"x":1,},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{"x":9223372036854775808},"resources":{"energy":1,"stardust":2},"updated_at":3}`,
		`{"bodies":{},"owner":"a","research":{},"resources":{"energy":-,"stardust":2},"updated_at":3}`,
	} {
		if s, ok := decodeEncoded([]byte(bad)); ok {
			t.Errorf("fast path took %s: %+v", bad, s)
		}
	}
	ok := `{"bodies":{"b":{"created_at":-0,"id":"b","position":{"x":-0,"y":1E+2,"z":-1.5e-3},"type":"t"},"b":{"created_at":2,"id":"c","position":{"x":0,"y":0,"z":0},"type":"u"}},` +
		`"owner":"a b~/","research":{"x":1,"x":2},"resources":{"energy":-1,"stardust":2},"updated_at":3}`
	got, fine := decodeEncoded([]byte(ok))
	if !fine {
		t.Fatalf("fast path refused %s", ok)
	}
	want, _ := decodeJSON([]byte(ok))
	sameState(t, got, want, []byte(ok))
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		doc, _ := encodeJSON(randState(r, r.IntN(4)))
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, ok := decodeEncoded(doc)
		if !ok {
			return
		}
		want, err := decodeJSON(doc)
		if err != nil {
			t.Fatalf("fast path took %q, which encoding/json refuses: %v", doc, err)
		}
		sameState(t, got, want, doc)
	})
}
