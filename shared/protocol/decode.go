package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// DecodeError is a frame that cannot be processed. Code is one of
// CodeBadMessage, CodeUnknownType or CodeInvalidData; Message names the
// offending field and is safe to send to the peer. ID is the envelope id
// when the frame had a valid one, for the Error's echo.
type DecodeError struct {
	Code    string
	ID      string
	Message string
}

func (e *DecodeError) Error() string { return e.Code + ": " + e.Message }

// rawEnvelope defers typing so that a wrong type for one member names that
// member instead of failing the whole frame with an opaque message.
type rawEnvelope struct {
	Type json.RawMessage `json:"type"`
	ID   json.RawMessage `json:"id"`
	Seq  json.RawMessage `json:"seq"`
	Data json.RawMessage `json:"data"`
}

// DecodeEnvelope parses the outer object of a frame. It checks type and id
// (protocol.md §2) and leaves Data undecoded.
func DecodeEnvelope(frame []byte) (Envelope, error) {
	var raw rawEnvelope
	// encoding/json reads bytes that are not UTF-8 inside strings (as
	// U+FFFD), so the frame is parsed first: such bytes in the id are the
	// id's fault (invalid_data, below), anywhere else the frame's
	// (bad_message, once the id is known).
	textOK := utf8.Valid(frame)
	if err := json.Unmarshal(frame, &raw); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case !textOK:
			return Envelope{}, &DecodeError{Code: CodeBadMessage, Message: "frame is not valid UTF-8"}
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return Envelope{}, &DecodeError{Code: CodeBadMessage, Message: "frame is not a JSON object"}
		}
		return Envelope{}, &DecodeError{Code: CodeBadMessage, Message: "frame is not valid JSON"}
	}
	var env Envelope
	if len(raw.ID) > 0 && !isNull(raw.ID) {
		if err := json.Unmarshal(raw.ID, &env.ID); err != nil {
			return Envelope{}, &DecodeError{Code: CodeBadMessage, Message: "id: must be a string"}
		}
		if !validText(raw.ID) {
			// encoding/json turned each offending piece into U+FFFD, so
			// "s\ud800" and "s\udc00" would share one idempotency key and
			// the second action would get the first's result. The Error
			// echoes no id: the normalised one would name another id, and
			// a Go string cannot hold the exact one (protocol.md §2).
			return Envelope{}, &DecodeError{Code: CodeInvalidData,
				Message: "id: not valid Unicode text (a lone or reversed \\u surrogate escape, or bytes that are not UTF-8)"}
		}
		if len(env.ID) > MaxIDBytes {
			return Envelope{}, &DecodeError{Code: CodeBadMessage, Message: fmt.Sprintf("id: longer than %d bytes", MaxIDBytes)}
		}
	}
	if !textOK {
		return Envelope{}, &DecodeError{Code: CodeBadMessage, ID: env.ID, Message: "frame is not valid UTF-8"}
	}
	if len(raw.Type) == 0 || isNull(raw.Type) {
		return Envelope{}, &DecodeError{Code: CodeBadMessage, ID: env.ID, Message: "type: required"}
	}
	if err := json.Unmarshal(raw.Type, &env.Type); err != nil {
		return Envelope{}, &DecodeError{Code: CodeBadMessage, ID: env.ID, Message: "type: must be a string"}
	}
	if len(raw.Seq) > 0 && !isNull(raw.Seq) {
		// A client has no reason to send seq; a bad one is ignored rather
		// than refused, as unknown fields are.
		_ = json.Unmarshal(raw.Seq, &env.Seq)
	}
	if !isNull(raw.Data) {
		env.Data = raw.Data
	}
	return env, nil
}

// DecodeClient parses a frame a client sent to the server.
func DecodeClient(frame []byte) (Envelope, Message, error) {
	return decode(frame, clientDecoders)
}

// DecodeServer parses a frame the server sent to a client.
func DecodeServer(frame []byte) (Envelope, Message, error) {
	return decode(frame, serverDecoders)
}

// IsClientType reports whether t is a message type clients may send.
func IsClientType(t string) bool { _, ok := clientDecoders[t]; return ok }

func decode(frame []byte, decoders map[string]decoder) (Envelope, Message, error) {
	env, err := DecodeEnvelope(frame)
	if err != nil {
		return Envelope{}, nil, err
	}
	dec, ok := decoders[env.Type]
	if !ok {
		return env, nil, &DecodeError{Code: CodeUnknownType, ID: env.ID, Message: fmt.Sprintf("type: unknown message type %q", truncate(env.Type, 64))}
	}
	msg, err := dec(env.Data)
	if err != nil {
		return env, nil, &DecodeError{Code: CodeInvalidData, ID: env.ID, Message: err.Error()}
	}
	if _, isAction := msg.(Action); isAction && env.ID == "" {
		return env, nil, &DecodeError{Code: CodeInvalidData, Message: "id: required on " + env.Type + " (it is the idempotency key)"}
	}
	return env, msg, nil
}

type decoder func(data json.RawMessage) (Message, error)

// clientDecoders and serverDecoders are read-only tables.
var clientDecoders = map[string]decoder{
	TypeGetState:            func(json.RawMessage) (Message, error) { return GetState{}, nil },
	TypeHeartbeat:           func(json.RawMessage) (Message, error) { return Heartbeat{}, nil },
	TypeCreateCelestialBody: decodeCreate,
	TypeResearch:            decodeResearch,
	TypeSaveGame:            decodeSaveGame,
	TypeAck:                 decodeAck,
	TypeRefreshToken:        decodeRefreshToken,
}

var serverDecoders = map[string]decoder{
	TypeHeartbeat:    func(json.RawMessage) (Message, error) { return Heartbeat{}, nil },
	TypeWelcome:      decodeInto[Welcome],
	TypeStateUpdate:  decodeInto[StateUpdate],
	TypeActionResult: decodeInto[ActionResult],
	TypeError:        decodeInto[ErrorMessage],
}

func decodeInto[T Message](data json.RawMessage) (Message, error) {
	var m T
	if err := unmarshalData(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeCreate(data json.RawMessage) (Message, error) {
	var w struct {
		BodyType *string `json:"body_type"`
		Position *struct {
			X *float64 `json:"x"`
			Y *float64 `json:"y"`
			Z *float64 `json:"z"`
		} `json:"position"`
	}
	if err := unmarshalData(data, &w); err != nil {
		return nil, err
	}
	switch {
	case w.BodyType == nil:
		return nil, errors.New("data.body_type: required")
	case len(*w.BodyType) > MaxNameBytes:
		return nil, fmt.Errorf("data.body_type: longer than %d bytes", MaxNameBytes)
	case w.Position == nil:
		return nil, errors.New("data.position: required")
	case w.Position.X == nil:
		return nil, errors.New("data.position.x: required")
	case w.Position.Y == nil:
		return nil, errors.New("data.position.y: required")
	case w.Position.Z == nil:
		return nil, errors.New("data.position.z: required")
	}
	pos := game.Vec3{X: *w.Position.X, Y: *w.Position.Y, Z: *w.Position.Z}.Normalized()
	// JSON cannot carry NaN or ±Inf, but a Go caller can: keep the promise
	// that decoded positions are finite.
	for _, c := range []float64{pos.X, pos.Y, pos.Z} {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, errors.New("data.position: coordinates must be finite numbers")
		}
	}
	return CreateCelestialBody{BodyType: *w.BodyType, Position: pos}, nil
}

func decodeResearch(data json.RawMessage) (Message, error) {
	var w struct {
		Topic *string `json:"topic"`
	}
	if err := unmarshalData(data, &w); err != nil {
		return nil, err
	}
	if w.Topic == nil {
		return nil, errors.New("data.topic: required")
	}
	if len(*w.Topic) > MaxNameBytes {
		return nil, fmt.Errorf("data.topic: longer than %d bytes", MaxNameBytes)
	}
	return Research{Topic: *w.Topic}, nil
}

func decodeSaveGame(data json.RawMessage) (Message, error) {
	if len(data) == 0 {
		return SaveGame{}, nil
	}
	var w struct {
		State json.RawMessage `json:"state"`
	}
	if err := unmarshalData(data, &w); err != nil {
		return nil, err
	}
	if len(w.State) == 0 || isNull(w.State) {
		return SaveGame{}, nil
	}
	var s game.State
	if err := json.Unmarshal(w.State, &s); err != nil {
		return nil, fieldError("data.state", err)
	}
	s.Normalize()
	return SaveGame{State: &s}, nil
}

func decodeAck(data json.RawMessage) (Message, error) {
	var w struct {
		Seq *uint64 `json:"seq"`
	}
	if err := unmarshalData(data, &w); err != nil {
		return nil, err
	}
	if w.Seq == nil {
		return nil, errors.New("data.seq: required")
	}
	return Ack{Seq: *w.Seq}, nil
}

func decodeRefreshToken(data json.RawMessage) (Message, error) {
	var w struct {
		Token *string `json:"token"`
	}
	if err := unmarshalData(data, &w); err != nil {
		return nil, err
	}
	switch {
	case w.Token == nil || *w.Token == "":
		return nil, errors.New("data.token: required")
	case len(*w.Token) > MaxTokenBytes:
		return nil, fmt.Errorf("data.token: longer than %d bytes", MaxTokenBytes)
	}
	return RefreshToken{Token: *w.Token}, nil
}

// unmarshalData decodes a variant's data, naming the field on failure.
func unmarshalData(data json.RawMessage, v any) error {
	if len(data) == 0 {
		return errors.New("data: required")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fieldError("data", err)
	}
	return nil
}

// fieldError turns an encoding/json error into "prefix.field: problem".
func fieldError(prefix string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := prefix
		if typeErr.Field != "" {
			field += "." + typeErr.Field
		}
		want := jsonType(typeErr.Type)
		if want == "number" && strings.HasPrefix(typeErr.Value, "number") {
			return fmt.Errorf("%s: %s is out of range", field, typeErr.Value)
		}
		return fmt.Errorf("%s: want %s, got %s", field, want, typeErr.Value)
	}
	return fmt.Errorf("%s: %v", prefix, err)
}

// jsonType names what a Go type decodes from in JSON terms, so that error
// messages sent to peers do not spell out internal Go types.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return t.Kind().String()
	}
}

// validText reports whether tok, a JSON string as it appears in a frame
// (quotes and escapes included) that encoding/json accepted, stands for
// valid Unicode text: its bytes are UTF-8 and every \u escape of a UTF-16
// surrogate is the high half of a high-low pair or that pair's low half.
func validText(tok []byte) bool {
	if !utf8.Valid(tok) {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			continue
		}
		i++ // the escaped character; a valid token has one
		if i >= len(tok) || tok[i] != 'u' {
			continue
		}
		r, ok := hex4(tok, i+1)
		if !ok {
			return false
		}
		i += 4 // on the escape's last digit
		switch {
		case r < 0xd800 || r > 0xdfff:
		case r >= 0xdc00:
			return false // a low half with no high half before it
		default:
			// A high half: the next escape must be a low half.
			if i+6 >= len(tok) || tok[i+1] != '\\' || tok[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(tok, i+3)
			if !ok || lo < 0xdc00 || lo > 0xdfff {
				return false
			}
			i += 6
		}
	}
	return true
}

// hex4 reads the four hex digits of a \u escape at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isNull(b json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
