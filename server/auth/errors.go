package auth

import (
	"encoding/json"
	"net/http"
)

// Error codes of protocol.md §1. They are sent to clients as the "code" of an
// HTTP 401 body or as the reason of a 4401 close.
const (
	// CodeRequired means no token was presented.
	CodeRequired = "auth_required"
	// CodeInvalid means the token is malformed, badly signed, uses an
	// algorithm that is not configured, lacks a required claim, or is not
	// valid yet. The client needs a different token.
	CodeInvalid = "auth_invalid"
	// CodeExpired means the token was valid but its exp has passed (beyond
	// the leeway). The client should fetch a fresh token and reconnect.
	CodeExpired = "auth_expired"
)

// Error is an authentication refusal with a contract code.
//
// Code and Message are safe to send to clients: Message is one of a fixed set
// of texts and never echoes the token or any value taken from it. Err is the
// underlying cause, for logs only; Error() includes it, and it may quote a
// malformed claim value, but never the whole token or its signature.
type Error struct {
	Code    string
	Message string
	Err     error
}

func newError(code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// Error returns "auth: <code>: <message>", followed by the cause if any.
// It is meant for logs; send Code and Message to clients instead.
func (e *Error) Error() string {
	s := "auth: " + e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WriteHTTPError answers a header client's refused handshake (protocol.md §1):
// HTTP 401, Content-Type application/json and the body
// {"code":"...","message":"..."}. It also sets a WWW-Authenticate challenge
// (RFC 6750) and Cache-Control: no-store. A nil e is written as
// auth_required.
func WriteHTTPError(w http.ResponseWriter, e *Error) {
	if e == nil {
		e = newError(CodeRequired, msgRequired, nil)
	}
	body, err := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	if err != nil { // Cannot happen with two strings; keep the 401 anyway.
		body = []byte(`{"code":"` + CodeInvalid + `","message":""}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.Code == CodeRequired {
		h.Set("WWW-Authenticate", "Bearer")
	} else {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(body)
}
