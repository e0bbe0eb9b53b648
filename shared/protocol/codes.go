package protocol

// Version is the protocol number sent in Welcome.
const Version = 1

// Error codes sent in Error.code (protocol.md §4).
const (
	CodeBadMessage  = "bad_message"
	CodeUnknownType = "unknown_type"
	CodeInvalidData = "invalid_data"
	CodeRateLimited = "rate_limited"
	CodeInternal    = "internal"
)

// Close codes (protocol.md §6).
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
