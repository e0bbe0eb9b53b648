package game_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/gardens"
	"github.com/cosmic-gardener/realtime/shared/patch"
)

// TestEncodeIsCanonical: for random normalized gardens, Encode equals the
// canonical form of json.Marshal, so the server may hash its own encoding.
func TestEncodeIsCanonical(t *testing.T) {
	r := gardens.Rand(7)
	for i := range 200 {
		s := gardens.Random(r, r.IntN(60))
		enc, err := game.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		m, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		can, err := patch.Canonical(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, can) {
			t.Fatalf("case %d: Encode != Canonical(json.Marshal)\nencode    %s\ncanonical %s", i, enc, can)
		}
		back, err := game.Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := game.Encode(back); !bytes.Equal(again, enc) {
			t.Fatalf("case %d: Decode/Encode round trip changed the state", i)
		}
	}
}

func TestEncodeExact(t *testing.T) {
	s := &game.State{
		Bodies: map[string]*game.Body{
			"b-<&>": {CreatedAt: game.MaxSafeInt, ID: "b-<&>", Position: game.Vec3{X: 0.1, Y: -2.5, Z: 1e-7}, Type: "moon"},
			"b-a":   {CreatedAt: 1, ID: "b-a", Position: game.Vec3{X: 1e21}, Type: "star"},
		},
		Owner:     "al\u2028ice",
		Research:  map[string]int{"stellar_fusion": 2, "gravity_wells": 1},
		Resources: game.Resources{Energy: 1, Stardust: 2},
		UpdatedAt: 3,
	}
	want := `{"bodies":{"b-<&>":{"created_at":9007199254740991,"id":"b-<&>","position":{"x":0.1,"y":-2.5,"z":1e-7},"type":"moon"},` +
		`"b-a":{"created_at":1,"id":"b-a","position":{"x":1e+21,"y":0,"z":0},"type":"star"}},` +
		`"owner":"al\u2028ice","research":{"gravity_wells":1,"stellar_fusion":2},"resources":{"energy":1,"stardust":2},"updated_at":3}`
	got, err := game.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("Encode\n got %s\nwant %s", got, want)
	}
}

func TestEncodeRejectsNonFinite(t *testing.T) {
	s := &game.State{Bodies: map[string]*game.Body{"b": {ID: "b", Position: game.Vec3{X: math.NaN()}}}}
	if _, err := game.Encode(s); err == nil {
		t.Error("Encode accepted NaN")
	}
}

func TestNormalize(t *testing.T) {
	negZero := math.Copysign(0, -1)
	shared := &game.Body{ID: "b-1", Position: game.Vec3{X: negZero, Y: 1, Z: negZero}, Type: "moon"}
	plain := &game.Body{ID: "b-2", Position: game.Vec3{X: 1}, Type: "moon"}
	s := &game.State{Bodies: map[string]*game.Body{"b-1": shared, "b-2": plain, "b-3": nil}}
	s.Normalize()
	if s.Research == nil {
		t.Error("Normalize left Research nil")
	}
	got := s.Bodies["b-1"]
	if got == shared {
		t.Error("Normalize modified a body in place instead of replacing it")
	}
	if math.Signbit(got.Position.X) || math.Signbit(got.Position.Z) || got.Position.Y != 1 {
		t.Errorf("Normalize left %+v", got.Position)
	}
	if !math.Signbit(shared.Position.X) {
		t.Error("Normalize changed the original body")
	}
	if s.Bodies["b-2"] != plain {
		t.Error("Normalize replaced a body without -0")
	}
	var empty game.State
	empty.Normalize()
	if enc, _ := game.Encode(&empty); string(enc) != `{"bodies":{},"owner":"","research":{},"resources":{"energy":0,"stardust":0},"updated_at":0}` {
		t.Errorf("normalized zero state encodes as %s", enc)
	}
}

func TestDecode(t *testing.T) {
	s, err := game.Decode([]byte(`{"owner":"a","bodies":{"b-1":{"id":"b-1","position":{"x":-0,"y":0,"z":0},"type":"moon"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := game.Encode(s)
	if want := `{"bodies":{"b-1":{"created_at":0,"id":"b-1","position":{"x":0,"y":0,"z":0},"type":"moon"}},"owner":"a","research":{},"resources":{"energy":0,"stardust":0},"updated_at":0}`; string(enc) != want {
		t.Errorf("Decode then Encode\n got %s\nwant %s", enc, want)
	}
	for _, bad := range []string{``, `[]`, `{"resources":{"energy":"x"}}`, `{"updated_at":1.5}`} {
		if _, err := game.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func TestClone(t *testing.T) {
	b := &game.Body{ID: "b-1"}
	s := &game.State{Bodies: map[string]*game.Body{"b-1": b}, Research: map[string]int{"x": 1}}
	c := s.Clone()
	c.Bodies["b-2"] = &game.Body{ID: "b-2"}
	c.Research["x"] = 2
	if len(s.Bodies) != 1 || s.Research["x"] != 1 {
		t.Error("Clone shares maps with the original")
	}
	if c.Bodies["b-1"] != b {
		t.Error("Clone copied an immutable body")
	}
	if z := (&game.State{}).Clone(); z.Bodies == nil || z.Research == nil {
		t.Error("Clone of a zero state has nil maps")
	}
}

func TestHash(t *testing.T) {
	// SHA-256 test vectors from FIPS 180-2.
	for in, want := range map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		if got := game.Hash([]byte(in)); got != want {
			t.Errorf("Hash(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestVec3Normalized(t *testing.T) {
	v := game.Vec3{X: math.Copysign(0, -1), Y: -1, Z: 0}.Normalized()
	if math.Signbit(v.X) || v.Y != -1 || math.Signbit(v.Z) {
		t.Errorf("Normalized = %+v", v)
	}
}

// BenchmarkDerive: encoding a garden one change away from an encoded one,
// against encoding it in full (BenchmarkEncode in package patch).
func BenchmarkDerive(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		r := gardens.Rand(uint64(n))
		s := gardens.Random(r, n)
		e, err := game.NewEncoding(s)
		if err != nil {
			b.Fatal(err)
		}
		next := gardens.ChangeOne(r, s)
		b.Run(fmt.Sprintf("bodies=%d/one-change", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Derive(next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
