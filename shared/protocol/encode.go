package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Encode builds a frame for m. Variants without fields carry no data
// (protocol.md §2); id and seq are omitted when zero.
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

// AppendFrame appends a frame built from pre-encoded data (nil for none) to
// dst. It lets the server number a message, or wrap bytes shared by many
// recipients, without re-encoding the data.
func AppendFrame(dst []byte, typ, id string, seq uint64, data []byte) []byte {
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
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}
