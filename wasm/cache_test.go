package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/patch/diff"
)

// randGarden returns the JSON of a garden of n bodies, some with ids and
// owners that need escaping, positions with -0 and awkward numbers.
func randGarden(r *rand.Rand, n int) string {
	types := []string{"asteroid", "moon", "comet", "planet", "star", "nebula"}
	ids := []string{"b-%d", "b-a/%d", "b-~%d", "b-é%d", `b-"%d"`, "b-\u2028%d", "b-<%d>"}
	coord := func() float64 {
		switch r.IntN(5) {
		case 0:
			return math.Copysign(0, -1)
		case 1:
			return (r.Float64() - 0.5) * 2e-6
		default:
			return (r.Float64()*2 - 1) * 5000
		}
	}
	bodies := map[string]any{}
	for i := range n {
		id := fmt.Sprintf(ids[r.IntN(len(ids))], i)
		bodies[id] = map[string]any{
			"created_at": 1_700_000_000_000 + r.Int64N(1e9), "id": id, "type": types[r.IntN(len(types))],
			"position": map[string]float64{"x": coord(), "y": coord(), "z": coord()},
		}
	}
	b, _ := json.Marshal(map[string]any{
		"bodies":     bodies,
		"owner":      []string{"alice", "<b>\u2028", "ü/~"}[r.IntN(3)],
		"research":   map[string]int{"gravity_wells": 1 + r.IntN(5), "stellar_fusion": r.IntN(2) + 1},
		"resources":  map[string]int64{"energy": r.Int64N(1e6), "stardust": r.Int64N(1e6)},
		"updated_at": 1_700_000_000_000 + r.Int64N(1e6),
	})
	return string(b)
}

// walk drives a module as the page does, with random detours, and
// returns every answer: gardens patched by the server's and the generic
// differ's patches, the queue rebased, pushed, resolved and predicted, the
// prediction settled and acted on.
func walk(seed uint64, call func(name string, args ...string) string) []string {
	r := rand.New(rand.NewPCG(seed, 99))
	var answers []string
	do := func(name string, args ...string) map[string]json.RawMessage {
		out := call(name, args...)
		answers = append(answers, name+" "+out)
		var a struct {
			OK    bool
			Value json.RawMessage
		}
		_ = json.Unmarshal([]byte(out), &a)
		var v map[string]json.RawMessage
		_ = json.Unmarshal(a.Value, &v)
		return v
	}
	str := func(v json.RawMessage) string {
		var s string
		_ = json.Unmarshal(v, &s)
		return s
	}
	canonical := func(doc string) string {
		var s string
		out := call("canonical", doc)
		var a struct{ Value json.RawMessage }
		_ = json.Unmarshal([]byte(out), &a)
		_ = json.Unmarshal(a.Value, &s)
		return s
	}
	confirmed := canonical(randGarden(r, r.IntN(30)))
	queue := ""
	version := 1
	now := int64(1_700_000_010_000)
	for step := range 60 {
		now += r.Int64N(5000)
		switch k := r.IntN(10); {
		case k < 4: // a patch from the server
			s, _ := game.Decode([]byte(confirmed))
			out := do("applyAction", confirmed, fmt.Sprintf(`{"type":"CreateCelestialBody","id":"d%d","data":{"body_type":"moon","position":{"x":%d,"y":-0,"z":1.5}}}`, step, step), fmt.Sprint(now))
			next := str(out["state"])
			if next == "" {
				continue
			}
			var p []byte
			if n, err := game.Decode([]byte(next)); err == nil && r.IntN(3) > 0 {
				p, _ = patch.DiffStates(s, n)
			} else {
				p, _ = diff.JSON([]byte(confirmed), []byte(next))
			}
			if r.IntN(8) == 0 { // something the fast path leaves alone
				p = []byte(strings.Replace(string(p), `]`, `,{"op":"test","path":"/owner","value":"nobody"}]`, 1))
			}
			res := do("applyPatch", confirmed, string(p))
			if doc := str(res["doc"]); doc != "" {
				confirmed = doc
				version++
				if q := str(do("queueRebase", queue, fmt.Sprint(version), confirmed)["queue"]); q != "" {
					queue = q
				}
			}
		case k < 6: // the player acts
			pending := fmt.Sprintf(`{"id":"c%d","type":"Research","data":{"topic":"%s"},"queued_at":%d}`,
				step, []string{"asteroid_mining", "stellar_fusion", "gravity_wells"}[r.IntN(3)], now)
			if r.IntN(2) == 0 {
				pending = fmt.Sprintf(`{"id":"c%d","type":"CreateCelestialBody","data":{"body_type":"asteroid","position":{"x":1,"y":2,"z":3}},"queued_at":%d}`, step, now)
			}
			if q := str(do("queuePush", queue, pending)["queue"]); q != "" {
				queue = q
			}
		case k < 7: // an answer from the server
			do("queueResolve", queue, fmt.Sprintf("c%d", step-r.IntN(5)))
		case k < 8: // an older state, ignored
			do("queueRebase", queue, "0", confirmed)
		default:
			do("hash", confirmed)
			do("validateState", confirmed, "alice")
		}
		// What the controller and the page do after every change.
		do("queuePending", queue)
		pred := str(do("queuePredict", queue)["predicted"])
		if pred != "" {
			do("settleResources", pred, fmt.Sprint(now))
			do("settleResources", pred, fmt.Sprint(now+60_000))
			do("settle", pred, fmt.Sprint(now))
			do("applyAction", pred, `{"type":"Research","id":"preview","data":{"topic":"gravity_wells"}}`, fmt.Sprint(now))
		}
	}
	return answers
}

// TestCacheIsInvisible: a module that keeps documents between calls, as
// the page's does, answers every call exactly as a module that decodes
// everything anew.
func TestCacheIsInvisible(t *testing.T) {
	for seed := range uint64(12) {
		shared := newModule()
		cached := walk(seed, func(name string, args ...string) string { return shared.call(name, args) })
		fresh := walk(seed, func(name string, args ...string) string { return newModule().call(name, args) })
		if len(cached) != len(fresh) {
			t.Fatalf("seed %d: %d answers cached, %d fresh", seed, len(cached), len(fresh))
		}
		fast := 0
		for i := range cached {
			if cached[i] != fresh[i] {
				t.Fatalf("seed %d, call %d:\ncached %.400s\nfresh  %.400s", seed, i, cached[i], fresh[i])
			}
			if strings.HasPrefix(cached[i], "applyPatch {\"ok\":true") {
				fast++
			}
		}
		if fast == 0 {
			t.Errorf("seed %d: no patch applied", seed)
		}
		if c := canonicalAnswers(t, cached); c != "" {
			t.Fatalf("seed %d: answer not canonical: %.400s", seed, c)
		}
	}
}

// canonicalAnswers returns the first answer that is not canonical JSON.
func canonicalAnswers(t *testing.T, answers []string) string {
	t.Helper()
	for _, a := range answers {
		out := a[strings.IndexByte(a, ' ')+1:]
		if c, err := patch.Canonical([]byte(out)); err != nil || string(c) != out {
			return a
		}
	}
	return ""
}

// TestQuoteDoc: the quick quoting of documents is the canonical quoting,
// for every kind of text the module's encoders write.
func TestQuoteDoc(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		doc := randGarden(r, r.IntN(10))
		s, err := game.Decode([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := game.Encode(s)
		c, _ := patch.Canonical([]byte(doc))
		for _, text := range []string{string(enc), string(c)} {
			if got, want := string(quoteDoc(nil, text)), string(patch.AppendString(nil, text)); got != want {
				t.Fatalf("quoteDoc\n got %s\nwant %s", got, want)
			}
		}
	}
}

// TestDocCacheInvariants checks docCache's documented invariants against
// a model (a list, most recent first) over random gets and puts.
func TestDocCacheInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, max := range []int{0, 1, 3, 6} {
		c := docCache[int]{max: max}
		var model []string // keys, most recent first
		vals := map[string]int{}
		for step := range 2000 {
			key := fmt.Sprint(r.IntN(max + 3))
			if r.IntN(2) == 0 {
				v := step
				c.put(key, v)
				vals[key] = v
				model = slices.DeleteFunc(model, func(k string) bool { return k == key })
				model = slices.Insert(model, 0, key)
			} else {
				got, ok := c.get(key)
				i := slices.Index(model, key)
				if ok != (i >= 0) {
					t.Fatalf("max %d step %d: get(%s) ok=%v, model holds it: %v", max, step, key, ok, i >= 0)
				}
				if ok {
					if got != vals[key] {
						t.Fatalf("max %d step %d: get(%s) = %d, want the last put %d", max, step, key, got, vals[key])
					}
					model = slices.Insert(slices.Delete(model, i, i+1), 0, key)
				}
			}
			model = model[:min(len(model), max)]
			if !slices.Equal(c.keys, model) || len(c.docs) != len(c.keys) {
				t.Fatalf("max %d step %d: keys %v (%d docs), want %v", max, step, c.keys, len(c.docs), model)
			}
		}
	}
}

// TestCachedStatesDecodeToThemselves: every garden in a module's cache
// after a walk is what decoding its key gives, and one cached under its
// own text is canonical.
func TestCachedStatesDecodeToThemselves(t *testing.T) {
	for seed := range uint64(6) {
		m := newModule()
		walk(seed, func(name string, args ...string) string { return m.call(name, args) })
		for i, key := range m.states.keys {
			d := m.states.docs[i]
			s, err := game.Decode([]byte(key))
			if err != nil {
				t.Fatalf("seed %d: a cached key does not decode: %v", seed, err)
			}
			enc, _ := game.Encode(s)
			if string(enc) != d.text {
				t.Fatalf("seed %d: cached garden\n%.300s\nis not its key's\n%.300s", seed, d.text, enc)
			}
			if key == d.text {
				if c, err := patch.Canonical([]byte(key)); err != nil || string(c) != key || !d.canonical {
					t.Fatalf("seed %d: garden cached under its text is not canonical (flag %v)", seed, d.canonical)
				}
			}
		}
	}
}

// TestCanonicalStates: canonical and hash answer for gardens, which they
// take from the cache, exactly what patch.Canonical gives, for canonical
// and non-canonical texts alike.
func TestCanonicalStates(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m := newModule()
	for i := range 300 {
		doc := randGarden(r, r.IntN(8))
		s, _ := game.Decode([]byte(doc))
		switch i % 4 {
		case 1:
			enc, _ := game.Encode(s)
			doc = string(enc)
		case 2:
			c, _ := patch.Canonical([]byte(doc))
			doc = string(c)
		case 3: // integers canonical form rounds
			s.UpdatedAt = game.MaxSafeInt + int64(r.IntN(3))
			enc, _ := game.Encode(s)
			doc = string(enc)
		}
		want, err := patch.Canonical([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // decoded, then from the cache
			if got := mustString(t, m.call("canonical", []string{doc})); got != string(want) {
				t.Fatalf("canonical(%s)\n got %s\nwant %s", doc, got, want)
			}
			if got := mustString(t, m.call("hash", []string{doc})); got != game.Hash(want) {
				t.Fatalf("hash(%s) = %s, want %s", doc, got, game.Hash(want))
			}
		}
	}
}

// TestTextHash: a textHash is game.Hash of its text whatever it resumes
// from: a text sharing a prefix, one changed anywhere, shorter, longer,
// unrelated, or one resuming from yet another.
func TestTextHash(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	randText := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.IntN(3))
		}
		return string(b)
	}
	for range 300 {
		base := randText(r.IntN(5 * hashStride))
		next := base
		switch r.IntN(5) {
		case 0: // a change in the middle
			if len(next) > 0 {
				i := r.IntN(len(next))
				next = next[:i] + "X" + next[i+1:]
			}
		case 1: // shorter
			next = next[:r.IntN(len(next)+1)]
		case 2: // longer
			next += randText(r.IntN(2 * hashStride))
		case 3: // unrelated
			next = randText(r.IntN(5 * hashStride))
		}
		parent := newTextHash([]byte(base), nil)
		if r.IntN(2) == 0 {
			parent.hex() // hashed before or after its child starts from it
		}
		child := newTextHash([]byte(next), parent)
		grandchild := newTextHash([]byte(next+randText(r.IntN(hashStride))), child)
		for _, h := range []*textHash{grandchild, child, parent} {
			if got, want := h.hex(), game.Hash(h.text); got != want {
				t.Fatalf("hash of a %d-byte text = %s, want %s", len(h.text), got, want)
			}
		}
	}
}
