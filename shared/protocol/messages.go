package protocol

import (
	"encoding/json"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// Message type names, exactly as on the wire (protocol.md §3, §4).
const (
	TypeGetState            = "GetState"
	TypeCreateCelestialBody = "CreateCelestialBody"
	TypeResearch            = "Research"
	TypeSaveGame            = "SaveGame"
	TypeHeartbeat           = "Heartbeat"
	TypeAck                 = "Ack"
	TypeRefreshToken        = "RefreshToken"
	TypeWelcome             = "Welcome"
	TypeStateUpdate         = "StateUpdate"
	TypeActionResult        = "ActionResult"
	TypeError               = "Error"
)

// Envelope is the outer object of every frame (protocol.md §2), adjacently
// tagged: Type names the variant, Data holds its fields.
type Envelope struct {
	Type string `json:"type"`
	// ID is the client's idempotency key for actions, echoed on answers.
	ID string `json:"id,omitempty"`
	// Seq numbers the server messages a resumed session must not lose.
	Seq  uint64          `json:"seq,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Message is one variant's data. Type returns its wire name.
type Message interface {
	Type() string
}

// Action is a client message that changes a garden and is deduplicated by
// its envelope id.
type Action interface {
	Message
	isAction()
}

// GetState asks for a full StateUpdate. No data.
type GetState struct{}

// CreateCelestialBody asks to add a body to the garden.
type CreateCelestialBody struct {
	BodyType string    `json:"body_type"`
	Position game.Vec3 `json:"position"`
}

// Research raises a research topic by one level.
type Research struct {
	Topic string `json:"topic"`
}

// SaveGame asks that the garden be durably stored; with State, the garden
// is replaced by it once the rules validate it.
type SaveGame struct {
	State *game.State `json:"state,omitempty"`
}

// Heartbeat keeps a connection alive; the server answers each one. No data.
type Heartbeat struct{}

// Ack reports the highest seq received in order, trimming the server's
// resend buffer.
type Ack struct {
	Seq uint64 `json:"seq"`
}

// RefreshToken replaces the connection's token with a fresher one for the
// same subject, moving its expiry.
type RefreshToken struct {
	Token string `json:"token"`
}

// Welcome opens every connection.
type Welcome struct {
	SessionID   string `json:"session_id"`
	Resumed     bool   `json:"resumed"`
	HeartbeatMS int64  `json:"heartbeat_ms"`
	UserID      string `json:"user_id"`
	Protocol    int    `json:"protocol"`
}

// StateUpdate carries a full state or a patch. It keeps the seed's nesting:
// Data is an inner object (protocol.md §4).
type StateUpdate struct {
	Full bool      `json:"full"`
	Data StateData `json:"data"`
}

// StateData is the inner object of a StateUpdate. State is set when full,
// Base and Patch otherwise; Hash is game.Hash of the canonical encoding of
// the state at Version.
type StateData struct {
	Version uint64          `json:"version"`
	Base    uint64          `json:"base,omitempty"`
	State   json.RawMessage `json:"state,omitempty"`
	Patch   json.RawMessage `json:"patch,omitempty"`
	Hash    string          `json:"hash"`
}

// ActionResult answers an action (and RefreshToken); the envelope id echoes
// the action's id.
type ActionResult struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	// Reason is a refusal's machine-readable cause, one of the Reason
	// codes; empty (and omitted) on success.
	Reason string `json:"reason,omitempty"`
	// BodyID is the id of the body a successful CreateCelestialBody made.
	BodyID string `json:"body_id,omitempty"`
	// Version is the garden version after the action was applied.
	Version uint64 `json:"version,omitempty"`
}

// ErrorMessage is the Error variant: a message that could not be processed.
type ErrorMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Type implementations.
func (GetState) Type() string            { return TypeGetState }
func (CreateCelestialBody) Type() string { return TypeCreateCelestialBody }
func (Research) Type() string            { return TypeResearch }
func (SaveGame) Type() string            { return TypeSaveGame }
func (Heartbeat) Type() string           { return TypeHeartbeat }
func (Ack) Type() string                 { return TypeAck }
func (RefreshToken) Type() string        { return TypeRefreshToken }
func (Welcome) Type() string             { return TypeWelcome }
func (StateUpdate) Type() string         { return TypeStateUpdate }
func (ActionResult) Type() string        { return TypeActionResult }
func (ErrorMessage) Type() string        { return TypeError }

func (CreateCelestialBody) isAction() {}
func (Research) isAction()            {}
func (SaveGame) isAction()            {}
