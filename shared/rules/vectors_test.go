package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/vectors"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

type rulesVector struct {
	Name   string          `json:"name"`
	Fill   *vectors.Fill   `json:"fill"`
	State  json.RawMessage `json:"state"`
	Action struct {
		Type string          `json:"type"`
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	} `json:"action"`
	Now    int64 `json:"now"`
	Expect struct {
		OK              bool            `json:"ok"`
		State           json.RawMessage `json:"state"`
		BodyID          string          `json:"body_id"`
		MessageContains string          `json:"message_contains"`
		// Reason is a refusal's code (ActionResult.reason).
		Reason string `json:"reason"`
	} `json:"expect"`
}

func loadRules(tb testing.TB) []rulesVector {
	var cases []rulesVector
	vectors.Load(tb, "rules.json", &cases)
	if len(cases) == 0 {
		tb.Fatal("no vectors")
	}
	for i := range cases {
		var err error
		if cases[i].State, err = cases[i].Fill.Apply(cases[i].State); err != nil {
			tb.Fatal(err)
		}
		if cases[i].Expect.State, err = cases[i].Fill.Apply(cases[i].Expect.State); err != nil {
			tb.Fatal(err)
		}
	}
	return cases
}

func (v rulesVector) frame() string {
	return vectors.Frame(v.Action.Type, v.Action.ID, v.Action.Data)
}

func TestVectors(t *testing.T) {
	for _, tc := range loadRules(t) {
		t.Run(tc.Name, func(t *testing.T) {
			s, err := game.Decode(tc.State)
			if err != nil {
				t.Fatal(err)
			}
			if err := rules.ValidateState(s, s.Owner); err != nil {
				t.Fatalf("vector state is not valid: %v", err)
			}
			env, msg, err := protocol.DecodeClient([]byte(tc.frame()))
			if err != nil {
				t.Fatalf("decode action: %v", err)
			}
			before, _ := game.Encode(s)
			out, err := rules.Apply(s, msg.(protocol.Action), env.ID, tc.Now)
			if after, _ := game.Encode(s); !bytes.Equal(before, after) {
				t.Fatal("Apply modified its input state")
			}
			if !tc.Expect.OK {
				var rej *rules.Rejection
				if !errors.As(err, &rej) {
					t.Fatalf("Apply = %+v, %v; want a *Rejection", out, err)
				}
				if !strings.Contains(rej.Message, tc.Expect.MessageContains) {
					t.Errorf("rejection %q does not contain %q", rej.Message, tc.Expect.MessageContains)
				}
				if rej.Code != tc.Expect.Reason || !slices.Contains(protocol.Reasons(), rej.Code) {
					t.Errorf("rejection code %q, want %q", rej.Code, tc.Expect.Reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, err := game.Encode(out.State)
			if err != nil {
				t.Fatal(err)
			}
			want, err := patch.Canonical(tc.Expect.State)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("state\n got %s\nwant %s", got, want)
			}
			if out.BodyID != tc.Expect.BodyID {
				t.Errorf("BodyID = %q, want %q", out.BodyID, tc.Expect.BodyID)
			}
			if !strings.Contains(out.Message, tc.Expect.MessageContains) {
				t.Errorf("Message %q does not contain %q", out.Message, tc.Expect.MessageContains)
			}
			if err := rules.ValidateState(out.State, s.Owner); err != nil {
				t.Errorf("accepted outcome is not valid: %v", err)
			}
		})
	}
}

// FuzzRules: for any valid garden and any decodable action, Apply leaves
// its input untouched, refuses only with a *Rejection, and an accepted
// outcome is a valid garden with non-negative resources in canonical form.
func FuzzRules(f *testing.F) {
	for _, tc := range loadRules(f) {
		f.Add(string(tc.State), tc.frame(), tc.Now)
	}
	f.Fuzz(func(t *testing.T, state, frame string, now int64) {
		if now < 0 || now > game.MaxSafeInt {
			return // a clock gives Unix milliseconds
		}
		s, err := game.Decode([]byte(state))
		if err != nil || rules.ValidateState(s, s.Owner) != nil {
			return // rules are defined on valid gardens
		}
		env, msg, err := protocol.DecodeClient([]byte(frame))
		if err != nil {
			return
		}
		act, ok := msg.(protocol.Action)
		if !ok {
			return
		}
		before, err := game.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		out, err := rules.Apply(s, act, env.ID, now)
		if after, _ := game.Encode(s); !bytes.Equal(before, after) {
			t.Fatalf("Apply modified its input state\nbefore %s\nafter  %s", before, after)
		}
		if err != nil {
			var rej *rules.Rejection
			if !errors.As(err, &rej) {
				t.Fatalf("Apply failed with %T %v, want a *Rejection", err, err)
			}
			if !slices.Contains(protocol.Reasons(), rej.Code) {
				t.Fatalf("rejection %q has code %q, not a protocol reason", rej.Message, rej.Code)
			}
			return
		}
		if err := rules.ValidateState(out.State, s.Owner); err != nil {
			t.Fatalf("accepted outcome is not valid: %v", err)
		}
		if r := out.State.Resources; r.Stardust < 0 || r.Energy < 0 {
			t.Fatalf("negative resources %+v", r)
		}
		enc, err := game.Encode(out.State)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := patch.Canonical(enc); err != nil || !bytes.Equal(c, enc) {
			t.Fatalf("outcome encoding is not canonical: %s", enc)
		}
	})
}
