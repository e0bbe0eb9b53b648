package patch

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/gardens"
	"github.com/cosmic-gardener/realtime/shared/internal/vectors"
)

// sameAsGeneric fails unless ApplyState, when it takes p, gives what Apply
// gives for game.Encode(s). It reports whether ApplyState took p.
func sameAsGeneric(t testing.TB, s *game.State, p []byte) (fast bool) {
	t.Helper()
	next, ok := ApplyState(s, p)
	if !ok {
		return false
	}
	doc := encode(t, s)
	want, err := Apply(doc, p)
	if got := encode(t, next); err != nil || !bytes.Equal(got, want) || !EncodesCanonically(next) {
		t.Fatalf("ApplyState and Apply disagree\ndoc   %.300s\npatch %s\n got %s\nwant %s (%v)", doc, p, got, want, err)
	}
	return true
}

// trickyOps are operations at the edge of ApplyState's fast path: each
// must either take it with the generic result or be left to Apply.
func trickyOps(r *rand.Rand, s *game.State) []string {
	ids := make([]string, 0, len(s.Bodies))
	for id := range s.Bodies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	id := "b-none"
	if len(ids) > 0 {
		id = escapePointer(ids[r.IntN(len(ids))])
	}
	body, _ := encodeValue(gardens.RandomBody(r, "b-x"))
	bs := string(body)
	return []string{
		`{"op":"replace","path":"/bodies/b-missing","value":` + bs + `}`,
		`{"op":"remove","path":"/bodies/b-missing"}`,
		`{"op":"remove","path":"/bodies/` + id + `"}`,
		`{"op":"replace","path":"/bodies/` + id + `","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/` + id + `","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/` + id + `","value":null}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":1,"id":"b-x","position":{"x":-0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":1,"id":"b-x","position":{"x":1.0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":9007199254740993,"id":"b-x","position":{"x":0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"id":"b-x","created_at":1,"position":{"x":0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":1,"id":"b-x","position":{"x":0,"y":0,"z":0},"type":"moon","extra":1}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"CREATED_AT":1,"id":"b-x","position":{"x":0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":1,"id":"b-\u00e9","position":{"x":0,"y":0,"z":0},"type":"moon"}}`,
		`{"op":"add","path":"/bodies/b-x","value":{"created_at":1,"id":"b-é","position":{"x":0,"y":0,"z":0},"type":"\u2028"}}`,
		`{"op":"add","path":"/bodies/b-~01","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/b-~2","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/b-~","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/","value":` + bs + `}`,
		`{"op":"replace","path":"/bodies/","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/-","value":` + bs + `}`,
		`{"op":"add","path":"/bodies/b-x/id","value":"b-y"}`,
		`{"op":"add","path":"/bodies","value":{}}`,
		`{"op":"add","path":"/bodies/b-x","value":` + bs + `,"from":"/owner"}`,
		`{"OP":"add","path":"/bodies/b-x","value":` + bs + `}`,
		`{"op":"add","op":"remove","path":"/bodies/` + id + `"}`,
		`{"op":"remove","path":"/bodies/` + id + `","value":1}`,
		`{"op":"add","path":"/bodies/b-x"}`,
		`{"op":"test","path":"/owner","value":"alice"}`,
		`{"op":"copy","from":"/bodies/` + id + `","path":"/bodies/b-copy"}`,
		`{"op":"move","from":"/bodies/` + id + `","path":"/bodies/b-moved"}`,
		`{"op":"replace","path":"/research/gravity_wells","value":3}`,
		`{"op":"add","path":"/research/gravity_wells","value":2}`,
		`{"op":"add","path":"/research/new~1topic","value":1}`,
		`{"op":"remove","path":"/research/singularity_theory"}`,
		`{"op":"remove","path":"/research/nope"}`,
		`{"op":"add","path":"/research/x","value":1.5}`,
		`{"op":"add","path":"/research/x","value":"1"}`,
		`{"op":"add","path":"/research/x","value":-0}`,
		`{"op":"add","path":"/research/x","value":01}`,
		`{"op":"replace","path":"/resources/energy","value":12}`,
		`{"op":"add","path":"/resources/stardust","value":0}`,
		`{"op":"replace","path":"/resources/energy","value":1e3}`,
		`{"op":"replace","path":"/resources/energy","value":9007199254740992}`,
		`{"op":"replace","path":"/resources/energy","value":null}`,
		`{"op":"remove","path":"/resources/energy"}`,
		`{"op":"add","path":"/resources/other","value":1}`,
		`{"op":"replace","path":"/resources","value":{"energy":1,"stardust":2}}`,
		`{"op":"replace","path":"/owner","value":"bob"}`,
		`{"op":"replace","path":"/owner","value":"<b\u00e9>"}`,
		`{"op":"replace","path":"/owner","value":"a\u2028"}`,
		`{"op":"replace","path":"/owner","value":"\ud800"}`,
		`{"op":"replace","path":"/owner","value":7}`,
		`{"op":"remove","path":"/owner"}`,
		`{"op":"replace","path":"/updated_at","value":5}`,
		`{"op":"replace","path":"/updated_at","value":-5}`,
		`{"op":"add","path":"/updated_at","value":5.0}`,
		`{"op":"add","path":"/extra","value":5}`,
		`{"op":"replace","path":"","value":{}}`,
		`{"op":"replace","path":"/Owner","value":"bob"}`,
	}
}

// TestApplyStateMatchesApply: on random gardens, the fast path gives
// byte for byte what the generic path gives, for the server's patches
// (which it must take) and operations at its edges (which it must take
// correctly or leave alone). Generic-differ patches are checked in
// TestDiffProperty (state_test.go).
func TestApplyStateMatchesApply(t *testing.T) {
	r := gardens.Rand(11)
	fastCount, total := 0, 0
	for i := range 300 {
		a, b := gardens.Pair(r, i, 30)
		eb := encode(t, b)
		server, err := DiffStates(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsGeneric(t, a, server) && EncodesCanonically(b) {
			t.Fatalf("case %d: the fast path refused a DiffStates patch: %s", i, server)
		}
		if next, ok := ApplyState(a, server); ok && !bytes.Equal(encode(t, next), eb) {
			t.Fatalf("case %d: ApplyState(a, DiffStates(a, b)) != b", i)
		}

		tricky := trickyOps(r, a)
		for k := range 6 {
			ops := []string{tricky[r.IntN(len(tricky))]}
			if k%2 == 1 { // a server patch with one odd operation inside
				inner := strings.TrimSuffix(strings.TrimPrefix(string(server), "["), "]")
				if inner != "" {
					ops = append([]string{inner}, ops...)
				}
			}
			p := []byte("[" + strings.Join(ops, ",") + "]")
			total++
			if sameAsGeneric(t, a, p) {
				fastCount++
			}
		}
	}
	if fastCount == 0 || fastCount == total {
		t.Errorf("the fast path took %d of %d tricky patches: the test no longer covers both sides", fastCount, total)
	}
	t.Logf("fast path took %d of %d tricky patches", fastCount, total)
}

// TestApplyStatePreconditions: states that game.Encode does not write in
// canonical form are left to the generic path.
func TestApplyStatePreconditions(t *testing.T) {
	base := func() *game.State {
		return &game.State{
			Bodies:    map[string]*game.Body{"b-1": {ID: "b-1", Type: "moon"}},
			Owner:     "alice",
			Research:  map[string]int{"gravity_wells": 1},
			Resources: game.Resources{Energy: 1, Stardust: 2},
			UpdatedAt: 3,
		}
	}
	p := []byte(`[{"op":"replace","path":"/updated_at","value":4}]`)
	if _, ok := ApplyState(base(), p); !ok {
		t.Fatal("ApplyState refused a plain state")
	}
	for name, spoil := range map[string]func(*game.State){
		"nil bodies":     func(s *game.State) { s.Bodies = nil },
		"nil research":   func(s *game.State) { s.Research = nil },
		"nil body":       func(s *game.State) { s.Bodies["b-1"] = nil },
		"unsafe energy":  func(s *game.State) { s.Resources.Energy = game.MaxSafeInt + 2 },
		"unsafe level":   func(s *game.State) { s.Research["x"] = -game.MaxSafeInt - 2 },
		"unsafe created": func(s *game.State) { s.Bodies["b-1"].CreatedAt = 1 << 60 },
		"negative zero":  func(s *game.State) { s.Bodies["b-1"].Position.Y = negZero() },
		"bad owner":      func(s *game.State) { s.Owner = "\xff" },
		"bad id":         func(s *game.State) { s.Bodies["b-\xff"] = &game.Body{ID: "b-1"} },
		"bad type":       func(s *game.State) { s.Bodies["b-1"].Type = "\xfe" },
		"bad topic":      func(s *game.State) { s.Research["\xfe"] = 1 },
	} {
		s := base()
		spoil(s)
		if _, ok := ApplyState(s, p); ok {
			t.Errorf("%s: ApplyState took it", name)
		}
		if strings.HasPrefix(name, "nil") {
			continue
		}
		// The others do not encode canonically, and EncodesCanonically
		// says so.
		enc := encode(t, s)
		if c, _ := Canonical(enc); bytes.Equal(c, enc) || EncodesCanonically(s) {
			t.Errorf("%s: EncodesCanonically = %v for %s", name, EncodesCanonically(s), enc)
		}
	}
	r := gardens.Rand(13)
	for range 100 {
		s := gardens.Random(r, r.IntN(20))
		enc := encode(t, s)
		if c, _ := Canonical(enc); !bytes.Equal(c, enc) || !EncodesCanonically(s) {
			t.Fatalf("EncodesCanonically = %v for %s", EncodesCanonically(s), enc)
		}
	}
	if _, ok := ApplyState(nil, p); ok {
		t.Error("ApplyState took a nil state")
	}
	for _, bad := range []string{``, `null`, `{}`, `[1]`, `[null]`, `[{"op":"replace","path":"/updated_at","value":4}] x`} {
		if _, ok := ApplyState(base(), []byte(bad)); ok {
			t.Errorf("ApplyState took patch %q", bad)
		}
	}
	if next, ok := ApplyState(base(), []byte(` [ ] `)); !ok || !bytes.Equal(encode(t, next), encode(t, base())) {
		t.Error("ApplyState of an empty patch changed the state")
	}
}

func negZero() float64 {
	z := 0.0
	return -z
}

// TestApplyStateVectors: between the before and after gardens of the
// rules vectors, the server's patch takes the fast path to the expected
// garden, and the generic differ's patch agrees with Apply.
func TestApplyStateVectors(t *testing.T) {
	var cases []struct {
		Fill   *vectors.Fill
		State  json.RawMessage
		Expect struct{ State json.RawMessage }
	}
	vectors.Load(t, "rules.json", &cases)
	n := 0
	for i, c := range cases {
		if c.Expect.State == nil {
			continue
		}
		docs := [2]*game.State{}
		for k, raw := range []json.RawMessage{c.State, c.Expect.State} {
			raw, err := c.Fill.Apply(raw)
			if err != nil {
				t.Fatal(err)
			}
			if docs[k], err = game.Decode(raw); err != nil {
				t.Fatal(err)
			}
		}
		a, b := docs[0], docs[1]
		server, err := DiffStates(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameAsGeneric(t, a, server) {
			t.Errorf("vector %d: the fast path refused %s", i, server)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no vector with an expected state")
	}
}

// FuzzApplyState: the fast path and the generic path agree on any patch
// against gardens in canonical form.
func FuzzApplyState(f *testing.F) {
	r := gardens.Rand(12)
	for i := range 8 {
		a := gardens.Random(r, i*3)
		p, _ := DiffStates(a, gardens.Mutate(r, a, 0.3))
		f.Add(uint64(i), string(p))
		for _, op := range trickyOps(r, a)[:12] {
			f.Add(uint64(i), "["+op+"]")
		}
	}
	f.Fuzz(func(t *testing.T, seed uint64, p string) {
		a := gardens.Random(gardens.Rand(seed), int(seed%20))
		if len(p) > MaxPatchBytes || !strings.HasPrefix(strings.TrimLeft(p, " \t\r\n"), "[") {
			return
		}
		sameAsGeneric(t, a, []byte(p))
	})
}

func encode(tb testing.TB, s *game.State) []byte {
	tb.Helper()
	b, err := game.Encode(s)
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}
