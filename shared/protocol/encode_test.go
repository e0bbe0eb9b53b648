package protocol_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// TestAppenders: every appender writes the golden frame (the bytes the
// server wrote before the appenders existed, so the wire did not change),
// the same bytes as the typed Encode, and a frame DecodeServer turns back
// into the message.
func TestAppenders(t *testing.T) {
	state := json.RawMessage(`{"owner":"u1","bodies":{"b-c1":{"type":"planet"}}}`)
	patch := json.RawMessage(`[{"op":"add","path":"/bodies/b-c2","value":{"type":"moon"}}]`)
	cases := []struct {
		name   string
		append func([]byte) []byte
		id     string
		seq    uint64
		msg    protocol.Message
		golden string
	}{
		{
			name: "Welcome",
			append: func(b []byte) []byte {
				return protocol.AppendWelcome(b, protocol.Welcome{SessionID: "s-1", Resumed: true, HeartbeatMS: 30000, UserID: "u1", Protocol: protocol.Version})
			},
			msg:    protocol.Welcome{SessionID: "s-1", Resumed: true, HeartbeatMS: 30000, UserID: "u1", Protocol: protocol.Version},
			golden: `{"type":"Welcome","data":{"session_id":"s-1","resumed":true,"heartbeat_ms":30000,"user_id":"u1","protocol":1}}`,
		},
		{
			name:   "Heartbeat",
			append: protocol.AppendHeartbeat,
			msg:    protocol.Heartbeat{},
			golden: `{"type":"Heartbeat"}`,
		},
		{
			name: "StateUpdate full",
			append: func(b []byte) []byte {
				return protocol.AppendStateUpdate(b, 7, true, protocol.AppendFullData(nil, 41, state, "9f2c"))
			},
			seq:    7,
			msg:    protocol.StateUpdate{Full: true, Data: protocol.StateData{Version: 41, State: state, Hash: "9f2c"}},
			golden: `{"type":"StateUpdate","seq":7,"data":{"full":true,"data":{"version":41,"state":{"owner":"u1","bodies":{"b-c1":{"type":"planet"}}},"hash":"9f2c"}}}`,
		},
		{
			name: "StateUpdate patch",
			append: func(b []byte) []byte {
				return protocol.AppendStateUpdate(b, 8, false, protocol.AppendPatchData(nil, 42, 41, patch, "b71e"))
			},
			seq:    8,
			msg:    protocol.StateUpdate{Data: protocol.StateData{Version: 42, Base: 41, Patch: patch, Hash: "b71e"}},
			golden: `{"type":"StateUpdate","seq":8,"data":{"full":false,"data":{"version":42,"base":41,"patch":[{"op":"add","path":"/bodies/b-c2","value":{"type":"moon"}}],"hash":"b71e"}}}`,
		},
		{
			name: "ActionResult applied",
			append: func(b []byte) []byte {
				return protocol.AppendResult(b, "c1-42", 9, protocol.AppendResultData(nil, protocol.ActionResult{Success: true, Message: "planet created", BodyID: "b-c1-42", Version: 42}))
			},
			id:     "c1-42",
			seq:    9,
			msg:    protocol.ActionResult{Success: true, Message: "planet created", BodyID: "b-c1-42", Version: 42},
			golden: `{"type":"ActionResult","id":"c1-42","seq":9,"data":{"success":true,"message":"planet created","body_id":"b-c1-42","version":42}}`,
		},
		{
			name: "ActionResult rejected, escaped message",
			append: func(b []byte) []byte {
				return protocol.AppendResult(b, `q"1`, 10, protocol.AppendResultData(nil, protocol.ActionResult{Message: "needs \"operator\" <role> & ü\u2028\n"}))
			},
			id:     `q"1`,
			seq:    10,
			msg:    protocol.ActionResult{Message: "needs \"operator\" <role> & ü\u2028\n"},
			golden: `{"type":"ActionResult","id":"q\"1","seq":10,"data":{"success":false,"message":"needs \"operator\" \u003crole\u003e \u0026 ü\u2028\n"}}`,
		},
		{
			name: "Error numbered",
			append: func(b []byte) []byte {
				return protocol.AppendError(b, "x1", 11, protocol.CodeInvalidData, "data.position.x: must be a finite number")
			},
			id:     "x1",
			seq:    11,
			msg:    protocol.ErrorMessage{Code: protocol.CodeInvalidData, Message: "data.position.x: must be a finite number"},
			golden: `{"type":"Error","id":"x1","seq":11,"data":{"code":"invalid_data","message":"data.position.x: must be a finite number"}}`,
		},
		{
			name: "Error rate_limited, no seq",
			append: func(b []byte) []byte {
				return protocol.AppendError(b, "", 0, protocol.CodeRateLimited, "rate limit exceeded: slow down")
			},
			msg:    protocol.ErrorMessage{Code: protocol.CodeRateLimited, Message: "rate limit exceeded: slow down"},
			golden: `{"type":"Error","data":{"code":"rate_limited","message":"rate limit exceeded: slow down"}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix:")
			got := tc.append(prefix)
			if string(got[:len(prefix)]) != "prefix:" {
				t.Fatalf("the appender overwrote dst: %s", got)
			}
			got = got[len(prefix):]
			if string(got) != tc.golden {
				t.Errorf("appended\n got %s\nwant %s", got, tc.golden)
			}
			want, err := protocol.Encode(tc.id, tc.seq, tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("appended differs from Encode\n got %s\nwant %s", got, want)
			}
			env, msg, err := protocol.DecodeServer(got)
			if err != nil {
				t.Fatalf("DecodeServer(%s): %v", got, err)
			}
			if env.Type != tc.msg.Type() || env.ID != tc.id || env.Seq != tc.seq {
				t.Errorf("envelope = %+v, want type %s id %q seq %d", env, tc.msg.Type(), tc.id, tc.seq)
			}
			if !reflect.DeepEqual(msg, tc.msg) {
				t.Errorf("round trip\n got %#v\nwant %#v", msg, tc.msg)
			}
		})
	}
}

// TestAppendResultDataMatchesMarshal: the idempotency records written
// before AppendResultData were json.Marshal's bytes; a replay must send the
// same bytes as a first answer, so the two encodings agree.
func TestAppendResultDataMatchesMarshal(t *testing.T) {
	for _, r := range []protocol.ActionResult{
		{},
		{Success: true, Message: "ok", Version: 1},
		{Success: true, Message: "research stellar_fusion is now level 2", Version: 1 << 53},
		{Success: true, Message: "planet created", BodyID: "b-\x00\x7f\xff", Version: 3},
		{Message: "bad\tinput \\ \"x\" <script>&amp; \u2029 日本"},
		{Message: "research stellar_fusion first", Reason: protocol.ReasonRequiresResearch},
		{Message: "x", Reason: "r<&>", BodyID: "b-1", Version: 2},
	} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := protocol.AppendResultData(nil, r); string(got) != string(want) {
			t.Errorf("AppendResultData(%+v)\n got %s\nwant %s", r, got, want)
		}
	}
}

func BenchmarkAppendResult(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	r := protocol.ActionResult{Success: true, Message: "planet created", BodyID: "b-c1-42", Version: 42}
	for b.Loop() {
		data := protocol.AppendResultData(buf[:0], r)
		_ = protocol.AppendResult(nil, "c1-42", 9, data)
	}
}

// FuzzAppendResultData: for any text, AppendResultData and AppendError
// write what encoding/json writes, so records and frames never depend on
// which encoder built them.
func FuzzAppendResultData(f *testing.F) {
	f.Add(true, "planet created", "", "b-c1-42", uint64(42))
	f.Add(false, "needs \"operator\" <role> & ü\u2028\n\x00\xff", "operator_required", "", uint64(0))
	f.Fuzz(func(t *testing.T, success bool, message, reason, bodyID string, version uint64) {
		r := protocol.ActionResult{Success: success, Message: message, Reason: reason, BodyID: bodyID, Version: version}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := protocol.AppendResultData(nil, r); string(got) != string(want) {
			t.Fatalf("AppendResultData\n got %s\nwant %s", got, want)
		}
		e := protocol.ErrorMessage{Code: bodyID, Message: message}
		wantErr, err := protocol.Encode(bodyID, version, e)
		if err != nil {
			t.Fatal(err)
		}
		if got := protocol.AppendError(nil, bodyID, version, e.Code, e.Message); string(got) != string(wantErr) {
			t.Fatalf("AppendError\n got %s\nwant %s", got, wantErr)
		}
	})
}
