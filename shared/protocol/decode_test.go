package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/internal/vectors"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

type decodeVector struct {
	Name   string `json:"name"`
	Side   string `json:"side"`
	Frame  string `json:"frame"`
	Expect struct {
		Code            string          `json:"code"`
		Type            string          `json:"type"`
		ID              string          `json:"id"`
		MessageContains string          `json:"message_contains"`
		Message         json.RawMessage `json:"message"`
	} `json:"expect"`
}

func decodeFor(side string) func([]byte) (protocol.Envelope, protocol.Message, error) {
	if side == "server" {
		return protocol.DecodeServer
	}
	return protocol.DecodeClient
}

var contractCodes = []string{protocol.CodeBadMessage, protocol.CodeUnknownType, protocol.CodeInvalidData}

func TestDecodeVectors(t *testing.T) {
	var cases []decodeVector
	vectors.Load(t, "decode.json", &cases)
	if len(cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			env, msg, err := decodeFor(tc.Side)([]byte(tc.Frame))
			if tc.Expect.Code != "" {
				var de *protocol.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("decode = %+v, %v; want a *DecodeError %s", msg, err, tc.Expect.Code)
				}
				if de.Code != tc.Expect.Code {
					t.Errorf("code = %s (%s), want %s", de.Code, de.Message, tc.Expect.Code)
				}
				if de.ID != tc.Expect.ID {
					t.Errorf("id = %q, want %q", de.ID, tc.Expect.ID)
				}
				if !strings.Contains(de.Message, tc.Expect.MessageContains) {
					t.Errorf("message %q does not contain %q", de.Message, tc.Expect.MessageContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if env.Type != tc.Expect.Type || msg.Type() != tc.Expect.Type {
				t.Errorf("type = %s / %s, want %s", env.Type, msg.Type(), tc.Expect.Type)
			}
			if env.ID != tc.Expect.ID {
				t.Errorf("id = %q, want %q", env.ID, tc.Expect.ID)
			}
			m, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := patch.Canonical(m)
			want, err := patch.Canonical(tc.Expect.Message)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("message\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestDecodeInvalidUTF8: bytes that are not UTF-8 cannot be written in
// decode.json (JSON text and JavaScript strings are Unicode), so they are
// tested here. In the id they are invalid_data like a lone surrogate escape
// (protocol.md §2: never a normalised lookalike); anywhere else the frame is
// not UTF-8 text and gets bad_message.
func TestDecodeInvalidUTF8(t *testing.T) {
	tests := []struct {
		name, frame string
		code, id    string
	}{
		{"a byte that never starts UTF-8, in the id", "{\"type\":\"GetState\",\"id\":\"\xff\"}", protocol.CodeInvalidData, ""},
		{"a truncated sequence, in the id of an action", "{\"type\":\"Research\",\"id\":\"s\xe2\x82\",\"data\":{\"topic\":\"stellar_fusion\"}}", protocol.CodeInvalidData, ""},
		{"a surrogate encoded as UTF-8 (CESU-8), in the id", "{\"type\":\"Research\",\"id\":\"s\xed\xa0\x80\",\"data\":{\"topic\":\"stellar_fusion\"}}", protocol.CodeInvalidData, ""},
		{"a bad byte in data", "{\"type\":\"Research\",\"id\":\"r1\",\"data\":{\"topic\":\"\xff\"}}", protocol.CodeBadMessage, "r1"},
		{"a bad byte outside any string", "{\"type\":\"GetState\"}\xff", protocol.CodeBadMessage, ""},
		{"a bad byte in a frame that is not JSON", "\xff\xfe", protocol.CodeBadMessage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := protocol.DecodeClient([]byte(tt.frame))
			var de *protocol.DecodeError
			if !errors.As(err, &de) || de.Code != tt.code || de.ID != tt.id {
				t.Fatalf("decode = %+v, want code %s id %q", err, tt.code, tt.id)
			}
		})
	}
}

func TestIsClientType(t *testing.T) {
	for typ, want := range map[string]bool{
		"GetState": true, "CreateCelestialBody": true, "Research": true, "SaveGame": true,
		"Heartbeat": true, "Ack": true, "RefreshToken": true,
		"Welcome": false, "StateUpdate": false, "ActionResult": false, "Error": false, "": false,
	} {
		if got := protocol.IsClientType(typ); got != want {
			t.Errorf("IsClientType(%q) = %v", typ, got)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	state := &game.State{
		Bodies:    map[string]*game.Body{"b-1": {CreatedAt: 1, ID: "b-1", Position: game.Vec3{X: 1.5}, Type: "moon"}},
		Owner:     "alice",
		Research:  map[string]int{"gravity_wells": 1},
		Resources: game.Resources{Energy: 1, Stardust: 2},
		UpdatedAt: 3,
	}
	cases := []struct {
		id     string
		seq    uint64
		msg    protocol.Message
		server bool
		frame  string // expected exactly, when set
	}{
		{msg: protocol.GetState{}, frame: `{"type":"GetState"}`},
		{msg: protocol.Heartbeat{}, frame: `{"type":"Heartbeat"}`},
		{msg: protocol.Heartbeat{}, server: true, seq: 0, frame: `{"type":"Heartbeat"}`},
		{id: "c1", msg: protocol.CreateCelestialBody{BodyType: "planet", Position: game.Vec3{X: 1, Y: -2.5, Z: 1e-7}},
			frame: `{"type":"CreateCelestialBody","id":"c1","data":{"body_type":"planet","position":{"x":1,"y":-2.5,"z":1e-7}}}`},
		{id: "r1", msg: protocol.Research{Topic: "stellar_fusion"}},
		{id: "s1", msg: protocol.SaveGame{}, frame: `{"type":"SaveGame","id":"s1","data":{}}`},
		{id: "s2", msg: protocol.SaveGame{State: state}},
		{msg: protocol.Ack{Seq: 9}, frame: `{"type":"Ack","data":{"seq":9}}`},
		{id: "t1", msg: protocol.RefreshToken{Token: "a.b.c"}},
		{msg: protocol.Welcome{SessionID: "s", Resumed: true, HeartbeatMS: 30000, UserID: "u", Protocol: protocol.Version}, server: true,
			frame: `{"type":"Welcome","data":{"session_id":"s","resumed":true,"heartbeat_ms":30000,"user_id":"u","protocol":1}}`},
		{seq: 2, msg: protocol.StateUpdate{Full: true, Data: protocol.StateData{Version: 4, State: json.RawMessage(`{"a":1}`), Hash: "ab"}}, server: true,
			frame: `{"type":"StateUpdate","seq":2,"data":{"full":true,"data":{"version":4,"state":{"a":1},"hash":"ab"}}}`},
		{seq: 3, msg: protocol.StateUpdate{Data: protocol.StateData{Version: 5, Base: 4, Patch: json.RawMessage(`[]`), Hash: "cd"}}, server: true,
			frame: `{"type":"StateUpdate","seq":3,"data":{"full":false,"data":{"version":5,"base":4,"patch":[],"hash":"cd"}}}`},
		{id: "c1", seq: 4, msg: protocol.ActionResult{Success: true, Message: "ok", BodyID: "b-c1", Version: 5}, server: true},
		{id: "c2", seq: 5, msg: protocol.ActionResult{Message: "no"}, server: true,
			frame: `{"type":"ActionResult","id":"c2","seq":5,"data":{"success":false,"message":"no"}}`},
		{seq: 6, msg: protocol.ErrorMessage{Code: protocol.CodeInvalidData, Message: "data.x: <bad>"}, server: true},
	}
	for _, tc := range cases {
		t.Run(tc.msg.Type(), func(t *testing.T) {
			frame, err := protocol.Encode(tc.id, tc.seq, tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.frame != "" && string(frame) != tc.frame {
				t.Errorf("Encode\n got %s\nwant %s", frame, tc.frame)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(frame, &raw); err != nil {
				t.Fatal(err)
			}
			_, hasData := raw["data"]
			noFields := reflect.TypeOf(tc.msg).NumField() == 0
			if hasData == noFields {
				t.Errorf("data present = %v for a variant with %d fields", hasData, reflect.TypeOf(tc.msg).NumField())
			}
			decode := protocol.DecodeClient
			if tc.server {
				decode = protocol.DecodeServer
			}
			env, msg, err := decode(frame)
			if err != nil {
				t.Fatalf("decode %s: %v", frame, err)
			}
			if env.ID != tc.id || env.Seq != tc.seq || env.Type != tc.msg.Type() {
				t.Errorf("envelope = %+v", env)
			}
			if !reflect.DeepEqual(msg, tc.msg) {
				t.Errorf("round trip\n got %#v\nwant %#v", msg, tc.msg)
			}
		})
	}
}

// FuzzDecodeClient: decoding never panics; a failure is a *DecodeError with
// a contract code; a success re-encodes to a frame that decodes to the same
// message. Seeded from decode.json.
func FuzzDecodeClient(f *testing.F) {
	var cases []decodeVector
	vectors.Load(f, "decode.json", &cases)
	for _, tc := range cases {
		f.Add(tc.Frame)
	}
	f.Fuzz(func(t *testing.T, frame string) {
		env, msg, err := protocol.DecodeClient([]byte(frame))
		if err != nil {
			var de *protocol.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			found := false
			for _, c := range contractCodes {
				found = found || de.Code == c
			}
			if !found || de.Message == "" {
				t.Fatalf("DecodeError %+v: code not in the contract or empty message", de)
			}
			if len(de.ID) > protocol.MaxIDBytes || !utf8.ValidString(de.ID) {
				t.Fatalf("DecodeError echoes an id %q of %d bytes", de.ID, len(de.ID))
			}
			return
		}
		// An id that decodes is exact text: it round-trips, so no other
		// id can decode to the same idempotency key.
		if msg == nil || msg.Type() != env.Type || len(env.ID) > protocol.MaxIDBytes || !utf8.ValidString(env.ID) {
			t.Fatalf("decoded %+v, %+v", env, msg)
		}
		if _, isAction := msg.(protocol.Action); isAction && env.ID == "" {
			t.Fatal("an action decoded without id")
		}
		again, err := protocol.Encode(env.ID, 0, msg)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", msg, err)
		}
		env2, msg2, err := protocol.DecodeClient(again)
		if err != nil {
			t.Fatalf("re-decode %s: %v", again, err)
		}
		if env2.ID != env.ID {
			t.Fatalf("round trip changed the id %q to %q", env.ID, env2.ID)
		}
		if !reflect.DeepEqual(msg, msg2) {
			t.Fatalf("round trip changed the message\n got %#v\nwant %#v", msg2, msg)
		}
	})
}
