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

// Close codes outside the CONTRACT §6 table: standard RFC 6455 codes for
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
