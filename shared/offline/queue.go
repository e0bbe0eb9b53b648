package offline

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// MaxPending bounds the queue: a player offline for long enough to exceed it
// is told so instead of growing browser storage without limit.
const MaxPending = 500

// Pending is one unconfirmed action, in the form it is sent.
type Pending struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
	// QueuedAt is when the player acted (Unix ms); predictions apply the
	// action at that time.
	QueuedAt int64 `json:"queued_at"`
}

// Queue holds the confirmed state and the pending actions on top of it.
// The zero value is an empty queue with no confirmed state.
type Queue struct {
	// Version is the server version of Confirmed; 0 before the first state.
	Version   uint64      `json:"version"`
	Confirmed *game.State `json:"confirmed"`
	Pending   []Pending   `json:"pending"`
}

// Skipped is a pending action that the rules refuse on the predicted
// state. It stays queued: only the server's answer removes it.
type Skipped struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// Errors of Push.
var (
	ErrNoState   = errors.New("offline: no confirmed state yet")
	ErrFull      = fmt.Errorf("offline: queue full (%d actions)", MaxPending)
	ErrDuplicate = errors.New("offline: an action with this id is already queued")
)

// Push validates an action, applies it to the predicted state and queues
// it. A rule refusal is returned as *rules.Rejection and nothing is queued,
// so the player learns at once; any other error describes bad input.
func (q *Queue) Push(p Pending) (rules.Outcome, error) {
	if q.Confirmed == nil {
		return rules.Outcome{}, ErrNoState
	}
	if len(q.Pending) >= MaxPending {
		return rules.Outcome{}, ErrFull
	}
	for _, e := range q.Pending {
		if e.ID == p.ID {
			return rules.Outcome{}, ErrDuplicate
		}
	}
	act, data, err := decodeAction(p)
	if err != nil {
		return rules.Outcome{}, err
	}
	predicted, _ := q.Predict()
	out, err := rules.Apply(predicted, act, p.ID, p.QueuedAt)
	if err != nil {
		return rules.Outcome{}, err
	}
	p.Data = data
	q.Pending = append(q.Pending, p)
	return out, nil
}

// Adopt appends an action that another queue already accepted (a closed
// tab's, or one migrated from older storage), keeping its id and QueuedAt.
// Unlike Push it neither needs a confirmed state nor asks the rules: the
// action was predicted when the player made it, and only the server's answer
// may drop it now; if the rules refuse it on this queue's prediction it is
// reported as Skipped like any other. It is still decoded, so what is queued
// is what the server accepts, and an id already queued is refused with
// ErrDuplicate, so one queue never replays an id twice. MaxPending does not
// apply: refusing would lose an action the player was told is queued.
func (q *Queue) Adopt(p Pending) error {
	for _, e := range q.Pending {
		if e.ID == p.ID {
			return ErrDuplicate
		}
	}
	_, data, err := decodeAction(p)
	if err != nil {
		return err
	}
	p.Data = data
	q.Pending = append(q.Pending, p)
	return nil
}

// Resolve removes the action with id, whatever the server answered, and
// reports whether it was queued. The caller rebases when the answer's state
// arrives.
func (q *Queue) Resolve(id string) bool {
	for i, e := range q.Pending {
		if e.ID == id {
			q.Pending = append(q.Pending[:i], q.Pending[i+1:]...)
			return true
		}
	}
	return false
}

// Rebase makes s, at server version, the confirmed state. A state older
// than the one held is ignored (returns false). Pending creations whose body
// the server state already holds are dropped: body ids derive from action
// ids, so the server applied them. Other actions stay until their result
// arrives, which resume guarantees (protocol.md §5).
func (q *Queue) Rebase(version uint64, s *game.State) bool {
	if q.Confirmed != nil && version < q.Version {
		return false
	}
	s.Normalize()
	q.Version, q.Confirmed = version, s
	kept := q.Pending[:0]
	for _, p := range q.Pending {
		if p.Type == protocol.TypeCreateCelestialBody {
			if _, applied := s.Bodies[rules.BodyIDPrefix+p.ID]; applied {
				continue
			}
		}
		kept = append(kept, p)
	}
	q.Pending = kept
	return true
}

// Predict returns the confirmed state with every pending action applied in
// order, and the actions the rules now refuse. With no confirmed state it
// returns nil.
func (q *Queue) Predict() (*game.State, []Skipped) {
	if q.Confirmed == nil {
		return nil, nil
	}
	s := q.Confirmed
	var skipped []Skipped
	for _, p := range q.Pending {
		act, _, err := decodeAction(p)
		if err == nil {
			var out rules.Outcome
			if out, err = rules.Apply(s, act, p.ID, p.QueuedAt); err == nil {
				s = out.State
				continue
			}
		}
		msg := err.Error()
		var rej *rules.Rejection
		if errors.As(err, &rej) {
			msg = rej.Message
		}
		skipped = append(skipped, Skipped{ID: p.ID, Message: msg})
	}
	return s, skipped
}

// decodeAction checks p through the wire decoder, so a queued action is
// exactly what the server will accept, and returns its re-encoded data.
func decodeAction(p Pending) (protocol.Action, json.RawMessage, error) {
	frame, err := json.Marshal(protocol.Envelope{Type: p.Type, ID: p.ID, Data: p.Data})
	if err != nil {
		return nil, nil, fmt.Errorf("offline: encode action: %w", err)
	}
	_, msg, err := protocol.DecodeClient(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("offline: %w", err)
	}
	act, ok := msg.(protocol.Action)
	if !ok {
		return nil, nil, fmt.Errorf("offline: %s is not an action", p.Type)
	}
	data, err := json.Marshal(act)
	if err != nil {
		return nil, nil, fmt.Errorf("offline: encode action data: %w", err)
	}
	return act, data, nil
}
