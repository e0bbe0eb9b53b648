package ws

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSmallBuffersKeepEarlyBytes: a client that sends its first frames in
// the same packet as its handshake must have them read. The bytes sit in
// net/http's buffer at the hijack and have to survive the swap to small
// buffers (they once did not: the first message was lost, the stream
// misread and the connection reset), and the read loop's idle wait must
// not block while they are buffered. A later frame arrives through the
// idle wait's held byte.
func TestSmallBuffersKeepEarlyBytes(t *testing.T) {
	for _, payload := range []string{"hi", strings.Repeat("x", 100), strings.Repeat("y", 1000)} {
		t.Run(fmt.Sprintf("%d bytes", len(payload)), func(t *testing.T) {
			parked := newReadProbe()
			srv := serveHijacked(t, func(hj *smallBuffers, c *websocket.Conn) {
				if !hj.early {
					t.Errorf("the frames sent with the handshake were not seen as early bytes")
				}
				parked.attach(hj.sock)
				idle := &idleReader{br: hj.br, sock: hj.sock, early: hj.early}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for i := range 3 {
					if i == 2 {
						parked.arm()
					}
					idle.wait()
					typ, msg, err := c.Read(ctx)
					if err != nil {
						t.Errorf("server read: %v", err)
						return
					}
					if err := c.Write(ctx, typ, msg); err != nil {
						t.Errorf("server write: %v", err)
					}
				}
			})

			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			handshake := "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			// One write: the handshake and two masked text frames together.
			first := append([]byte(handshake), maskedText(payload+"1")...)
			if _, err := conn.Write(append(first, maskedText(payload+"2")...)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			for _, want := range []string{payload + "1", payload + "2"} {
				if got := readText(t, br); got != want {
					t.Fatalf("echo %.20q…, want %.20q…", got, want)
				}
			}
			// The server is now parked in the idle wait on the socket.
			if !parked.await(t) {
				return
			}
			if _, err := conn.Write(maskedText(payload + "3")); err != nil {
				t.Fatal(err)
			}
			if got := readText(t, br); got != payload+"3" {
				t.Fatalf("echo %.20q…, want %.20q…", got, payload+"3")
			}
		})
	}
}

// serveHijacked starts a server that accepts WebSocket connections
// through smallBuffers and hands each to handle; it is closed at cleanup.
func serveHijacked(t *testing.T, handle func(hj *smallBuffers, c *websocket.Conn)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := &smallBuffers{ResponseWriter: w}
		c, err := websocket.Accept(hj, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		handle(hj, c)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dialTest connects a client to srv; it and the 5 s context end at cleanup.
func dialTest(t *testing.T, srv *httptest.Server) (context.Context, *websocket.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return ctx, c
}

// TestIdleWaitCloseHandshake: a close started while the read loop waits
// idle completes with the peer's answer, which the idle wait's held byte
// begins. coder/websocket's Close reads that answer through the hijacked
// reader (buffers.go, behaviour 4), from its own goroutine, under
// idleReader.gate as closeWith holds it.
func TestIdleWaitCloseHandshake(t *testing.T) {
	closed := make(chan error, 1)
	srv := serveHijacked(t, func(hj *smallBuffers, c *websocket.Conn) {
		parked := newReadProbe()
		parked.attach(hj.sock)
		idle := &idleReader{br: hj.br, sock: hj.sock, early: hj.early}
		waited := make(chan struct{})
		parked.arm()
		go func() {
			defer close(waited)
			idle.wait()
		}()
		if !parked.await(t) { // the wait holds the socket
			return
		}
		idle.gate.Lock()
		closed <- c.Close(websocket.StatusCode(4408), "heartbeat timeout")
		idle.gate.Unlock()
		<-waited
	})
	ctx, c := dialTest(t, srv)
	_, _, err := c.Read(ctx) // answers the close frame
	if got := websocket.CloseStatus(err); got != 4408 {
		t.Fatalf("client read: %v, want close 4408", err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("server close handshake: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("server close handshake did not finish")
	}
}

// readProbe wraps the socket under a waitConn and reports the first read
// of it once armed: armed just before an idle wait, that read is the
// wait's, which then holds the socket, and any later input goes through
// it. The tests wait for it instead of sleeping for the wait to park.
type readProbe struct {
	net.Conn
	armed   atomic.Bool
	entered chan struct{}
}

func newReadProbe() *readProbe { return &readProbe{entered: make(chan struct{})} }

// attach puts p under sock, before anything reads sock.
func (p *readProbe) attach(sock *waitConn) { p.Conn, sock.Conn = sock.Conn, p }

func (p *readProbe) arm() { p.armed.Store(true) }

func (p *readProbe) Read(b []byte) (int, error) {
	if p.armed.CompareAndSwap(true, false) {
		close(p.entered)
	}
	return p.Conn.Read(b)
}

// await waits until the armed read has started; after 5 s it reports
// an error and returns false. Safe from any goroutine.
func (p *readProbe) await(t *testing.T) bool {
	t.Helper()
	select {
	case <-p.entered:
		return true
	case <-time.After(5 * time.Second):
		t.Error("the idle wait never read the socket")
		return false
	}
}

// maskedText builds a client text frame (clients must mask).
func maskedText(s string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81}
	switch n := len(s); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	f = append(f, key[:]...)
	for i := 0; i < len(s); i++ {
		f = append(f, s[i]^key[i%4])
	}
	return f
}

// readText reads one unmasked server text frame.
func readText(t *testing.T, r io.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeRecorder is a socket that records each write (one system call each
// on a real socket).
type writeRecorder struct {
	net.Conn
	writes []string
}

func (r *writeRecorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func TestCorkWriter(t *testing.T) {
	type step struct {
		op   string // "hold", "write", "release"
		data string
	}
	tests := []struct {
		name   string
		steps  []step
		writes []string
	}{
		{"not held writes through", []step{{"write", "a"}, {"write", "b"}}, []string{"a", "b"}},
		{"held writes leave in one write", []step{{"hold", ""}, {"write", "a"}, {"write", "bc"}, {"write", "d"}, {"release", ""}}, []string{"abcd"}},
		{"release with nothing held writes nothing", []step{{"hold", ""}, {"release", ""}}, nil},
		{"order kept around a batch", []step{{"write", "1"}, {"hold", ""}, {"write", "2"}, {"write", "3"}, {"release", ""}, {"write", "4"}}, []string{"1", "23", "4"}},
		{"two batches", []step{{"hold", ""}, {"write", "a"}, {"release", ""}, {"hold", ""}, {"write", "b"}, {"release", ""}}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &writeRecorder{}
			w := &corkWriter{conn: rec}
			for _, s := range tt.steps {
				switch s.op {
				case "hold":
					w.hold()
				case "write":
					if n, err := w.Write([]byte(s.data)); n != len(s.data) || err != nil {
						t.Fatalf("Write(%q) = %d, %v", s.data, n, err)
					}
				case "release":
					if err := w.release(); err != nil {
						t.Fatal(err)
					}
					if n := w.pending(); n != 0 {
						t.Fatalf("pending after release: %d", n)
					}
				}
			}
			if fmt.Sprint(rec.writes) != fmt.Sprint(tt.writes) {
				t.Fatalf("socket writes %q, want %q", rec.writes, tt.writes)
			}
		})
	}
	t.Run("nil writes through", func(t *testing.T) {
		var w *corkWriter
		w.hold()
		if err := w.release(); err != nil || w.pending() != 0 {
			t.Fatalf("nil corkWriter: %v, pending %d", err, w.pending())
		}
	})
}

// TestCorkedFramesArrive: frames written by coder/websocket while the
// cork is held — small ones and one larger than the write buffer — reach
// the peer whole and in order after release.
func TestCorkedFramesArrive(t *testing.T) {
	msgs := []string{"first", strings.Repeat("L", 5000), "last"}
	srv := serveHijacked(t, func(hj *smallBuffers, c *websocket.Conn) {
		ctx := context.Background()
		hj.cork.hold()
		for _, m := range msgs {
			if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		if n := hj.cork.pending(); n < 5000 {
			t.Errorf("pending %d bytes while held, want the three frames", n)
		}
		if err := hj.cork.release(); err != nil {
			t.Errorf("release: %v", err)
		}
		_, _, _ = c.Read(ctx) // until the client goes
	})
	ctx, c := dialTest(t, srv)
	for i, want := range msgs {
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("message %d: %.20q… (%d bytes), want %.20q… (%d bytes)", i, got, len(got), want, len(want))
		}
	}
}

// pipeHijacker is a ResponseWriter whose Hijack hands out one end of a
// net.Pipe and a reader already holding early, as net/http's does when a
// client's first frames came with its handshake.
type pipeHijacker struct {
	header http.Header
	conn   net.Conn
	early  []byte
}

func (h *pipeHijacker) Header() http.Header         { return h.header }
func (h *pipeHijacker) Write(p []byte) (int, error) { return len(p), nil }
func (h *pipeHijacker) WriteHeader(int)             {}

func (h *pipeHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(h.early), h.conn), 4096)
	if _, err := br.Peek(len(h.early)); err != nil {
		return nil, nil, err
	}
	return h.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(h.conn, 4096)), nil
}

// TestCoderWebsocketUsesHijackedBuffers checks, through coder/websocket's
// public API, each behaviour of its Accept (v1.8.15: accept.go, conn.go,
// write.go, close.go) that buffers.go relies on. If an upgrade of
// coder/websocket fails it, set Config.PlainBuffers until buffers.go is
// fixed.
func TestCoderWebsocketUsesHijackedBuffers(t *testing.T) {
	// accept starts a connection through smallBuffers over a pipe whose
	// client end is returned, with a context that fails the subtest's
	// waits after 5 s; early is what net/http had buffered.
	accept := func(t *testing.T, early []byte) (context.Context, *smallBuffers, *websocket.Conn, net.Conn) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		server, client := net.Pipe()
		t.Cleanup(func() { server.Close(); client.Close() })
		hj := &smallBuffers{ResponseWriter: &pipeHijacker{header: http.Header{}, conn: server, early: early}}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		r.Header.Set("Sec-WebSocket-Version", "13")
		r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		c, err := websocket.Accept(hj, r, nil)
		if err != nil {
			t.Fatalf("coder/websocket no longer accepts through a wrapping http.Hijacker (smallBuffers), see buffers.go: %v", err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return ctx, hj, c, client
	}

	t.Run("reads frames through the hijacked reader", func(t *testing.T) {
		ctx, hj, c, client := accept(t, maskedText("early"))
		// Accept keeps what the hijacked reader had buffered (Hijack puts
		// net/http's early bytes there).
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "early" {
			t.Fatalf("coder/websocket no longer reads the bytes buffered in the hijacked *bufio.Reader first (got %q, %v), see buffers.go", msg, err)
		}
		// Two frames in one socket read: after the first message, the
		// second must sit in hj.br, where idleReader.wait looks before
		// parking on the socket. Were it in a reader of coder/websocket's
		// own, the idle wait would block with a message unread.
		go client.Write(append(maskedText("one"), maskedText("two")...))
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "one" {
			t.Fatalf("coder/websocket no longer reads from the net.Conn Hijack returned (got %q, %v), see buffers.go", msg, err)
		}
		if hj.br.Buffered() == 0 {
			t.Fatal("coder/websocket no longer reads frames through the hijacked *bufio.Reader: the next frame is not in it, see buffers.go (idleReader)")
		}
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "two" {
			t.Fatalf("second frame %q, %v", msg, err)
		}
	})

	t.Run("writes frames through the hijacked writer, one message per flush", func(t *testing.T) {
		ctx, hj, c, client := accept(t, nil)
		got := make(chan string, 1)
		go func() { // the peer: one frame of under 126 bytes
			var h [2]byte
			if _, err := io.ReadFull(client, h[:]); err != nil {
				got <- err.Error()
				return
			}
			b := make([]byte, h[1]&0x7f)
			if _, err := io.ReadFull(client, b); err != nil {
				got <- err.Error()
				return
			}
			got <- string(b)
		}()
		hj.cork.hold()
		if err := c.Write(ctx, websocket.MessageText, []byte("batched")); err != nil {
			t.Fatal(err)
		}
		// A server frame of 7 bytes is a 2-byte header and the payload;
		// all of it must have reached corkWriter by the end of Write.
		if n := hj.cork.pending(); n != 2+len("batched") {
			t.Fatalf("coder/websocket no longer writes each message whole through the hijacked *bufio.Writer by the end of Write (corkWriter holds %d bytes, want %d), see buffers.go", n, 2+len("batched"))
		}
		select {
		case s := <-got:
			t.Fatalf("frame %q reached the socket past the cork, see buffers.go", s)
		default:
		}
		if err := hj.cork.release(); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != "batched" {
			t.Fatalf("after release the peer read %q", s)
		}
	})

	t.Run("CloseNow closes the hijacked net.Conn", func(t *testing.T) {
		ctx, hj, c, _ := accept(t, nil)
		idle := &idleReader{br: hj.br, sock: hj.sock, early: hj.early}
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			idle.wait()
		}()
		_ = c.CloseNow()
		select {
		case <-waited:
		case <-ctx.Done():
			t.Fatal("coder/websocket's CloseNow no longer closes the net.Conn Hijack returned: a connection idle in waitConn.wait never ends, see buffers.go")
		}
	})
}
