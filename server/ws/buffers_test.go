package ws

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSmallBuffersKeepEarlyBytes: a client that sends its first frame in
// the same packet as its handshake must have that frame read. The bytes sit
// in net/http's buffer at the hijack and have to survive the swap to small
// buffers (they once did not: the first message was lost, the stream
// misread and the connection reset).
func TestSmallBuffersKeepEarlyBytes(t *testing.T) {
	for _, payload := range []string{"hi", strings.Repeat("x", 100), strings.Repeat("y", 1000)} {
		t.Run(fmt.Sprintf("%d bytes", len(payload)), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(smallBuffers{w}, r, nil)
				if err != nil {
					t.Errorf("accept: %v", err)
					return
				}
				defer c.CloseNow()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				typ, msg, err := c.Read(ctx)
				if err != nil {
					t.Errorf("server read: %v", err)
					return
				}
				if err := c.Write(ctx, typ, msg); err != nil {
					t.Errorf("server write: %v", err)
				}
			}))
			defer srv.Close()

			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			handshake := "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			// One write: the handshake and a masked text frame together.
			if _, err := conn.Write(append([]byte(handshake), maskedText(payload)...)); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("handshake: %v %v", resp, err)
			}
			if got := readText(t, br); got != payload {
				t.Fatalf("echo %q, want %q", got, payload)
			}
		})
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
