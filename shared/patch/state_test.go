package patch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/gardens"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/patch/diff"
)

func encode(tb testing.TB, s *game.State) []byte {
	tb.Helper()
	b, err := game.Encode(s)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}

// TestDiffProperty: for random pairs of gardens, both DiffStates and the
// generic diff produce a patch that Apply (and ApplyState, when it takes
// it) takes from Encode(a) to exactly Encode(b).
func TestDiffProperty(t *testing.T) {
	r := gardens.Rand(1)
	for i := range 300 {
		a, b := gardens.Pair(r, i, 40)
		ea, eb := encode(t, a), encode(t, b)
		for name, mk := range map[string]func() ([]byte, error){
			"DiffStates": func() ([]byte, error) { return patch.DiffStates(a, b) },
			"Diff":       func() ([]byte, error) { return diff.JSON(ea, eb) },
		} {
			p, err := mk()
			if err != nil {
				t.Fatalf("case %d: %s: %v", i, name, err)
			}
			out, err := patch.Apply(ea, p)
			if err != nil {
				t.Fatalf("case %d: Apply(a, %s): %v\npatch %s", i, name, err, p)
			}
			if !bytes.Equal(out, eb) {
				t.Fatalf("case %d: Apply(a, %s(a, b)) != b\npatch %s\n got %s\nwant %s", i, name, p, out, eb)
			}
			// The client's fast path takes the patch or leaves it to Apply,
			// never gets it wrong.
			if next, ok := patch.ApplyState(a, p); ok && !bytes.Equal(encode(t, next), eb) {
				t.Fatalf("case %d: ApplyState(a, %s(a, b)) != b\npatch %s", i, name, p)
			}
			if c, _ := patch.Canonical(p); !bytes.Equal(c, p) {
				t.Fatalf("case %d: %s patch is not canonical: %s", i, name, p)
			}
		}
	}
}

func TestDiffStatesIdentical(t *testing.T) {
	r := gardens.Rand(2)
	a := gardens.Random(r, 20)
	same := gardens.Mutate(r, a, 0) // a copy sharing every body
	same.Resources, same.UpdatedAt, same.Owner = a.Resources, a.UpdatedAt, a.Owner
	same.Research = a.Research
	for _, b := range []*game.State{a, same} {
		p, err := patch.DiffStates(a, b)
		if err != nil || string(p) != "[]" {
			t.Errorf("DiffStates(a, a) = %s, %v; want []", p, err)
		}
	}
}

// TestDiffStatesOps pins the exact operations DiffStates emits: whole
// bodies, escaped ids, in a fixed order.
func TestDiffStatesOps(t *testing.T) {
	body := func(id string, x float64) *game.Body {
		return &game.Body{CreatedAt: 1, ID: id, Position: game.Vec3{X: x}, Type: "moon"}
	}
	keep, gone, moved := body("b-keep", 1), body("b-gone", 2), body("b-a/~", 3)
	a := &game.State{
		Bodies:    map[string]*game.Body{"b-keep": keep, "b-gone": gone, "b-a/~": moved},
		Owner:     "alice",
		Research:  map[string]int{"gravity_wells": 1, "stellar_fusion": 2},
		Resources: game.Resources{Energy: 5, Stardust: 6},
		UpdatedAt: 7,
	}
	b := &game.State{
		Bodies:    map[string]*game.Body{"b-keep": keep, "b-a/~": body("b-a/~", 4), "b-new": body("b-new", 0.5)},
		Owner:     "alice",
		Research:  map[string]int{"gravity_wells": 2, "asteroid_mining": 1},
		Resources: game.Resources{Energy: 5, Stardust: 1},
		UpdatedAt: 8,
	}
	got, err := patch.DiffStates(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"replace","path":"/bodies/b-a~1~0","value":{"created_at":1,"id":"b-a/~","position":{"x":4,"y":0,"z":0},"type":"moon"}},` +
		`{"op":"remove","path":"/bodies/b-gone"},` +
		`{"op":"add","path":"/bodies/b-new","value":{"created_at":1,"id":"b-new","position":{"x":0.5,"y":0,"z":0},"type":"moon"}},` +
		`{"op":"add","path":"/research/asteroid_mining","value":1},` +
		`{"op":"replace","path":"/research/gravity_wells","value":2},` +
		`{"op":"remove","path":"/research/stellar_fusion"},` +
		`{"op":"replace","path":"/resources/stardust","value":1},` +
		`{"op":"replace","path":"/updated_at","value":8}]`
	if string(got) != want {
		t.Errorf("DiffStates\n got %s\nwant %s", got, want)
	}
}

func TestEncodeOps(t *testing.T) {
	got := patch.EncodeOps([]patch.Op{
		{Op: "add", Path: "/a<&>", Value: json.RawMessage(`"<\u2028>"`)},
		{Op: "remove", Path: "/b", Value: json.RawMessage(`1`)}, // ignored
	})
	want := `[{"op":"add","path":"/a<&>","value":"<\u2028>"},{"op":"remove","path":"/b"}]`
	if string(got) != want {
		t.Errorf("EncodeOps\n got %s\nwant %s", got, want)
	}
	if got := patch.EncodeOps(nil); string(got) != "[]" {
		t.Errorf("EncodeOps(nil) = %s, want []", got)
	}
}

func TestApplyLimits(t *testing.T) {
	big := bytes.Repeat([]byte(" "), patch.MaxPatchBytes+1)
	big[0] = '['
	if _, err := patch.Apply([]byte(`{}`), big); err == nil {
		t.Error("Apply accepted a patch larger than MaxPatchBytes")
	}
	// A patch that keeps copying a document onto itself must stop.
	doc := []byte(`{"a":"` + string(bytes.Repeat([]byte("x"), 1<<16)) + `"}`)
	var ops []string
	for i := range 40 {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/a","path":"/c%d"}`, i))
	}
	p := "[" + joinComma(ops) + "]"
	if _, err := patch.Apply(doc, []byte(p)); err == nil {
		t.Error("Apply accepted copies beyond the copy size limit")
	}
}

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}

// Benchmarks. Targets (issue): a one-change diff of a 500-body garden in
// at most 50 µs, and a patch of at most 2 % of the full-state bytes.

var sizes = []int{50, 500, 5000}

type pair struct {
	name string
	a, b *game.State
}

func pairs(n int) []pair {
	r := gardens.Rand(uint64(n))
	a := gardens.Random(r, n)
	return []pair{
		{fmt.Sprintf("bodies=%d/one-change", n), a, gardens.ChangeOne(r, a)},
		{fmt.Sprintf("bodies=%d/10pct-changed", n), a, gardens.Mutate(r, a, 0.1)},
	}
}

func BenchmarkDiffStates(b *testing.B) {
	for _, n := range sizes {
		for _, p := range pairs(n) {
			b.Run(p.name, func(b *testing.B) {
				b.ReportAllocs()
				var out []byte
				for b.Loop() {
					var err error
					if out, err = patch.DiffStates(p.a, p.b); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out)), "patch-bytes")
				b.ReportMetric(float64(len(encode(b, p.b))), "state-bytes")
			})
		}
	}
}

func BenchmarkDiff(b *testing.B) {
	for _, n := range sizes {
		for _, p := range pairs(n) {
			ea, eb := encode(b, p.a), encode(b, p.b)
			b.Run(p.name, func(b *testing.B) {
				b.ReportAllocs()
				var out []byte
				for b.Loop() {
					var err error
					if out, err = diff.JSON(ea, eb); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out)), "patch-bytes")
				b.ReportMetric(float64(len(eb)), "state-bytes")
			})
		}
	}
}

func BenchmarkApply(b *testing.B) {
	for _, n := range sizes {
		for _, p := range pairs(n) {
			ea := encode(b, p.a)
			d, err := patch.DiffStates(p.a, p.b)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(p.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := patch.Apply(ea, d); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(d)), "patch-bytes")
				b.ReportMetric(float64(len(ea)), "state-bytes")
			})
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, n := range sizes {
		s := gardens.Random(gardens.Rand(uint64(n)), n)
		b.Run(fmt.Sprintf("bodies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var out []byte
			for b.Loop() {
				var err error
				if out, err = game.Encode(s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out)), "state-bytes")
		})
	}
}

func BenchmarkCanonical(b *testing.B) {
	for _, n := range sizes {
		doc := encode(b, gardens.Random(gardens.Rand(uint64(n)), n))
		b.Run(fmt.Sprintf("bodies=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := patch.Canonical(doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(doc)), "state-bytes")
		})
	}
}

func BenchmarkApplyState(b *testing.B) {
	for _, n := range sizes {
		for _, p := range pairs(n) {
			d, err := patch.DiffStates(p.a, p.b)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(p.name, func(b *testing.B) {
				if _, ok := patch.ApplyState(p.a, d); !ok {
					// The random garden holds an integer canonical form
					// rounds (near game.MaxSafeInt): Apply's business.
					b.Skip("ApplyState leaves this pair to Apply")
				}
				b.ReportAllocs()
				for b.Loop() {
					patch.ApplyState(p.a, d)
				}
				b.ReportMetric(float64(len(d)), "patch-bytes")
			})
		}
	}
}
