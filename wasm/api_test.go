package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests run every vector file through call, as the Node test
// (test/vectors.test.mjs) runs them through the built module: the same
// comparisons, here natively and under the race detector.

// testModule serves every test, as one module serves the page, so that the
// vectors also go through its caches.
var testModule = newModule()

func call(name string, args []string) string { return testModule.call(name, args) }

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "shared", "testdata", "vectors", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	OK      bool            `json:"ok"`
	Value   json.RawMessage `json:"value"`
	Code    string          `json:"code"`
	ID      string          `json:"id"`
	Message string          `json:"message"`
	Reason  string          `json:"reason"`
}

func invoke(t *testing.T, name string, args ...string) answer {
	t.Helper()
	out := call(name, args)
	var a answer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("%s answered non-JSON %q: %v", name, out, err)
	}
	if c := call("canonical", []string{out}); !strings.Contains(c, `"ok":true`) || mustString(t, c) != out {
		t.Fatalf("%s answer is not canonical: %s", name, out)
	}
	return a
}

func mustString(t *testing.T, out string) string {
	t.Helper()
	var a answer
	if err := json.Unmarshal([]byte(out), &a); err != nil || !a.OK {
		t.Fatalf("answer %s", out)
	}
	var s string
	if err := json.Unmarshal(a.Value, &s); err != nil {
		t.Fatalf("value of %s is not a string", out)
	}
	return s
}

func ok(t *testing.T, name string, args ...string) json.RawMessage {
	t.Helper()
	a := invoke(t, name, args...)
	if !a.OK {
		t.Fatalf("%s(%.200q): %s: %s", name, args, a.Code, a.Message)
	}
	return a.Value
}

func field[T any](t *testing.T, v json.RawMessage, key string) T {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		t.Fatalf("value %s: %v", v, err)
	}
	var x T
	if err := json.Unmarshal(m[key], &x); err != nil {
		t.Fatalf("value %s: field %s: %v", v, key, err)
	}
	return x
}

func canon(t *testing.T, doc []byte) string {
	return mustString(t, call("canonical", []string{string(doc)}))
}

func TestCanonicalVectors(t *testing.T) {
	var cases []struct {
		Name, Input, Canonical, Hash string
		Error                        bool
	}
	load(t, "canonical.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			a := invoke(t, "canonical", tc.Input)
			if tc.Error {
				if a.OK || a.Code != codeBadInput {
					t.Fatalf("canonical(%q) = %+v, want bad_input", tc.Input, a)
				}
				return
			}
			if got := mustString(t, call("canonical", []string{tc.Input})); got != tc.Canonical {
				t.Errorf("canonical\n got %q\nwant %q", got, tc.Canonical)
			}
			var h string
			_ = json.Unmarshal(ok(t, "hash", tc.Input), &h)
			if h != tc.Hash {
				t.Errorf("hash = %s, want %s", h, tc.Hash)
			}
		})
	}
}

func TestPatchVectors(t *testing.T) {
	var v struct {
		Diff []struct {
			Name                 string
			Before, After, Patch json.RawMessage
		}
		Apply []struct {
			Name               string
			Doc, Patch, Result json.RawMessage
		}
		ApplyErrors []struct{ Name, Doc, Patch string } `json:"apply_errors"`
	}
	load(t, "patch.json", &v)
	for _, tc := range v.Diff {
		t.Run(tc.Name, func(t *testing.T) {
			want := canon(t, tc.Patch)
			res := ok(t, "applyPatch", string(tc.Before), want)
			if doc := field[string](t, res, "doc"); doc != canon(t, tc.After) {
				t.Errorf("applyPatch doc\n got %s\nwant %s", doc, canon(t, tc.After))
			}
			var h string
			_ = json.Unmarshal(ok(t, "hash", string(tc.After)), &h)
			if got := field[string](t, res, "hash"); got != h {
				t.Errorf("applyPatch hash = %s, want %s", got, h)
			}
		})
	}
	for _, tc := range v.Apply {
		t.Run(tc.Name, func(t *testing.T) {
			res := ok(t, "applyPatch", string(tc.Doc), string(tc.Patch))
			if doc := field[string](t, res, "doc"); doc != canon(t, tc.Result) {
				t.Errorf("applyPatch\n got %s\nwant %s", doc, canon(t, tc.Result))
			}
		})
	}
	for _, tc := range v.ApplyErrors {
		t.Run("error/"+tc.Name, func(t *testing.T) {
			if a := invoke(t, "applyPatch", tc.Doc, tc.Patch); a.OK || a.Code != codeBadInput {
				t.Errorf("applyPatch = %+v, want bad_input", a)
			}
		})
	}
}

// fill mirrors shared/internal/vectors.Fill.
func fill(t *testing.T, doc json.RawMessage, f *struct {
	Count int
	Type  string
}) string {
	t.Helper()
	if f == nil || len(doc) == 0 {
		return string(doc)
	}
	var s map[string]any
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	bodies, _ := s["bodies"].(map[string]any)
	for i := range f.Count {
		id := fmt.Sprintf("b-fill-%04d", i)
		bodies[id] = map[string]any{"created_at": 0, "id": id, "type": f.Type, "position": map[string]any{"x": 0, "y": 0, "z": 0}}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func TestRulesVectors(t *testing.T) {
	var cases []struct {
		Name string
		Fill *struct {
			Count int
			Type  string
		}
		State  json.RawMessage
		Action json.RawMessage
		Now    int64
		Expect struct {
			OK              bool
			State           json.RawMessage
			BodyID          string `json:"body_id"`
			MessageContains string `json:"message_contains"`
			Reason          string
		}
	}
	load(t, "rules.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			a := invoke(t, "applyAction", fill(t, tc.State, tc.Fill), string(tc.Action), fmt.Sprint(tc.Now))
			if !tc.Expect.OK {
				if a.OK || a.Code != codeRejected || a.Reason != tc.Expect.Reason || !strings.Contains(a.Message, tc.Expect.MessageContains) {
					t.Fatalf("applyAction = %+v, want rejected %s containing %q", a, tc.Expect.Reason, tc.Expect.MessageContains)
				}
				return
			}
			if !a.OK {
				t.Fatalf("applyAction: %s: %s", a.Code, a.Message)
			}
			if got, want := field[string](t, a.Value, "state"), canon(t, []byte(fill(t, tc.Expect.State, tc.Fill))); got != want {
				t.Errorf("state\n got %s\nwant %s", got, want)
			}
			if got := field[string](t, a.Value, "body_id"); got != tc.Expect.BodyID {
				t.Errorf("body_id = %q, want %q", got, tc.Expect.BodyID)
			}
			if got := field[string](t, a.Value, "message"); !strings.Contains(got, tc.Expect.MessageContains) {
				t.Errorf("message %q does not contain %q", got, tc.Expect.MessageContains)
			}
		})
	}
}

func TestQueueVectors(t *testing.T) {
	var cases []struct {
		Name  string
		Steps []struct {
			Op       string
			Version  uint64
			State    json.RawMessage
			Rebased  bool
			Pending  json.RawMessage
			Error    string
			ID       string
			Resolved bool
		}
		Expect struct {
			Predicted  json.RawMessage
			PendingIDs []string `json:"pending_ids"`
			SkippedIDs []string `json:"skipped_ids"`
		}
	}
	load(t, "queue.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			q := ""
			for i, st := range tc.Steps {
				switch st.Op {
				case "rebase":
					v := ok(t, "queueRebase", q, fmt.Sprint(st.Version), string(st.State))
					q = field[string](t, v, "queue")
					if got := field[bool](t, v, "rebased"); got != st.Rebased {
						t.Errorf("step %d: rebased = %v", i, got)
					}
				case "push":
					a := invoke(t, "queuePush", q, string(st.Pending))
					if st.Error != "" {
						if a.OK || a.Code != st.Error {
							t.Errorf("step %d: queuePush = %+v, want %s", i, a, st.Error)
						}
						continue
					}
					if !a.OK {
						t.Fatalf("step %d: queuePush: %s: %s", i, a.Code, a.Message)
					}
					q = field[string](t, a.Value, "queue")
				case "resolve":
					v := ok(t, "queueResolve", q, st.ID)
					q = field[string](t, v, "queue")
					if got := field[bool](t, v, "resolved"); got != st.Resolved {
						t.Errorf("step %d: resolved = %v", i, got)
					}
				}
			}
			v := ok(t, "queuePredict", q)
			if string(tc.Expect.Predicted) == "null" {
				if p := field[*string](t, v, "predicted"); p != nil {
					t.Errorf("predicted = %s, want null", *p)
				}
			} else if got, want := field[string](t, v, "predicted"), canon(t, tc.Expect.Predicted); got != want {
				t.Errorf("predicted\n got %s\nwant %s", got, want)
			}
			var skipped []string
			for _, s := range field[[]struct{ ID string }](t, v, "skipped") {
				skipped = append(skipped, s.ID)
			}
			if !slices.Equal(skipped, tc.Expect.SkippedIDs) {
				t.Errorf("skipped = %q, want %q", skipped, tc.Expect.SkippedIDs)
			}
			var pending []string
			if q != "" {
				var qq struct{ Pending []struct{ ID string } }
				_ = json.Unmarshal([]byte(q), &qq)
				for _, p := range qq.Pending {
					pending = append(pending, p.ID)
				}
			}
			if !slices.Equal(pending, tc.Expect.PendingIDs) {
				t.Errorf("pending = %q, want %q", pending, tc.Expect.PendingIDs)
			}
		})
	}
}

func TestDecodeVectors(t *testing.T) {
	var cases []struct {
		Name, Side, Frame string
		Expect            struct {
			Code, Type, ID  string
			MessageContains string `json:"message_contains"`
			Message         json.RawMessage
		}
	}
	load(t, "decode.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			fn := "decodeClient"
			if tc.Side == "server" {
				fn = "decodeServer"
			}
			a := invoke(t, fn, tc.Frame)
			if tc.Expect.Code != "" {
				if a.OK || a.Code != tc.Expect.Code || a.ID != tc.Expect.ID || !strings.Contains(a.Message, tc.Expect.MessageContains) {
					t.Fatalf("%s = %+v, want %+v", fn, a, tc.Expect)
				}
				return
			}
			if !a.OK {
				t.Fatalf("%s: %s: %s", fn, a.Code, a.Message)
			}
			env := field[struct{ Type, ID string }](t, a.Value, "envelope")
			if env.Type != tc.Expect.Type || env.ID != tc.Expect.ID {
				t.Errorf("envelope = %+v", env)
			}
			if got, want := canon(t, field[json.RawMessage](t, a.Value, "message")), canon(t, tc.Expect.Message); got != want {
				t.Errorf("message\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestBoundary(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   string
		args []string
		code string
	}{
		{"unknown function", "nope", nil, codeBadInput},
		{"missing argument", "applyPatch", []string{"{}"}, codeBadInput},
		{"bad state", "applyAction", []string{"[", "{}", "1"}, codeBadInput},
		{"bad now", "settle", []string{"{}", "soon"}, codeBadInput},
		{"fractional now", "settle", []string{"{}", "1.5"}, codeBadInput},
		{"not an action", "applyAction", []string{"{}", `{"type":"GetState","id":"g"}`, "1"}, "invalid_data"},
		{"action without id", "applyAction", []string{"{}", `{"type":"Research","data":{"topic":"x"}}`, "1"}, "invalid_data"},
		{"bad queue", "queuePredict", []string{"{"}, codeBadInput},
		{"bad version", "queueRebase", []string{"", "-1", "{}"}, codeBadInput},
		{"invalid state", "validateState", []string{`{"owner":"bob"}`, "alice"}, codeRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := invoke(t, tc.fn, tc.args...); a.OK || a.Code != tc.code || a.Message == "" {
				t.Errorf("%s = %+v, want code %s", tc.fn, a, tc.code)
			}
		})
	}
}

func TestRecoversPanics(t *testing.T) {
	out := call("decodeClient", nil) // missing argument: an error, not a panic
	if !strings.Contains(out, `"ok":false`) {
		t.Errorf("decodeClient() = %s", out)
	}
	functions["panic"] = func(*module, []string) (any, error) { panic("boom") }
	defer delete(functions, "panic")
	if out := call("panic", nil); out != `{"code":"internal","message":"panic: boom","ok":false}` {
		t.Errorf("call(panic) = %s", out)
	}
}

func TestSmallFunctions(t *testing.T) {
	if v := ok(t, "validateState", `{"owner":"alice","resources":{"energy":1,"stardust":1}}`, "alice"); string(v) != `{"valid":true}` {
		t.Errorf("validateState = %s", v)
	}
	v := ok(t, "settle", `{"owner":"a","resources":{"energy":0,"stardust":0},"updated_at":1000}`, "3000")
	if got := field[string](t, v, "state"); got != `{"bodies":{},"owner":"a","research":{},"resources":{"energy":1,"stardust":2},"updated_at":3000}` {
		t.Errorf("settle state = %s", got)
	}
	b := ok(t, "balance")
	types := field[[]struct {
		Type string
		Cost struct{ Energy, Stardust int64 }
	}](t, b, "body_types")
	if len(types) < 7 || types[0].Type != "asteroid" || types[0].Cost.Stardust != 10 {
		t.Errorf("balance body_types = %+v", types)
	}
	if topics := field[[]struct{ Topic string }](t, b, "topics"); len(topics) != 5 {
		t.Errorf("balance topics = %+v", topics)
	}
	if limits := field[map[string]any](t, b, "limits"); limits["base_max_bodies"] != float64(1000) || limits["world_radius"] != float64(5000) {
		t.Errorf("balance limits = %v", limits)
	}
	// The answer of applyAction carries the hash of its state.
	v = ok(t, "applyAction", `{"owner":"a","resources":{"energy":100,"stardust":100}}`,
		`{"type":"CreateCelestialBody","id":"c1","data":{"body_type":"asteroid","position":{"x":-0,"y":0,"z":0}}}`, "0")
	state := field[string](t, v, "state")
	var h string
	_ = json.Unmarshal(ok(t, "hash", state), &h)
	if field[string](t, v, "hash") != h || !strings.Contains(state, `"position":{"x":0,"y":0,"z":0}`) {
		t.Errorf("applyAction = %s", v)
	}
}

// TestQueueAdopt: queueAdopt keeps an action the rules would refuse, and
// answers adopted=false, the queue unchanged, for an id already queued.
func TestQueueAdopt(t *testing.T) {
	p := `{"id":"t2.x-1","type":"Research","data":{"topic":"stellar_fusion"},"queued_at":7}`
	v := ok(t, "queueAdopt", "", p)
	q := field[string](t, v, "queue")
	if !field[bool](t, v, "adopted") {
		t.Fatalf("queueAdopt on an empty queue: %s", v)
	}
	var pending []struct {
		ID       string `json:"id"`
		QueuedAt int64  `json:"queued_at"`
	}
	if err := json.Unmarshal(ok(t, "queuePending", q), &pending); err != nil || len(pending) != 1 ||
		pending[0].ID != "t2.x-1" || pending[0].QueuedAt != 7 {
		t.Errorf("pending after adopt = %+v (%v), want t2.x-1 queued at 7", pending, err)
	}
	again := ok(t, "queueAdopt", q, p)
	if field[bool](t, again, "adopted") || field[string](t, again, "queue") != q {
		t.Errorf("second adopt of one id = %s, want adopted false and the same queue", again)
	}
	if a := invoke(t, "queueAdopt", q, `{"id":"t2.x-2","type":"Research","data":{"topic":3}}`); a.OK || a.Code != "invalid_data" {
		t.Errorf("adopt of undecodable data = %+v, want invalid_data", a)
	}
}

// TestQuoteRatesBodyID: the three functions the page prices, measures and
// names bodies with are rules.QuoteFor, rules.RatesFor and rules.BodyID
// as JSON, and a rejected action's answer carries its reason code.
func TestQuoteRatesBodyID(t *testing.T) {
	const garden = `{"bodies":{},"owner":"a","research":{"efficient_construction":1,"gravity_wells":5},"resources":{"energy":0,"stardust":0},"updated_at":0}`
	v := ok(t, "quote", garden)
	type price struct {
		Cost     *struct{ Energy, Stardust int64 }
		Reason   string
		Message  string
		Requires string
	}
	bodies := field[map[string]price](t, v, "bodies")
	if p := bodies["asteroid"]; p.Cost == nil || p.Cost.Stardust != 9 || p.Reason != "" {
		t.Errorf("asteroid at 10%% off = %+v", p)
	}
	if p := bodies["black_hole"]; p.Cost != nil || p.Reason != "requires_research" || p.Requires != "singularity_theory" || p.Message == "" {
		t.Errorf("black_hole = %+v", p)
	}
	topics := field[map[string]price](t, v, "topics")
	if p := topics["gravity_wells"]; p.Reason != "max_level" {
		t.Errorf("gravity_wells at level 5 = %+v", p)
	}
	if p := topics["stellar_fusion"]; p.Cost == nil || p.Cost.Energy != 50 {
		t.Errorf("stellar_fusion level 1 = %+v", p)
	}
	if r := string(ok(t, "rates", garden)); r != `{"energy":500,"stardust":1000}` {
		t.Errorf("rates = %s", r)
	}
	if id := string(ok(t, "bodyId", "dev.1-7")); id != `"b-dev.1-7"` {
		t.Errorf("bodyId = %s", id)
	}
	if a := invoke(t, "quote", "not json"); a.OK || a.Code != codeBadInput {
		t.Errorf("quote(not json) = %+v", a)
	}
	a := invoke(t, "applyAction", garden, `{"type":"Research","id":"r","data":{"topic":"gravity_wells"}}`, "0")
	if a.OK || a.Code != codeRejected || a.Reason != "max_level" {
		t.Errorf("applyAction beyond the top level = %+v", a)
	}
}
