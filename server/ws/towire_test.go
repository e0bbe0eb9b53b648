package ws

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// TestToWire: contract errors keep their code and message; anything else
// is sent as internal with the generic text and logged with its own.
func TestToWire(t *testing.T) {
	secret := errors.New("sqlite: disk I/O error at /var/lib/cosmic.db")
	cases := []struct {
		name        string
		err         error
		code, msg   string
		logContains string // "" when nothing is logged
	}{
		{name: "decode error", err: &protocol.DecodeError{Code: protocol.CodeInvalidData, ID: "x1", Message: "data.topic: required"},
			code: protocol.CodeInvalidData, msg: "data.topic: required"},
		{name: "wrapped decode error", err: fmt.Errorf("frame 3: %w", &protocol.DecodeError{Code: protocol.CodeBadMessage, Message: "frame is not valid JSON"}),
			code: protocol.CodeBadMessage, msg: "frame is not valid JSON"},
		{name: "rate limited", err: errRateLimited, code: protocol.CodeRateLimited, msg: "rate limit exceeded: slow down"},
		{name: "unknown type", err: &wireError{protocol.CodeUnknownType, "type: Welcome is not handled"},
			code: protocol.CodeUnknownType, msg: "type: Welcome is not handled"},
		{name: "internal", err: fmt.Errorf("action Research %q failed: %w", "r1", secret),
			code: protocol.CodeInternal, msg: msgInternal, logContains: secret.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := &conn{srv: &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}, userID: "u1"}
			code, msg := c.toWire(tc.err)
			if code != tc.code || msg != tc.msg {
				t.Errorf("toWire = %q, %q; want %q, %q", code, msg, tc.code, tc.msg)
			}
			if strings.Contains(msg, secret.Error()) {
				t.Errorf("internal text sent: %q", msg)
			}
			switch {
			case tc.logContains == "" && logs.Len() != 0:
				t.Errorf("logged %q for a contract error", logs.String())
			case tc.logContains != "" && (!strings.Contains(logs.String(), tc.logContains) || !strings.Contains(logs.String(), "user_id=u1")):
				t.Errorf("log %q lacks %q and the user", logs.String(), tc.logContains)
			}
		})
	}
}
