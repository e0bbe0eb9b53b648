package protocol

// Version is the protocol number sent in Welcome.
const Version = 1

// Error codes sent in Error.code (CONTRACT §4).
const (
	CodeBadMessage  = "bad_message"
	CodeUnknownType = "unknown_type"
	CodeInvalidData = "invalid_data"
	CodeRateLimited = "rate_limited"
	CodeInternal    = "internal"
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

// Close codes (CONTRACT §6).
const (
	CloseNormal         = 1000
	CloseGoingAway      = 1001
	CloseTooBig         = 1009
	CloseProtocol       = 4400
	CloseAuth           = 4401
	CloseHeartbeat      = 4408
	CloseTakenOver      = 4409
	CloseTooManyMessage = 4429
)

// Limits (CONTRACT §2, §6).
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
