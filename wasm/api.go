// Command wasm is the browser adapter of the shared core (STYLE §7). Built
// with GOOS=js GOARCH=wasm, its main (main_js.go) registers one global
// object, cosmic, whose functions take and return JSON strings, then blocks.
// The browser thereby runs exactly the server's decoder, rules, patches and
// offline queue.
//
// Everything but the syscall/js glue lives here, without build tags, so
// that it is tested natively: functions maps each function name to a
// method of module taking the arguments as strings, and module.call turns
// the result into the string the browser receives. A module keeps the
// last few documents it decoded or produced (cache.go), so that those the
// browser passes back are not decoded again. README.md documents the
// JavaScript API.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

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
	Reason  string // the rules' reason code (protocol.Reason…), for "rejected"
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func badInput(format string, args ...any) error {
	return &apiError{Code: codeBadInput, Message: fmt.Sprintf(format, args...)}
}

// module is the state behind the cosmic object: the caches of decoded
// documents. Its methods are safe for concurrent use, though the browser
// calls them from one thread only.
type module struct {
	mu     sync.Mutex // held for a whole call: the caches are not safe for concurrent use
	states docCache[*stateDoc]
	queues docCache[*queueDoc]
}

// newModule returns a module with empty caches.
func newModule() *module {
	return &module{states: docCache[*stateDoc]{max: maxStates}, queues: docCache[*queueDoc]{max: maxQueues}}
}

// functions is the table of functions registered on the cosmic object.
// Read-only.
var functions = map[string]func(m *module, args []string) (any, error){
	"decodeClient":    (*module).decodeClient,
	"decodeServer":    (*module).decodeServer,
	"canonical":       (*module).canonical,
	"hash":            (*module).hash,
	"applyPatch":      (*module).applyPatch,
	"applyAction":     (*module).applyAction,
	"validateState":   (*module).validateState,
	"settle":          (*module).settle,
	"settleResources": (*module).settleResources,
	"balance":         (*module).balance,
	"quote":           (*module).quote,
	"rates":           (*module).rates,
	"bodyId":          (*module).bodyID,
	"queuePush":       (*module).queuePush,
	"queueAdopt":      (*module).queueAdopt,
	"queueResolve":    (*module).queueResolve,
	"queueRebase":     (*module).queueRebase,
	"queuePredict":    (*module).queuePredict,
	"queuePending":    (*module).queuePending,
}

// call runs the function name with args and returns its answer as canonical
// JSON: {"ok":true,"value":V} or {"code":C,"message":M,"ok":false} (with
// "id" for decode errors that carry one). It never panics: this is the
// WASM boundary, where a panic would kill the module for good.
func (m *module) call(name string, args []string) string { return m.answer(name, args).String() }

// answer is call's answer in parts, for the JavaScript glue to join.
func (m *module) answer(name string, args []string) (r reply) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			r = reply{head: encodeError(&apiError{Code: codeInternal, Message: fmt.Sprintf("%s: %v", name, p)})}
		}
	}()
	f, ok := functions[name]
	if !ok {
		return reply{head: encodeError(badInput("unknown function %q", name))}
	}
	v, err := f(m, args)
	if err != nil {
		return reply{head: encodeError(err)}
	}
	const head, tail = `{"ok":true,"value":`, `}`
	switch v := v.(type) {
	case rawValue:
		return reply{head: head + string(v) + tail}
	case reply:
		return reply{head + v.head, v.doc, v.tail + tail}
	}
	b, err := json.Marshal(struct {
		OK    bool `json:"ok"`
		Value any  `json:"value"`
	}{true, v})
	if err == nil {
		b, err = patch.Canonical(b)
	}
	if err != nil {
		return reply{head: encodeError(&apiError{Code: codeInternal, Message: fmt.Sprintf("%s: encode answer: %v", name, err)})}
	}
	return reply{head: string(b)}
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
		Reason  string `json:"reason,omitempty"`
	}{false, ae.Code, ae.ID, ae.Message, ae.Reason})
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

// stateArg returns the garden args[i] decodes to, from the cache when the
// module has seen that exact text.
func (m *module) stateArg(args []string, i int, name string) (*stateDoc, error) {
	text, err := arg(args, i, name)
	if err != nil {
		return nil, err
	}
	if d, ok := m.states.get(text); ok {
		return d, nil
	}
	s, err := game.Decode([]byte(text))
	if err != nil {
		return nil, badInput("%s: %v", name, err)
	}
	enc, err := game.NewEncoding(s)
	if err != nil {
		return nil, err
	}
	d := newStateDoc(enc, nil)
	m.states.put(text, d) // under the text it comes from, canonical or not
	return d, nil
}

// canonicalStateArg returns the garden args[i] is the canonical text of,
// or nil when it is not one: the cached garden, or the text decoded and
// then cached. A garden from a full StateUpdate, which the page makes
// canonical, hashes, then rebases the queue on, is decoded once for the
// three calls.
func (m *module) canonicalStateArg(args []string, i int) *stateDoc {
	if i >= len(args) {
		return nil
	}
	text := args[i]
	d, ok := m.states.get(text)
	if !ok {
		s, err := game.Decode([]byte(text))
		if err != nil {
			return nil
		}
		enc, err := game.NewEncoding(s)
		if err != nil || string(enc.Bytes()) != text {
			return nil
		}
		d = newStateDoc(enc, nil)
		m.remember(d)
	}
	if !d.canonical || d.text != text {
		return nil
	}
	return d
}

// remember caches a garden the module made under its text, if that is
// canonical: decoding the text gives the same garden back.
func (m *module) remember(d *stateDoc) {
	if d.canonical {
		m.states.put(d.text, d)
	}
}

// decodeClient(frame) → {envelope, message}: the frame as the server
// decodes it. Errors carry the contract code and the echoed id.
func (*module) decodeClient(args []string) (any, error) {
	return decodeWith(args, protocol.DecodeClient)
}

// decodeServer(frame) → {envelope, message}: a server frame.
func (*module) decodeServer(args []string) (any, error) {
	return decodeWith(args, protocol.DecodeServer)
}

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
func (m *module) canonical(args []string) (any, error) {
	if d := m.canonicalStateArg(args, 0); d != nil {
		return reply{doc: d.text}, nil
	}
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
func (m *module) hash(args []string) (any, error) {
	if d := m.canonicalStateArg(args, 0); d != nil {
		return d.hashHex(), nil
	}
	c, err := m.canonical(args)
	if err != nil {
		return nil, err
	}
	return game.Hash([]byte(c.(string))), nil
}

// applyPatch(doc, patch) → {doc, hash}: the canonical result and its hash.
// A garden in canonical form with a patch of the kind the server sends
// takes patch.ApplyState; anything else patch.Apply. Both give the same
// bytes.
func (m *module) applyPatch(args []string) (any, error) {
	text, err := arg(args, 0, "doc")
	if err != nil {
		return nil, err
	}
	p, err := arg(args, 1, "patch")
	if err != nil {
		return nil, err
	}
	if d := m.canonicalStateArg(args, 0); d != nil {
		if next, ok := patch.ApplyState(d.state(), []byte(p)); ok {
			if nd, err := d.derive(next); err == nil {
				m.remember(nd)
				return withDoc(nd.text, docKey("doc"), str("hash", nd.hashHex())), nil
			}
		}
	}
	out, err := patch.Apply([]byte(text), []byte(p))
	if err != nil {
		return nil, badInput("%v", err)
	}
	return withDoc(string(out), docKey("doc"), str("hash", game.Hash(out))), nil
}

// applyAction(state, action, now) → {state, hash, body_id, message}, the
// action {type, id, data} applied by the rules at now (Unix ms).
func (m *module) applyAction(args []string) (any, error) {
	d, err := m.stateArg(args, 0, "state")
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
	out, err := rules.Apply(d.state(), act, a.ID, now)
	if err != nil {
		return nil, ruleError(err)
	}
	return outcome(d, out)
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
		return &apiError{Code: codeRejected, Message: rej.Message, Reason: rej.Code}
	}
	return err
}

// outcome is {body_id, hash, message, state} for out, whose garden derives
// from from's.
func outcome(from *stateDoc, out rules.Outcome) (reply, error) {
	d, err := from.derive(out.State)
	if err != nil {
		return reply{}, err
	}
	return withDoc(d.text, str("body_id", out.BodyID), str("hash", d.hashHex()), str("message", out.Message), docKey("state")), nil
}

// validateState(state, owner) → {valid: true}, or {ok:false, code:
// "rejected"} naming what the rules refuse.
func (m *module) validateState(args []string) (any, error) {
	d, err := m.stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	owner, err := arg(args, 1, "owner")
	if err != nil {
		return nil, err
	}
	if err := rules.ValidateState(d.state(), owner); err != nil {
		return nil, ruleError(err)
	}
	return rawValue(`{"valid":true}`), nil
}

// settled returns the garden args[0] with growth credited up to args[1].
func (m *module) settled(args []string) (*stateDoc, *game.State, error) {
	d, err := m.stateArg(args, 0, "state")
	if err != nil {
		return nil, nil, err
	}
	now, err := intArg(args, 1, "now")
	if err != nil {
		return nil, nil, err
	}
	// The page settles one garden at one time for several displays.
	if d.settled == nil || d.settledAt != now {
		d.settled, d.settledAt = rules.Settle(d.state(), now), now
	}
	return d, d.settled, nil
}

// settle(state, now) → {state, hash}: growth credited up to now.
func (m *module) settle(args []string) (any, error) {
	d, s, err := m.settled(args)
	if err != nil {
		return nil, err
	}
	if d, err = d.derive(s); err != nil {
		return nil, err
	}
	return withDoc(d.text, str("hash", d.hashHex()), docKey("state")), nil
}

// settleResources(state, now) → {energy, stardust}: the resources of
// settle(state, now), without the garden around them.
func (m *module) settleResources(args []string) (any, error) {
	_, s, err := m.settled(args)
	if err != nil {
		return nil, err
	}
	r := s.Resources
	if !safeInt(r.Energy) || !safeInt(r.Stardust) {
		return r, nil // canonical form rounds them: the slow way
	}
	return object(raw("energy", strconv.AppendInt(nil, r.Energy, 10)), raw("stardust", strconv.AppendInt(nil, r.Stardust, 10))), nil
}

func safeInt(v int64) bool { return v >= -game.MaxSafeInt && v <= game.MaxSafeInt }

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
func (*module) balance([]string) (any, error) {
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

// quote(state) → {bodies, topics}: rules.QuoteFor, the price of every body
// type and of the next level of every topic in state, or the reason code
// and message of why the rules refuse it there. One call for the whole
// sidebar: the page asks again only when the garden's research or body
// count changes.
func (m *module) quote(args []string) (any, error) {
	d, err := m.stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	return rules.QuoteFor(d.state()), nil
}

// rates(state) → {energy, stardust}: growth in thousandths of a unit per
// second (rules.RatesFor), research bonuses included.
func (m *module) rates(args []string) (any, error) {
	d, err := m.stateArg(args, 0, "state")
	if err != nil {
		return nil, err
	}
	return rules.RatesFor(d.state()), nil
}

// bodyId(actionId) → the id of the body a CreateCelestialBody with that
// envelope id makes (rules.BodyID), as a string.
func (*module) bodyID(args []string) (any, error) {
	id, err := arg(args, 0, "actionId")
	if err != nil {
		return nil, err
	}
	return rules.BodyID(id), nil
}

// queueArg decodes a persisted queue; "" and "null" are an empty queue.
// A queue the module has seen comes from the cache, its garden with it.
func (m *module) queueArg(args []string) (*queueDoc, error) {
	s, err := arg(args, 0, "queue")
	if err != nil {
		return nil, err
	}
	if d, ok := m.queues.get(s); ok {
		return d, nil
	}
	d := m.decodeQueue(s)
	if d == nil || d.text != s {
		// Not a queue the module wrote: encoding/json all the way, as
		// it reads (merging repeated members) and explains failures.
		var q offline.Queue
		if s != "" {
			if err := json.Unmarshal([]byte(s), &q); err != nil {
				return nil, badInput("queue: %v", err)
			}
		}
		if d, err = m.newQueue(&q); err != nil {
			return nil, err
		}
	}
	m.queues.put(s, d)
	return d, nil
}

// decodeQueue decodes a queue whose garden takes game.Decode's fast path;
// nil if it fails. Only a queue whose text is then the canonical one is
// kept: a canonical text has no repeated member, which encoding/json
// would merge.
func (m *module) decodeQueue(s string) *queueDoc {
	var raw struct {
		Confirmed json.RawMessage   `json:"confirmed"`
		Pending   []offline.Pending `json:"pending"`
		Version   uint64            `json:"version"`
	}
	if s == "" || json.Unmarshal([]byte(s), &raw) != nil {
		return nil
	}
	q := offline.Queue{Version: raw.Version, Pending: raw.Pending}
	if string(raw.Confirmed) != "null" {
		var err error
		if q.Confirmed, err = game.Decode(raw.Confirmed); err != nil {
			return nil
		}
	}
	d, err := m.newQueue(&q)
	if err != nil {
		return nil
	}
	return d
}

// newQueue returns the document of a queue just decoded, its garden
// normalized and shared with the garden cache.
func (m *module) newQueue(q *offline.Queue) (*queueDoc, error) {
	var confirmed *stateDoc
	if q.Confirmed != nil {
		q.Confirmed.Normalize()
		enc, err := game.NewEncoding(q.Confirmed)
		if err != nil {
			return nil, err
		}
		confirmed = newStateDoc(enc, nil)
		if known, ok := m.states.get(confirmed.text); ok && known.text == confirmed.text {
			confirmed = known // the same garden, maybe hashed already
			q.Confirmed = known.state()
		} else {
			m.remember(confirmed)
		}
	}
	return newQueueDoc(q, confirmed)
}

// keepQueue returns the document of q, changed from a queue whose garden
// was confirmed's, and caches it.
func (m *module) keepQueue(q *offline.Queue, confirmed *stateDoc) (*queueDoc, error) {
	d, err := newQueueDoc(q, confirmed)
	if err != nil {
		return nil, err
	}
	m.queues.put(d.text, d)
	return d, nil
}

// queueAndPending reads the (queue, pending) arguments of queuePush and
// queueAdopt: pending is {id, type, data, queued_at}.
func (m *module) queueAndPending(args []string) (*queueDoc, offline.Pending, error) {
	var p offline.Pending
	qd, err := m.queueArg(args)
	if err != nil {
		return nil, p, err
	}
	pText, err := arg(args, 1, "pending")
	if err != nil {
		return nil, p, err
	}
	if err := json.Unmarshal([]byte(pText), &p); err != nil {
		return nil, p, badInput("pending: %v", err)
	}
	return qd, p, nil
}

// queuePush(queue, pending) → {queue, outcome}: pending {id, type, data,
// queued_at} validated, predicted and queued.
func (m *module) queuePush(args []string) (any, error) {
	qd, p, err := m.queueAndPending(args)
	if err != nil {
		return nil, err
	}
	q := qd.queue()
	out, err := q.Push(p)
	if err != nil {
		return nil, pushError(err)
	}
	o, err := outcome(qd.confirmed, out)
	if err != nil {
		return nil, err
	}
	if qd, err = m.keepQueue(q, qd.confirmed); err != nil {
		return nil, err
	}
	return withDoc(qd.text, raw("outcome", []byte(o.String())), docKey("queue")), nil
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

// queueAdopt(queue, pending) → {queue, adopted}: pending {id, type, data,
// queued_at} appended without the rules' check (offline.Queue.Adopt);
// adopted is false, and the queue unchanged, when the id is already queued.
func (m *module) queueAdopt(args []string) (any, error) {
	qd, p, err := m.queueAndPending(args)
	if err != nil {
		return nil, err
	}
	q := qd.queue()
	switch err := q.Adopt(p); {
	case errors.Is(err, offline.ErrDuplicate):
		return withDoc(qd.text, boolean("adopted", false), docKey("queue")), nil
	case err != nil:
		return nil, pushError(err)
	}
	if qd, err = m.keepQueue(q, qd.confirmed); err != nil {
		return nil, err
	}
	return withDoc(qd.text, boolean("adopted", true), docKey("queue")), nil
}

// queueResolve(queue, id) → {queue, resolved}.
func (m *module) queueResolve(args []string) (any, error) {
	qd, err := m.queueArg(args)
	if err != nil {
		return nil, err
	}
	id, err := arg(args, 1, "id")
	if err != nil {
		return nil, err
	}
	q := qd.queue()
	resolved := q.Resolve(id)
	if resolved {
		if qd, err = m.keepQueue(q, qd.confirmed); err != nil {
			return nil, err
		}
	}
	return withDoc(qd.text, docKey("queue"), boolean("resolved", resolved)), nil
}

// queueRebase(queue, version, state) → {queue, rebased}.
func (m *module) queueRebase(args []string) (any, error) {
	qd, err := m.queueArg(args)
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
	sd, err := m.stateArg(args, 2, "state")
	if err != nil {
		return nil, err
	}
	q := qd.queue()
	rebased := q.Rebase(version, sd.state())
	if rebased {
		if qd, err = m.keepQueue(q, sd); err != nil {
			return nil, err
		}
	}
	return withDoc(qd.text, docKey("queue"), boolean("rebased", rebased)), nil
}

// queuePredict(queue) → {predicted, hash, skipped}: predicted is the
// canonical text of the predicted garden, or null before the first state.
func (m *module) queuePredict(args []string) (any, error) {
	qd, err := m.queueArg(args)
	if err != nil {
		return nil, err
	}
	if !qd.done {
		s, skipped := qd.queue().Predict()
		if s != nil {
			if qd.predicted, err = qd.confirmed.derive(s); err != nil {
				return nil, err
			}
			m.remember(qd.predicted)
		}
		qd.skipped, qd.done = skipped, true
	}
	skipped := []byte{'['}
	for i, sk := range qd.skipped {
		if i > 0 {
			skipped = append(skipped, ',')
		}
		skipped = append(skipped, object(str("id", sk.ID), str("message", sk.Message))...)
	}
	skipped = append(skipped, ']')
	if qd.predicted == nil {
		return object(raw("hash", []byte("null")), raw("predicted", []byte("null")), raw("skipped", skipped)), nil
	}
	return withDoc(qd.predicted.text, str("hash", qd.predicted.hashHex()), docKey("predicted"), raw("skipped", skipped)), nil
}

// queuePending(queue) → [{id, type, data, queued_at}]: the queue's pending
// actions in order, [] when there are none.
func (m *module) queuePending(args []string) (any, error) {
	qd, err := m.queueArg(args)
	if err != nil {
		return nil, err
	}
	if len(qd.pending) == 0 {
		return rawValue("[]"), nil
	}
	return rawValue(qd.pendingJSON), nil
}
