package protocol

import (
	"encoding/json"
	"fmt"
)

// Encode builds a frame for m. Variants without fields carry no data
// (CONTRACT §2); id and seq are omitted when zero.
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
