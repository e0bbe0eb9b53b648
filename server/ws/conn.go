package ws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/cosmic-gardener/realtime/server/auth"
	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/session"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// bufPool holds writer buffers: a connection has one only while writing.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// conn is one WebSocket connection. Its own goroutine waits for input and
// hands each message to a worker (readAside), or with Config.PlainBuffers
// reads and handles it itself; a writer runs on a worker while the session
// has something to send; closeWith runs the close handshake in a goroutine
// of its own. All are waited for before the connection ends.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	userID string
	start  time.Time

	sess    *session.Session
	resumed bool
	idle    idleReader  // zero with Config.PlainBuffers
	cork    *corkWriter // nil with Config.PlainBuffers: writes go straight through

	expires    atomic.Int64 // token expiry, Unix nanoseconds
	lastRecv   atomic.Int64 // Unix nanoseconds
	writeStart atomic.Int64 // Unix nanoseconds of the write in progress, 0 when none
	msgsIn     atomic.Int64
	msgsOut    atomic.Int64

	wake chan struct{} // nudges a waiting writer

	mu        sync.Mutex // guards the fields below
	closeCode int        // the code we closed with, 0 if the peer closed
	closeWhy  string
	finished  bool // the handler is waiting for the goroutines; none may start
	done      chan struct{}
	wg        sync.WaitGroup

	// Read-loop state, owned by the task readAside runs and waits for;
	// one at a time.
	tokens   float64
	refilled time.Time
	limited  int
	bad      int
	// operator is the Operator claim of the connection's newest token:
	// set from the handshake's, replaced by each accepted RefreshToken.
	operator bool
}

func newConn(s *Server, wc *websocket.Conn, claims auth.Claims) *conn {
	now := s.cfg.Clock()
	c := &conn{srv: s, ws: wc, userID: claims.UserID, start: now, wake: make(chan struct{}, 1),
		done: make(chan struct{}), tokens: float64(s.cfg.RateBurst), refilled: now, operator: claims.Operator}
	c.expires.Store(claims.ExpiresAt.UnixNano())
	c.lastRecv.Store(now.UnixNano())
	return c
}

// open attaches the connection to its session. On failure it closes the
// connection and returns false.
func (c *conn) open(ctx context.Context, resumeID string, lastSeq uint64) bool {
	_, _, err := c.srv.cfg.Sessions.Open(ctx, c, c.userID, resumeID, lastSeq, c.welcome)
	if err != nil {
		code, reason := protocol.CloseInternal, protocol.CodeInternal
		if errors.Is(err, session.ErrTooManySessions) {
			code, reason = protocol.ClosePolicy, "too_many_sessions"
		}
		c.srv.log.Error("ws open session failed", "user_id", c.userID, "err", err)
		_ = c.ws.Close(websocket.StatusCode(code), reason)
		c.srv.obs.ConnClosed(code)
		return false
	}
	c.srv.log.Debug("ws connected", "user_id", c.userID, "session_id", c.sess.ID(), "resumed", c.resumed)
	return true
}

// serve runs an opened connection until it ends. It stays small: its
// frame sits under the read loop's idle wait for the connection's life,
// which fits the minimum goroutine stack only without end's locals.
func (c *conn) serve() {
	c.end(c.readLoop())
}

// end detaches the connection, waits for its goroutines and logs it.
func (c *conn) end(readErr error) {
	log := c.srv.log
	sess, resumed := c.sess, c.resumed
	c.srv.cfg.Sessions.Detach(sess, c)
	c.mu.Lock()
	c.finished = true
	close(c.done)
	code, why := c.closeCode, c.closeWhy
	c.mu.Unlock()
	if code == 0 {
		// The peer closed or the network failed: nothing left to
		// negotiate; free the socket now.
		_ = c.ws.CloseNow()
	}
	c.wg.Wait()

	if code == 0 {
		code = int(websocket.CloseStatus(readErr))
		why = "peer"
		if code == -1 {
			code, why = 1006, "network"
		}
	}
	c.srv.obs.ConnClosed(code)
	log.Info("ws disconnected", "user_id", c.userID, "session_id", sess.ID(), "resumed", resumed,
		"duration_ms", c.srv.cfg.Clock().Sub(c.start).Milliseconds(), "msgs_in", c.msgsIn.Load(), "msgs_out", c.msgsOut.Load(),
		"close_code", code, "close_reason", why)
}

// welcome builds the Welcome frame for Sessions.Open. It also records the
// session: Open calls it before the writer can start, which reads c.sess.
func (c *conn) welcome(s *session.Session, resumed bool) []byte {
	c.sess, c.resumed = s, resumed
	return protocol.AppendWelcome(nil, protocol.Welcome{
		SessionID: s.ID(), Resumed: resumed, HeartbeatMS: c.srv.cfg.HeartbeatInterval.Milliseconds(),
		UserID: c.userID, Protocol: protocol.Version,
	})
}

// readLoop runs for the connection's life. Between messages it waits in
// c.idle, a few frames deep; each message is read and handled by
// readAside. The loop's goroutine lives as long as the connection, mostly
// parked; coder/websocket's reader, decoding and actions run deep call
// chains whose stack would otherwise stay attached to every idle
// connection (4 KiB instead of 2). The cost is a hand-over to a worker
// per message.
//
// With Config.PlainBuffers there is no idle wait to park in: the
// goroutine waits inside coder/websocket's reader and handles each
// message itself, as a hand-over would save nothing.
func (c *conn) readLoop() error {
	if c.idle.sock == nil {
		for {
			if err := c.readOne(); err != nil {
				return err
			}
		}
	}
	for {
		c.idle.wait()
		if err := c.readAside(); err != nil {
			return err
		}
	}
}

// readAside reads and handles one message on one of the server's workers
// and waits for it.
func (c *conn) readAside() error {
	done := make(chan error, 1)
	c.srv.workers.run(func() { done <- c.readOne() })
	return <-done
}

// readOne reads one message and handles it. Only one runs at a time.
func (c *conn) readOne() error {
	// The read context is the background: a cancellable one costs a timer
	// per read, and closeWith unblocks the read by closing the socket.
	typ, frame, err := c.ws.Read(context.Background())
	if err != nil {
		return err
	}
	now := c.srv.cfg.Clock()
	c.lastRecv.Store(now.UnixNano())
	c.msgsIn.Add(1)
	switch {
	case c.closing():
		// draining until the close handshake completes
	case typ != websocket.MessageText:
		c.closeWith(protocol.CloseProtocol, "binary frames are not supported")
	case !c.allow(now):
		c.srv.obs.MessageIn("rate_limited")
		c.limited++
		if c.limited >= c.srv.cfg.AbuseLimit {
			c.closeWith(protocol.CloseTooManyMessage, "too many messages")
			break
		}
		c.sendError("", errRateLimited, false)
	default:
		c.limited = 0
		c.handle(frame)
	}
	return nil
}

// allow takes one token from the inbound bucket.
func (c *conn) allow(now time.Time) bool {
	cfg := &c.srv.cfg
	if d := now.Sub(c.refilled); d > 0 {
		c.tokens = min(float64(cfg.RateBurst), c.tokens+d.Seconds()*cfg.RatePerSecond)
		c.refilled = now
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) handle(frame []byte) {
	env, msg, err := protocol.DecodeClient(frame)
	if err != nil {
		c.srv.obs.MessageIn("invalid")
		c.bad++
		if c.bad >= c.srv.cfg.BadLimit {
			c.closeWith(protocol.CloseProtocol, "too many bad messages")
			return
		}
		var id string // the Error echoes the frame's id when it had a valid one
		var de *protocol.DecodeError
		if errors.As(err, &de) {
			id = de.ID
		} else {
			err = &wireError{protocol.CodeBadMessage, "undecodable message"}
		}
		c.sendError(id, err, true)
		return
	}
	c.bad = 0
	c.srv.obs.MessageIn(env.Type)
	switch m := msg.(type) {
	case protocol.GetState:
		c.sess.RequestFull()
	case protocol.Heartbeat:
		c.sess.SendHeartbeat(c)
	case protocol.Ack:
		c.sess.Ack(m.Seq)
	case protocol.RefreshToken:
		c.refresh(env.ID, m.Token)
	case protocol.Action:
		if save, ok := m.(protocol.SaveGame); ok && save.State != nil && !c.operator {
			c.refuseAction(env.ID, env.Type, protocol.ReasonOperatorRequired, msgSaveNeedsOperator)
			return
		}
		res, err := c.sess.Garden().Do(context.Background(), env.ID, m, c.sess)
		if err != nil {
			c.sendError(env.ID, fmt.Errorf("action %s %q failed: %w", env.Type, env.ID, err), true)
			return
		}
		c.sess.SendResult(c, env.ID, res.Data)
	default:
		c.sendError(env.ID, &wireError{protocol.CodeUnknownType, fmt.Sprintf("type: %s is not handled", env.Type)}, true)
	}
}

// msgSaveNeedsOperator answers a player's SaveGame with a state.
const msgSaveNeedsOperator = "SaveGame with a state needs an operator token (role \"operator\"); a SaveGame without a state needs none"

// refuseAction answers an action that this connection may not send with
// ActionResult {success: false}, numbered and kept for resume like every
// ActionResult, without reaching the garden: a SaveGame with a state
// would set resources, research and bodies at will, so only operators may
// send one (issue 11). The refusal is not recorded against the id, which
// stays free: an operator may still use it, and a replay is refused again.
// reason is the ActionResult's reason code (protocol.Reason…).
func (c *conn) refuseAction(id, typ, reason, message string) {
	start := c.srv.cfg.Clock()
	c.srv.log.Debug("action refused", "user_id", c.userID, "session_id", c.sess.ID(), "type", typ, "reason", message)
	c.sess.SendResult(c, id, protocol.AppendResultData(nil, protocol.ActionResult{Success: false, Message: message, Reason: reason}))
	c.srv.obs.ActionDone(typ, "rejected", c.srv.cfg.Clock().Sub(start))
}

// refresh checks a RefreshToken's token. On success the connection takes
// its expiry and its Operator claim, so the role follows the newest token
// both ways: a player's token drops the operator role, an operator's
// grants it.
func (c *conn) refresh(id, token string) {
	claims, err := c.srv.cfg.Verifier.Verify(token)
	var res protocol.ActionResult
	switch {
	case err != nil:
		var ae *auth.Error
		msg := "token refused"
		if errors.As(err, &ae) {
			msg = ae.Code + ": " + ae.Message
		}
		res = protocol.ActionResult{Success: false, Message: msg}
	case claims.UserID != c.userID:
		res = protocol.ActionResult{Success: false, Message: "auth_invalid: token is for another user"}
	default:
		c.expires.Store(claims.ExpiresAt.UnixNano())
		c.operator = claims.Operator
		res = protocol.ActionResult{Success: true, Message: "token refreshed, expires " + claims.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	c.sess.SendResult(c, id, protocol.AppendResultData(nil, res))
}

// sendError answers with the Error toWire makes of err, echoing id.
func (c *conn) sendError(id string, err error, numbered bool) {
	code, message := c.toWire(err)
	c.sess.SendError(c, id, code, message, numbered)
}

// wireError is an error whose code (protocol.md §4) and message are meant for
// the client: the message names the client's mistake, nothing internal.
type wireError struct{ code, message string }

func (e *wireError) Error() string { return e.code + ": " + e.message }

// errRateLimited answers a message over the inbound rate limit.
var errRateLimited = &wireError{protocol.CodeRateLimited, "rate limit exceeded: slow down"}

// msgInternal is the only text an internal error sends. Actions are the
// one path that can fail inside the server, and they may be retried.
const msgInternal = "internal error: the action was not applied; retry with the same id"

// toWire maps err to the code and message of the Error frame that answers
// it, the one place that decision is made (as centrifuge's toClientErr): a
// *protocol.DecodeError or *wireError carries its contract code and a
// message safe to send; anything else is a server fault, logged here with
// its text and sent as internal with msgInternal, never its text.
func (c *conn) toWire(err error) (code, message string) {
	var de *protocol.DecodeError
	var we *wireError
	switch {
	case errors.As(err, &de):
		return de.Code, de.Message
	case errors.As(err, &we):
		return we.code, we.message
	}
	var sessionID string
	if c.sess != nil {
		sessionID = c.sess.ID()
	}
	c.srv.log.Error("internal error", "user_id", c.userID, "session_id", sessionID, "err", err)
	return protocol.CodeInternal, msgInternal
}

// check runs the sweeper's periodic checks (protocol.md §1 expiry, §5
// heartbeat) and the slow-client watchdog.
func (c *conn) check(now time.Time) {
	n := now.UnixNano()
	switch {
	case n-c.lastRecv.Load() > 2*int64(c.srv.cfg.HeartbeatInterval):
		c.closeWith(protocol.CloseHeartbeat, "heartbeat timeout")
	case n > c.expires.Load()+int64(auth.DefaultLeeway):
		// The same leeway as at the handshake: a token accepted there is
		// not cut off a moment later.
		c.closeWith(protocol.CloseAuth, auth.CodeExpired)
	}
	if ws := c.writeStart.Load(); ws != 0 && n-ws > int64(c.srv.cfg.WriteTimeout) {
		// The peer stopped reading: the close handshake would block too.
		c.closeNow(protocol.CloseTryAgainLater, "write stuck")
	}
}

func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode != 0
}

// closeWith starts the close handshake once, in a goroutine owned by c.
func (c *conn) closeWith(code int, reason string) {
	c.startClose(code, reason, func() {
		// Close reads the peer's close frame from this goroutine.
		c.idle.gate.Lock()
		defer c.idle.gate.Unlock()
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	})
}

// closeNow drops the connection without a handshake, for a peer that does
// not read: the close frame could not be written anyway. code is what the
// logs and metrics record; the peer sees an abnormal closure and resumes.
func (c *conn) closeNow(code int, reason string) {
	c.startClose(code, reason, func() { _ = c.ws.CloseNow() })
}

func (c *conn) startClose(code int, reason string, close func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeCode != 0 || c.finished {
		return
	}
	c.closeCode, c.closeWhy = code, reason
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		close()
	}()
}

// Wake implements session.Outlet.
func (c *conn) Wake(start bool) {
	if !start {
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.wg.Add(1)
	c.srv.workers.run(c.writeLoop)
}

// TakenOver implements session.Outlet.
func (c *conn) TakenOver() { c.closeWith(protocol.CloseTakenOver, "session taken over") }

// Overflow implements session.Outlet. A full queue means the peer stopped
// reading; nothing numbered is lost, the client resumes.
func (c *conn) Overflow() { c.closeNow(protocol.CloseTryAgainLater, "send queue full") }

// A writer's batch is released when it holds this many bytes, or when
// the session has nothing more to send at once.
const maxBatchBytes = 64 << 10

func (c *conn) writeLoop() {
	defer c.wg.Done()
	bufp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bufp) <= 64<<10 { // don't pool giant full-state buffers
			bufPool.Put(bufp)
		}
	}()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// Frames written since the cork was held leave together at release;
	// releasing with nothing held costs nothing.
	defer c.release()
	for {
		buf, kind, wait := c.sess.Next(c, c.srv.cfg.Clock(), (*bufp)[:0])
		*bufp = buf
		if kind == sendq.Idle || kind == sendq.Wait {
			if c.release() != nil {
				return
			}
		}
		switch kind {
		case sendq.Idle:
			return
		case sendq.Wait:
			resetTimer(&timer, wait)
			select {
			case <-timer.C:
			case <-c.wake:
			case <-c.done:
				return
			}
			continue
		}
		c.writeStart.Store(time.Now().UnixNano())
		c.cork.hold()
		// Background context: a deadline per write costs a timer each time;
		// the sweeper's watchdog handles stuck writes instead.
		if err := c.ws.Write(context.Background(), websocket.MessageText, buf); err != nil {
			return
		}
		c.msgsOut.Add(1)
		c.srv.obs.MessageOut(len(buf))
		if c.cork.pending() >= maxBatchBytes && c.release() != nil {
			return
		}
	}
}

// resetTimer starts *t, or makes it, to fire after d.
func resetTimer(t **time.Timer, d time.Duration) {
	if *t == nil {
		*t = time.NewTimer(d)
		return
	}
	(*t).Reset(d)
}

// release sends the writer's batch, if any, and ends the write in
// progress for the watchdog.
func (c *conn) release() error {
	err := c.cork.release()
	c.writeStart.Store(0)
	return err
}
