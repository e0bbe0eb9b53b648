package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/cosmic-gardener/realtime/shared/internal/jsonenc"
)

// Encode builds a frame for m. Variants without fields carry no data
// (protocol.md §2); id and seq are omitted when zero. It is the reference
// encoding: the appenders below, which the server's hot paths use, write
// the same bytes without reflection (encode_test.go checks it).
func Encode(id string, seq uint64, m Message) ([]byte, error) {
	env := Envelope{Type: m.Type(), ID: id, Seq: seq}
	switch m.(type) {
	case GetState, Heartbeat, *GetState, *Heartbeat:
	default:
		data, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", m.Type(), err)
		}
		env.Data = data
	}
	frame, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode %s envelope: %w", m.Type(), err)
	}
	return frame, nil
}

// The appenders write server frames into a caller's buffer. Each writes
// exactly the bytes Encode writes for the same message, id and seq, so a
// frame is the same whichever path built it. The ones taking data []byte
// wrap data encoded once and shared (a snapshot's state, a patch, a result
// kept for replay) without copying it through a decoder.

// AppendWelcome appends the Welcome frame w to dst.
func AppendWelcome(dst []byte, w Welcome) []byte {
	data, _ := json.Marshal(w) // a struct of strings, numbers and a bool always encodes
	return appendFrame(dst, TypeWelcome, "", 0, data)
}

// AppendHeartbeat appends a Heartbeat frame (no id, seq or data) to dst.
func AppendHeartbeat(dst []byte) []byte {
	return appendFrame(dst, TypeHeartbeat, "", 0, nil)
}

// AppendStateUpdate appends a StateUpdate frame numbered seq to dst. inner
// is the encoded StateData: from AppendFullData when full, AppendPatchData
// otherwise.
func AppendStateUpdate(dst []byte, seq uint64, full bool, inner []byte) []byte {
	dst = append(dst, `{"type":"StateUpdate"`...)
	if seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
	}
	dst = append(dst, `,"data":{"full":`...)
	dst = strconv.AppendBool(dst, full)
	dst = append(dst, `,"data":`...)
	dst = append(dst, inner...)
	return append(dst, "}}"...)
}

// AppendFullData appends the StateData of a full StateUpdate,
// {"version":V,"state":S,"hash":H}, to dst. state is the canonical
// encoding of the state (game.Encode), hash its digest.
func AppendFullData(dst []byte, version uint64, state []byte, hash string) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendUint(dst, version, 10)
	dst = append(dst, `,"state":`...)
	dst = append(dst, state...)
	dst = append(dst, `,"hash":`...)
	dst = appendString(dst, hash)
	return append(dst, '}')
}

// AppendPatchData appends the StateData of a patch StateUpdate,
// {"version":V,"base":B,"patch":P,"hash":H}, to dst. patch is an encoded
// RFC 6902 JSON Patch taking base to version, hash the digest of the state
// at version.
func AppendPatchData(dst []byte, version, base uint64, patch []byte, hash string) []byte {
	dst = append(dst, `{"version":`...)
	dst = strconv.AppendUint(dst, version, 10)
	if base != 0 {
		dst = append(dst, `,"base":`...)
		dst = strconv.AppendUint(dst, base, 10)
	}
	if len(patch) != 0 {
		dst = append(dst, `,"patch":`...)
		dst = append(dst, patch...)
	}
	dst = append(dst, `,"hash":`...)
	dst = appendString(dst, hash)
	return append(dst, '}')
}

// AppendResultData appends the data of ActionResult r to dst. These bytes
// are what an action's idempotency record keeps, and every replay sends.
func AppendResultData(dst []byte, r ActionResult) []byte {
	dst = append(dst, `{"success":`...)
	dst = strconv.AppendBool(dst, r.Success)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, r.Message)
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, r.Reason)
	}
	if r.BodyID != "" {
		dst = append(dst, `,"body_id":`...)
		dst = appendString(dst, r.BodyID)
	}
	if r.Version != 0 {
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendUint(dst, r.Version, 10)
	}
	return append(dst, '}')
}

// AppendResult appends an ActionResult frame to dst: id echoes the
// action's, seq numbers it, data is from AppendResultData (or a stored
// record of it).
func AppendResult(dst []byte, id string, seq uint64, data []byte) []byte {
	return appendFrame(dst, TypeActionResult, id, seq, data)
}

// AppendError appends an Error frame to dst: id echoes the offending
// message's id ("" for none), seq is 0 for an Error not kept for resume
// (rate_limited), code is one of the Code constants.
func AppendError(dst []byte, id string, seq uint64, code, message string) []byte {
	dst = appendHead(dst, TypeError, id, seq)
	dst = append(dst, `,"data":{"code":`...)
	dst = appendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	return append(dst, "}}"...)
}

// appendFrame appends a frame wrapping pre-encoded data (nil for none).
func appendFrame(dst []byte, typ, id string, seq uint64, data []byte) []byte {
	dst = appendHead(dst, typ, id, seq)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// appendHead appends an envelope's opening brace, type, id and seq.
func appendHead(dst []byte, typ, id string, seq uint64) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, typ)
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, id)
	}
	if seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
	}
	return dst
}

// appendString appends s as json.Marshal, and so Encode, writes it.
func appendString(dst []byte, s string) []byte { return jsonenc.AppendStringHTML(dst, s) }
