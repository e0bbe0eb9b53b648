package protocol

// Version is the `Welcome.protocol` of this protocol (protocol.md §4): what
// the server sends and the generated client speaks.
const Version = 1

// Error codes sent in Error.code (protocol.md §4); a newer server may add
// more. tools/tsgen copies each doc comment into protocol.gen.ts.
const (
	// CodeBadMessage means the frame is not JSON, or not an envelope.
	CodeBadMessage = "bad_message"
	// CodeUnknownType means the envelope's `type` is not a message type.
	CodeUnknownType = "unknown_type"
	// CodeInvalidData means `data` does not decode into the variant's
	// fields; the message names the field.
	CodeInvalidData = "invalid_data"
	// CodeRateLimited means the inbound rate limit was hit; the message was
	// not processed and the Error carries no `seq`.
	CodeRateLimited = "rate_limited"
	// CodeInternal means a server fault; the text is generic.
	CodeInternal = "internal"
)

// Reason codes sent in ActionResult.reason when success is false: why an
// action was refused, for programs; message says it for the player and is
// not meant to be parsed. A closed set, documented in docs/protocol.md
// ("ActionResult"); a client treats a code it does not know like a refusal
// without one.
const (
	ReasonUnknownBodyType      = "unknown_body_type"      // body_type names no body type
	ReasonRequiresResearch     = "requires_research"      // the body type needs a research topic at level ≥ 1
	ReasonOutOfRange           = "out_of_range"           // a position coordinate is not finite or beyond the world radius
	ReasonGardenFull           = "garden_full"            // the garden holds as many bodies as it may
	ReasonBodyExists           = "body_exists"            // the body this action id names exists already
	ReasonInsufficientResource = "insufficient_resources" // not enough stardust or energy
	ReasonUnknownTopic         = "unknown_topic"          // topic names no research topic
	ReasonMaxLevel             = "max_level"              // the topic is at its highest level
	ReasonInvalidState         = "invalid_state"          // a SaveGame state the rules refuse
	ReasonOperatorRequired     = "operator_required"      // a SaveGame with a state from a player's token
)

// Reasons returns every reason code, in the order above.
func Reasons() []string {
	return []string{
		ReasonUnknownBodyType, ReasonRequiresResearch, ReasonOutOfRange, ReasonGardenFull, ReasonBodyExists,
		ReasonInsufficientResource, ReasonUnknownTopic, ReasonMaxLevel, ReasonInvalidState, ReasonOperatorRequired,
	}
}

// Close codes (protocol.md §6). Each doc comment says what a client does on
// it; tools/tsgen copies them into protocol.gen.ts, whose CloseCode table
// the client's state machine (web/src/conn/state.ts) decides from.
const (
	// CloseNormal is a normal close: do nothing.
	CloseNormal = 1000
	// CloseGoingAway means the server is going away (shutdown or
	// restart): reconnect with backoff, resume.
	CloseGoingAway = 1001
	// CloseTooBig means an inbound message was too big (64 KiB by
	// default): fix the sender, do not retry.
	CloseTooBig = 1009
	// CloseProtocol means a protocol violation: do not retry blindly.
	CloseProtocol = 4400
	// CloseAuth means authentication expired or was revoked: get a new
	// token, then reconnect.
	CloseAuth = 4401
	// CloseHeartbeat means a heartbeat timeout: reconnect, resume.
	CloseHeartbeat = 4408
	// CloseTakenOver means a newer connection took the session over: do
	// not reconnect this one.
	CloseTakenOver = 4409
	// CloseTooManyMessage means the inbound rate limit closed the
	// connection: back off, reconnect.
	CloseTooManyMessage = 4429
)

// Close codes outside the protocol.md §6 table: standard RFC 6455 codes for
// the server's own faults. A client treats them as any code the table does
// not name.
const (
	// ClosePolicy (1008, policy violation) refuses a connection the server
	// will not serve, such as a session beyond the per-user limit (reason
	// "too_many_sessions"). The web client does not retry it blindly.
	ClosePolicy = 1008
	// CloseInternal (1011, internal error) ends a connection the server
	// could not open (its session or garden failed to load): reconnect
	// with backoff.
	CloseInternal = 1011
	// CloseTryAgainLater (1013) is what logs and metrics record for a
	// connection dropped without a close frame because its peer stopped
	// reading (a full send queue, a stuck write). The peer sees an abnormal
	// closure (1006) and resumes; nothing numbered is lost.
	CloseTryAgainLater = 1013
)

// Limits (protocol.md §2, §6).
const (
	// MaxIDBytes bounds the envelope id.
	MaxIDBytes = 64
	// MaxFrameBytes is the default inbound frame limit; larger frames close
	// the connection with 1009.
	MaxFrameBytes = 64 << 10
	// MaxNameBytes bounds body types and research topics.
	MaxNameBytes = 64
	// MaxTokenBytes bounds the RefreshToken token.
	MaxTokenBytes = 8 << 10
)
