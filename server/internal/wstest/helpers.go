package wstest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// URL returns the http:// URL of path on the test server.
func (s *Server) URL(path string) string { return s.base + path }

// Handshake dials /api/ws with query and header and returns the handshake
// response too, also when the server refused the upgrade (its body, up to
// 1 KiB, stays readable). On success the client is closed by t.Cleanup.
func (s *Server) Handshake(query string, header http.Header) (*Client, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, s.WSURL(query), &websocket.DialOptions{HTTPHeader: header, HTTPClient: s.Client})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(16 << 20)
	s.T.Cleanup(func() { _ = conn.CloseNow() })
	return &Client{T: s.T, Conn: conn}, resp, nil
}

// DialWith connects with query and header and reads the Welcome, failing
// the test if either does not happen.
func (s *Server) DialWith(query string, header http.Header) *Client {
	s.T.Helper()
	c, err := s.DialRaw(query, header)
	if err != nil {
		s.T.Fatalf("dial: %v", err)
	}
	env := c.Next()
	if env.Type != protocol.TypeWelcome {
		s.T.Fatalf("first message %s, want Welcome: %s", env.Type, env.Data)
	}
	if err := json.Unmarshal(env.Data, &c.Welcome); err != nil {
		s.T.Fatal(err)
	}
	return c
}

// Decode unmarshals an envelope's data into a T, failing the test if it
// does not decode.
func Decode[T any](t testing.TB, env protocol.Envelope) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(env.Data, &v); err != nil {
		t.Fatalf("decode %s data %s: %v", env.Type, env.Data, err)
	}
	return v
}

// Expect returns the next message, failing the test unless it has type
// typ.
func (c *Client) Expect(typ string) protocol.Envelope {
	c.T.Helper()
	env := c.Next()
	if env.Type != typ {
		c.T.Fatalf("got %s (id %q, data %s), want %s", env.Type, env.ID, env.Data, typ)
	}
	return env
}

// Answer returns the next message that is not a StateUpdate: state
// updates are broadcast asynchronously and may come between an action and
// its answer.
func (c *Client) Answer() protocol.Envelope {
	c.T.Helper()
	for {
		if env := c.Next(); env.Type != protocol.TypeStateUpdate {
			return env
		}
	}
}

// Result reads the answer to the action id, failing the test unless it is
// an ActionResult echoing id. It returns the envelope too, for its raw data
// and seq.
func (c *Client) Result(id string) (protocol.ActionResult, protocol.Envelope) {
	c.T.Helper()
	env := c.Answer()
	if env.Type != protocol.TypeActionResult || env.ID != id {
		c.T.Fatalf("got %s id %q (data %s), want ActionResult id %q", env.Type, env.ID, env.Data, id)
	}
	return Decode[protocol.ActionResult](c.T, env), env
}

// ErrorAnswer reads the next answer, failing the test unless it is an
// Error.
func (c *Client) ErrorAnswer() (protocol.ErrorMessage, protocol.Envelope) {
	c.T.Helper()
	env := c.Answer()
	if env.Type != protocol.TypeError {
		c.T.Fatalf("got %s id %q (data %s), want Error", env.Type, env.ID, env.Data)
	}
	return Decode[protocol.ErrorMessage](c.T, env), env
}

// Create sends CreateCelestialBody with action id id.
func (c *Client) Create(id, bodyType string, x, y, z float64) {
	c.T.Helper()
	c.Action(protocol.TypeCreateCelestialBody, id, map[string]any{
		"body_type": bodyType, "position": map[string]float64{"x": x, "y": y, "z": z},
	})
}

// FullState sends GetState and returns the next full StateUpdate at or
// past the highest version the client has seen, skipping patches and older
// full states; any other message fails the test.
func (c *Client) FullState() protocol.StateUpdate {
	c.T.Helper()
	c.Send(map[string]string{"type": protocol.TypeGetState})
	for {
		env := c.Next()
		if env.Type != protocol.TypeStateUpdate {
			c.T.Fatalf("waiting for a full state: got %s id %q (data %s)", env.Type, env.ID, env.Data)
		}
		// A full state older than a version already seen answers an
		// earlier GetState (or the connect) and was still on its way.
		if u := Decode[protocol.StateUpdate](c.T, env); u.Full && u.Data.Version >= c.seenVersion {
			return u
		}
	}
}
