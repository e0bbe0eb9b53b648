// Package protocol defines the wire format of protocol.md §2–§6: the envelope,
// every message variant with its exact JSON form, error and close codes,
// and the limits a peer must respect.
//
// Decoding is strict about what the contract fixes and lenient about the
// rest: unknown fields are ignored, an unknown type is a *DecodeError with
// CodeUnknownType, and a data that does not fit its variant is one with
// CodeInvalidData whose message names the field.
package protocol
