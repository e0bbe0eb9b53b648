// Command wasm is the browser adapter of the shared core (STYLE §7). Built
// with GOOS=js GOARCH=wasm, its main (main_js.go) registers one global
// object, cosmic, whose functions take and return JSON strings, then blocks.
// The browser thereby runs exactly the server's decoder, rules, patches and
// offline queue.
//
// Everything but the syscall/js glue lives here, without build tags, so
// that it is tested natively: api maps each function name to a
// func(args []string) (any, error), and call turns the result into the
// string the browser receives. README.md documents the JavaScript API.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/offline"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// Codes of {ok:false} answers, besides the protocol's decode codes
// (bad_message, unknown_type, invalid_data).
const (
	codeBadInput  = "bad_input"  // an argument is missing or not the JSON expected
	codeRejected  = "rejected"   // the rules refuse the action or state
	codeNoState   = "no_state"   // queuePush before the first queueRebase
	codeQueueFull = "queue_full" // queuePush beyond offline.MaxPending
	codeDuplicate = "duplicate"  // queuePush with an id already queued
	codeInternal  = "internal"   // a bug: a panic recovered at the boundary
)

// apiError is an {ok:false} answer.
type apiError struct {
	Code    string
	Message string
	ID      string // the envelope id, for decode errors that have one
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badInput(format string, args ...any) error {
	return &apiError{Code: codeBadInput, Message: fmt.Sprintf(format, args...)}
}

// api is the table of functions registered on the cosmic object. Read-only.
var api = map[string]func(args []string) (any, error){
	"decodeClient":  decodeClient,
	"decodeServer":  decodeServer,
	"canonical":     canonical,
	"hash":          hash,
	"diff":          diff,
	"applyPatch":    applyPatch,
	"applyAction":   applyAction,
	"validateState": validateState,
	"settle":        settle,
	"balance":       balance,
	"queuePush":     queuePush,
	"queueResolve":  queueResolve,
	"queueRebase":   queueRebase,
	"queuePredict":  queuePredict,
}

// call runs the function name with args and returns its answer as canonical
// JSON: {"ok":true,"value":V} or {"code":C,"message":M,"ok":false} (with
// "id" for decode errors that carry one). It never panics: this is the
// WASM boundary, where a panic would kill the module for good.
func call(name string, args []string) (answer string) {
	defer func() {
		if r := recover(); r != nil {
			answer = encodeError(&apiError{Code: codeInternal, Message: fmt.Sprintf("%s: %v", name, r)})
		}
	}()
	f, ok := api[name]
	if !ok {
		return encodeError(badInput("unknown function %q", name))
	}
	v, err := f(args)
	if err != nil {
		return encodeError(err)
	}
	b, err := json.Marshal(struct {
		OK    bool `json:"ok"`
		Value any  `json:"value"`
	}{true, v})
	if err == nil {
		b, err = patch.Canonical(b)
	}
	if err != nil {
		return encodeError(&apiError{Code: codeInternal, Message: fmt.Sprintf("%s: encode answer: %v", name, err)})
	}
	return string(b)
}

func encodeError(err error) string {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{Code: codeInternal, Message: err.Error()}
	}
	b, _ := json.Marshal(struct {
		OK      bool   `json:"ok"`
		Code    string `json:"code"`
		ID      string `json:"id,omitempty"`
		Message string `json:"message"`
	}{false, ae.Code, ae.ID, ae.Message})
	c, err := patch.Canonical(b)
	if err != nil {
		return `{"code":"internal","message":"encode error","ok":false}`
	}
	return string(c)
}

// arg returns args[i], or an error naming the missing argument.
func arg(args []string, i int, name string) (string, error) {
	if i >= len(args) {
		return "", badInput("argument %d (%s) is missing", i+1, name)
	}
	return args[i], nil
}

func intArg(args []string, i int, name string) (int64, error) {
	s, err := arg(args, i, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badInput("%s: want an integer, got %q", name, s)
	}
	return n, nil
}

func docArg(args []string, i int, name string) ([]byte, error) {
	s, err := arg(args, i, name)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func stateArg(args []string, i int, name string) (*game.State, error) {
	b, err := docArg(args, i, name)
	if err != nil {
		return nil, err
	}
	s, err := game.Decode(b)
	if err != nil {
		return nil, badInput("%s: %v", name, err)
	}
	return s, nil
}

// encodeState returns the canonical text of s and its hash.
func encodeState(s *game.State) (string, string, error) {
	b, err := game.Encode(s)
	if err != nil {
		return "", "", err
	}
	return string(b), game.Hash(b), nil
}

// decodeClient(frame) → {envelope, message}: the frame as the server
// decodes it. Errors carry the contract code and the echoed id.
func decodeClient(args []string) (any, error) { return decodeWith(args, protocol.DecodeClient) }

// decodeServer(frame) → {envelope, message}: a server frame.
func decodeServer(args []string) (any, error) { return decodeWith(args, protocol.DecodeServer) }

type decoded struct {
	Envelope protocol.Envelope `json:"envelope"`
	Message  protocol.Message  `json:"message"`
}

func decodeWith(args []string, decode func([]byte) (protocol.Envelope, protocol.Message, error)) (any, error) {
	frame, err := docArg(args, 0, "frame")
	if err != nil {
		return nil, err
	}
	env, msg, err := decode(frame)
	if err != nil {
		var de *protocol.DecodeError
		if errors.As(err, &de) {
			return nil, &apiError{Code: de.Code, Message: de.Message, ID: de.ID}
		}
		return nil, err
	}
	return decoded{env, msg}, nil
}

// canonical(doc) → the canonical text of doc, as a string.
func canonical(args []string) (any, error) {
	doc, err := docArg(args, 0, "doc")
	if err != nil {
		return nil, err
	}
	c, err := patch.Canonical(doc)
	if err != nil {
		return nil, badInput("doc: %v", err)
	}
	return string(c), nil
}

// hash(doc) → the hex SHA-256 of the canonical text of doc.
func hash(args []string) (any, error) {
	c, err := canonical(args)
	if err != nil {
		return nil, err
	}
	return game.Hash([]byte(c.(string))), nil
}

// diff(a, b) → the canonical text of a JSON Patch taking a to b.
func diff(args []string) (any, error) {
	a, err := docArg(args, 0, "a")
	if err != nil {
		return nil, err
	}
	b, err := docArg(args, 1, "b")
	if err != nil {
		return nil, err
	}
	p, err := patch.Diff(a, b)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return string(p), nil
}

// applyPatch(doc, patch) → {doc, hash}: the canonical result and its hash.
func applyPatch(args []string) (any, error) {
	doc, err := docArg(args, 0, "doc")
	if err != nil {
		return nil, err
	}
	p, err := docArg(args, 1, "patch")
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(doc, p)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return map[string]string{"doc": string(out), "hash": game.Hash(out)}, nil
}

type outcome struct {
	State   string `json:"state"`
	Hash    string `json:"hash"`
	BodyID  string `json:"body_id"` // "" unless a body was created
	Message string `json:"message"`
}

// applyAction(state, action, now) → {state, hash, body_id, message}, the
// action {type, id, data} applied by the rules at now (Unix ms).
func applyAction(args []string) (any, error) {
	s, err := stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	actText, err := arg(args, 1, "action")
	if err != nil {
		return nil, err
	}
	now, err := intArg(args, 2, "now")
	if err != nil {
		return nil, err
	}
	var a struct {
		Type string          `json:"type"`
		ID   string          `json:"id"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(actText), &a); err != nil {
		return nil, badInput("action: %v", err)
	}
	p := offline.Pending{ID: a.ID, Type: a.Type, Data: a.Data}
	act, err := decodeAction(p)
	if err != nil {
		return nil, err
	}
	out, err := rules.Apply(s, act, a.ID, now)
	if err != nil {
		return nil, ruleError(err)
	}
	return toOutcome(out)
}

// decodeAction decodes an action through the wire decoder, as the server
// does.
func decodeAction(p offline.Pending) (protocol.Action, error) {
	frame, err := json.Marshal(protocol.Envelope{Type: p.Type, ID: p.ID, Data: p.Data})
	if err != nil {
		return nil, badInput("action: %v", err)
	}
	env, msg, err := protocol.DecodeClient(frame)
	if err != nil {
		var de *protocol.DecodeError
		if !errors.As(err, &de) {
			return nil, err
		}
		return nil, &apiError{Code: de.Code, Message: de.Message, ID: de.ID}
	}
	act, ok := msg.(protocol.Action)
	if !ok {
		return nil, &apiError{Code: protocol.CodeInvalidData, Message: env.Type + " is not an action", ID: env.ID}
	}
	return act, nil
}

func ruleError(err error) error {
	var rej *rules.Rejection
	if errors.As(err, &rej) {
		return &apiError{Code: codeRejected, Message: rej.Message}
	}
	return err
}

func toOutcome(out rules.Outcome) (outcome, error) {
	text, h, err := encodeState(out.State)
	if err != nil {
		return outcome{}, err
	}
	return outcome{State: text, Hash: h, BodyID: out.BodyID, Message: out.Message}, nil
}

// validateState(state, owner) → {valid: true}, or {ok:false, code:
// "rejected"} naming what the rules refuse.
func validateState(args []string) (any, error) {
	s, err := stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	owner, err := arg(args, 1, "owner")
	if err != nil {
		return nil, err
	}
	if err := rules.ValidateState(s, owner); err != nil {
		return nil, ruleError(err)
	}
	return map[string]bool{"valid": true}, nil
}

// settle(state, now) → {state, hash}: growth credited up to now.
func settle(args []string) (any, error) {
	s, err := stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	now, err := intArg(args, 1, "now")
	if err != nil {
		return nil, err
	}
	text, h, err := encodeState(rules.Settle(s, now))
	if err != nil {
		return nil, err
	}
	return map[string]string{"state": text, "hash": h}, nil
}

type bodyInfo struct {
	Type         string         `json:"type"`
	Cost         game.Resources `json:"cost"`
	StardustRate int64          `json:"stardust_rate"`
	EnergyRate   int64          `json:"energy_rate"`
	Requires     string         `json:"requires,omitempty"`
}

type topicInfo struct {
	Topic    string         `json:"topic"`
	Cost     game.Resources `json:"cost"`
	Effect   string         `json:"effect"`
	MaxLevel int            `json:"max_level"`
}

// balance() → {body_types, topics, limits}: the game balance for the UI.
// Rates are thousandths of a unit per second; a topic's level n costs
// n² × cost.
func balance([]string) (any, error) {
	var bodies []bodyInfo
	for _, t := range rules.BodyTypes() {
		k, _ := rules.Kind(t)
		bodies = append(bodies, bodyInfo{t, k.Cost, k.StardustRate, k.EnergyRate, k.Requires})
	}
	var topics []topicInfo
	for _, name := range rules.TopicNames() {
		tp, _ := rules.TopicByName(name)
		topics = append(topics, topicInfo{name, tp.Cost, tp.Effect, rules.MaxResearchLevel})
	}
	return map[string]any{
		"body_types": bodies,
		"topics":     topics,
		"limits": map[string]any{
			"start_resources":     game.Resources{Energy: rules.StartEnergy, Stardust: rules.StartStardust},
			"base_max_bodies":     rules.BaseMaxBodies,
			"gravity_well_bodies": rules.GravityWellBodies,
			"world_radius":        rules.WorldRadius,
			"max_resource":        rules.MaxResource,
			"max_growth_ms":       rules.MaxGrowthMillis,
			"max_research_level":  rules.MaxResearchLevel,
			"base_stardust_rate":  rules.BaseStardustRate,
			"base_energy_rate":    rules.BaseEnergyRate,
			"body_id_prefix":      rules.BodyIDPrefix,
			"max_pending":         offline.MaxPending,
			"max_id_bytes":        protocol.MaxIDBytes,
		},
	}, nil
}

// queueArg decodes a persisted queue; "" and "null" are an empty queue.
func queueArg(args []string) (*offline.Queue, error) {
	s, err := arg(args, 0, "queue")
	if err != nil {
		return nil, err
	}
	var q offline.Queue
	if s != "" {
		if err := json.Unmarshal([]byte(s), &q); err != nil {
			return nil, badInput("queue: %v", err)
		}
	}
	if q.Confirmed != nil {
		q.Confirmed.Normalize()
	}
	return &q, nil
}

func encodeQueue(q *offline.Queue) (string, error) {
	b, err := json.Marshal(q)
	if err == nil {
		b, err = patch.Canonical(b)
	}
	return string(b), err
}

// queuePush(queue, pending) → {queue, outcome}: pending {id, type, data,
// queued_at} validated, predicted and queued.
func queuePush(args []string) (any, error) {
	q, err := queueArg(args)
	if err != nil {
		return nil, err
	}
	pText, err := arg(args, 1, "pending")
	if err != nil {
		return nil, err
	}
	var p offline.Pending
	if err := json.Unmarshal([]byte(pText), &p); err != nil {
		return nil, badInput("pending: %v", err)
	}
	out, err := q.Push(p)
	if err != nil {
		return nil, pushError(err)
	}
	o, err := toOutcome(out)
	if err != nil {
		return nil, err
	}
	text, err := encodeQueue(q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"queue": text, "outcome": o}, nil
}

func pushError(err error) error {
	var de *protocol.DecodeError
	switch {
	case errors.Is(err, offline.ErrNoState):
		return &apiError{Code: codeNoState, Message: err.Error()}
	case errors.Is(err, offline.ErrFull):
		return &apiError{Code: codeQueueFull, Message: err.Error()}
	case errors.Is(err, offline.ErrDuplicate):
		return &apiError{Code: codeDuplicate, Message: err.Error()}
	case errors.As(err, &de):
		return &apiError{Code: de.Code, Message: de.Message, ID: de.ID}
	}
	var rej *rules.Rejection
	if errors.As(err, &rej) {
		return ruleError(err)
	}
	return &apiError{Code: protocol.CodeInvalidData, Message: err.Error()}
}

// queueResolve(queue, id) → {queue, resolved}.
func queueResolve(args []string) (any, error) {
	q, err := queueArg(args)
	if err != nil {
		return nil, err
	}
	id, err := arg(args, 1, "id")
	if err != nil {
		return nil, err
	}
	resolved := q.Resolve(id)
	text, err := encodeQueue(q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"queue": text, "resolved": resolved}, nil
}

// queueRebase(queue, version, state) → {queue, rebased}.
func queueRebase(args []string) (any, error) {
	q, err := queueArg(args)
	if err != nil {
		return nil, err
	}
	v, err := arg(args, 1, "version")
	if err != nil {
		return nil, err
	}
	version, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, badInput("version: want a non-negative integer, got %q", v)
	}
	s, err := stateArg(args, 2, "state")
	if err != nil {
		return nil, err
	}
	rebased := q.Rebase(version, s)
	text, err := encodeQueue(q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"queue": text, "rebased": rebased}, nil
}

// queuePredict(queue) → {predicted, hash, skipped}: predicted is the
// canonical text of the predicted garden, or null before the first state.
func queuePredict(args []string) (any, error) {
	q, err := queueArg(args)
	if err != nil {
		return nil, err
	}
	s, skipped := q.Predict()
	if skipped == nil {
		skipped = []offline.Skipped{}
	}
	if s == nil {
		return map[string]any{"predicted": nil, "hash": nil, "skipped": skipped}, nil
	}
	text, h, err := encodeState(s)
	if err != nil {
		return nil, err
	}
	return map[string]any{"predicted": text, "hash": h, "skipped": skipped}, nil
}
