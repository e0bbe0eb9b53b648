package offline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/vectors"
	"github.com/cosmic-gardener/realtime/shared/offline"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

type queueVector struct {
	Name  string `json:"name"`
	Steps []struct {
		Op       string           `json:"op"`
		Version  uint64           `json:"version"`
		State    json.RawMessage  `json:"state"`
		Rebased  bool             `json:"rebased"`
		Pending  *offline.Pending `json:"pending"`
		Error    string           `json:"error"`
		ID       string           `json:"id"`
		Resolved bool             `json:"resolved"`
	} `json:"steps"`
	Expect struct {
		Predicted  json.RawMessage `json:"predicted"`
		PendingIDs []string        `json:"pending_ids"`
		SkippedIDs []string        `json:"skipped_ids"`
	} `json:"expect"`
}

// errorCode maps a Push error to the code the vectors (and the WASM
// adapter's queuePush) use.
func errorCode(err error) string {
	var rej *rules.Rejection
	var dec *protocol.DecodeError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, offline.ErrNoState):
		return "no_state"
	case errors.Is(err, offline.ErrFull):
		return "queue_full"
	case errors.Is(err, offline.ErrDuplicate):
		return "duplicate"
	case errors.As(err, &rej):
		return "rejected"
	case errors.As(err, &dec):
		return dec.Code
	default:
		return protocol.CodeInvalidData
	}
}

func TestVectors(t *testing.T) {
	var cases []queueVector
	vectors.Load(t, "queue.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			var q offline.Queue
			for i, st := range tc.Steps {
				switch st.Op {
				case "rebase":
					s, err := game.Decode(st.State)
					if err != nil {
						t.Fatal(err)
					}
					if got := q.Rebase(st.Version, s); got != st.Rebased {
						t.Errorf("step %d: Rebase = %v, want %v", i, got, st.Rebased)
					}
				case "push":
					before := len(q.Pending)
					_, err := q.Push(*st.Pending)
					if got := errorCode(err); got != st.Error {
						t.Errorf("step %d: Push error %q (%v), want %q", i, got, err, st.Error)
					}
					if err != nil && len(q.Pending) != before {
						t.Errorf("step %d: a refused Push changed the queue", i)
					}
				case "resolve":
					if got := q.Resolve(st.ID); got != st.Resolved {
						t.Errorf("step %d: Resolve(%q) = %v, want %v", i, st.ID, got, st.Resolved)
					}
				default:
					t.Fatalf("step %d: unknown op %q", i, st.Op)
				}
			}
			checkQueue(t, &q, tc.Expect.Predicted, tc.Expect.PendingIDs, tc.Expect.SkippedIDs)
			// A persisted queue predicts the same.
			b, err := json.Marshal(&q)
			if err != nil {
				t.Fatal(err)
			}
			var back offline.Queue
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.Confirmed != nil {
				back.Confirmed.Normalize()
			}
			checkQueue(t, &back, tc.Expect.Predicted, tc.Expect.PendingIDs, tc.Expect.SkippedIDs)
		})
	}
}

func checkQueue(t *testing.T, q *offline.Queue, predicted json.RawMessage, pendingIDs, skippedIDs []string) {
	t.Helper()
	got, skipped := q.Predict()
	if string(predicted) == "null" || len(predicted) == 0 {
		if got != nil {
			t.Errorf("Predict = %+v, want nil", got)
		}
	} else {
		enc, err := game.Encode(got)
		if err != nil {
			t.Fatal(err)
		}
		want, err := patch.Canonical(predicted)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, want) {
			t.Errorf("predicted\n got %s\nwant %s", enc, want)
		}
	}
	ids := []string{}
	for _, p := range q.Pending {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, pendingIDs) {
		t.Errorf("pending ids %q, want %q", ids, pendingIDs)
	}
	sids := []string{}
	for _, s := range skipped {
		sids = append(sids, s.ID)
		if s.Message == "" {
			t.Errorf("skipped %s has no message", s.ID)
		}
	}
	if !slices.Equal(sids, skippedIDs) {
		t.Errorf("skipped ids %q, want %q", sids, skippedIDs)
	}
}

func TestQueueFull(t *testing.T) {
	s := rules.New("alice", 0)
	q := offline.Queue{Version: 1, Confirmed: s}
	// Filled directly: pushing 500 actions one by one re-predicts each time.
	for i := range offline.MaxPending - 1 {
		q.Pending = append(q.Pending, offline.Pending{ID: fmt.Sprint("r", i), Type: protocol.TypeResearch,
			Data: json.RawMessage(`{"topic":"stellar_fusion"}`)})
	}
	last := offline.Pending{ID: "last", Type: protocol.TypeCreateCelestialBody,
		Data: json.RawMessage(`{"body_type":"asteroid","position":{"x":0,"y":0,"z":0}}`)}
	if _, err := q.Push(last); err != nil {
		t.Fatalf("push %d: %v", offline.MaxPending, err)
	}
	_, err := q.Push(offline.Pending{ID: "one-more", Type: protocol.TypeResearch, Data: json.RawMessage(`{"topic":"stellar_fusion"}`)})
	if !errors.Is(err, offline.ErrFull) {
		t.Errorf("Push beyond MaxPending = %v, want ErrFull", err)
	}
	if len(q.Pending) != offline.MaxPending {
		t.Errorf("%d pending, want %d", len(q.Pending), offline.MaxPending)
	}
}

func TestPushReturnsOutcomeAndKeepsConfirmed(t *testing.T) {
	var q offline.Queue
	s := rules.New("alice", 0)
	q.Rebase(1, s)
	before, _ := game.Encode(s)
	out, err := q.Push(offline.Pending{ID: "a1", Type: protocol.TypeCreateCelestialBody,
		Data: json.RawMessage(` { "position" : {"x":1,"y":2,"z":3,"w":4}, "body_type":"moon", "extra":true } `)})
	if err != nil {
		t.Fatal(err)
	}
	if out.BodyID != "b-a1" || out.State.Bodies["b-a1"] == nil {
		t.Errorf("Push outcome = %+v", out)
	}
	if after, _ := game.Encode(q.Confirmed); !bytes.Equal(before, after) {
		t.Error("Push modified the confirmed state")
	}
	// The queued data is re-encoded from the decoded action: unknown
	// fields dropped, so the server sees exactly what was predicted.
	if got := string(q.Pending[0].Data); got != `{"body_type":"moon","position":{"x":1,"y":2,"z":3}}` {
		t.Errorf("queued data = %s", got)
	}
}

func TestPredictEmpty(t *testing.T) {
	var q offline.Queue
	if s, skipped := q.Predict(); s != nil || skipped != nil {
		t.Errorf("Predict on an empty queue = %v, %v", s, skipped)
	}
	if q.Resolve("x") {
		t.Error("Resolve on an empty queue reported true")
	}
}

// TestAdopt: another tab's actions join a queue with their ids and times,
// with no confirmed state and whatever the rules say, each id at most once.
func TestAdopt(t *testing.T) {
	var q offline.Queue
	star := offline.Pending{ID: "t2.x-1", Type: protocol.TypeCreateCelestialBody, QueuedAt: 42,
		Data: json.RawMessage(`{"body_type":"star","position":{"x":1,"y":2,"z":3},"extra":1}`)}
	if err := q.Adopt(star); err != nil {
		t.Fatalf("Adopt without a confirmed state: %v", err)
	}
	if err := q.Adopt(star); !errors.Is(err, offline.ErrDuplicate) {
		t.Errorf("Adopt of a queued id = %v, want ErrDuplicate", err)
	}
	bad := offline.Pending{ID: "t2.x-2", Type: protocol.TypeResearch, Data: json.RawMessage(`{"topic":7}`)}
	if err := q.Adopt(bad); err == nil {
		t.Error("Adopt accepted data the server would refuse to decode")
	}
	// A garden too poor for a star: Push refuses, Adopt keeps it, Predict skips it.
	poor := rules.New("alice", 0)
	poor.Resources = game.Resources{}
	q.Rebase(1, poor)
	if _, err := q.Push(offline.Pending{ID: "mine", Type: star.Type, Data: star.Data}); err == nil {
		t.Fatal("Push of an unaffordable star succeeded; the test needs a refusal")
	}
	if len(q.Pending) != 1 || q.Pending[0].ID != star.ID || q.Pending[0].QueuedAt != 42 {
		t.Fatalf("pending = %+v, want the adopted star with its id and time", q.Pending)
	}
	if got := string(q.Pending[0].Data); got != `{"body_type":"star","position":{"x":1,"y":2,"z":3}}` {
		t.Errorf("adopted data = %s, want the re-encoded data", got)
	}
	if _, skipped := q.Predict(); len(skipped) != 1 || skipped[0].ID != star.ID {
		t.Errorf("skipped = %+v, want the adopted star", skipped)
	}
}
