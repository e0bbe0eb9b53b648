package ws

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes of a hijacked connection. net/http's are 4 KiB each and
// would stay attached to every idle connection; frames larger than these
// are read and written straight to the socket by bufio.
const (
	readBufferSize  = 256
	writeBufferSize = 512
)

// smallBuffers hands coder/websocket's Accept a hijacked connection with
// small buffers instead of net/http's: at tens of thousands of idle
// connections the buffers are most of a connection's memory. It records
// what the connection's reader needs to wait for input (idleReader).
type smallBuffers struct {
	http.ResponseWriter

	// Set by Hijack.
	br    *bufio.Reader // the reader coder/websocket reads frames from
	sock  *waitConn     // the socket under br
	early bool          // bytes arrived with the handshake and sit ahead of sock
}

// Hijack implements http.Hijacker.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	raw, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	conn := &waitConn{Conn: raw}
	br := bufio.NewReaderSize(conn, readBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// Bytes the client sent right behind its handshake (a first frame
		// in the same packet). They must end up in the returned reader's
		// buffer: Accept re-points the reader at the raw connection and
		// keeps only what is buffered.
		early, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn), max(readBufferSize, n))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: buffer early bytes: %w", err)
		}
		w.early = true
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: flush: %w", err)
		}
	}
	w.br, w.sock = br, conn
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(raw, writeBufferSize)), nil
}

// waitConn is the socket under coder/websocket's buffered reader. Its wait
// blocks until the peer sends something, keeping the byte for the next
// Read. A connection's goroutine waits there between messages instead of
// inside coder/websocket's reader: the call chain is a few frames deep,
// so the goroutine's stack, which the GC shrinks while it is parked, fits
// the 2 KiB minimum instead of the 4 KiB the reader's chain needs — at
// thousands of idle connections, half of their stacks.
type waitConn struct {
	net.Conn

	mu   sync.Mutex // one reader of the socket at a time: wait or Read
	next [1]byte
	has  bool  // next holds a byte not yet handed to Read
	err  error // what the socket answered wait with, handed to Read
}

// wait blocks until a byte arrives or the socket fails. It returns at once
// when a byte or error is already held.
func (c *waitConn) wait() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.has || c.err != nil {
		return
	}
	n, err := c.Conn.Read(c.next[:])
	c.has = n == 1
	c.err = err
}

// Read implements io.Reader: the held byte first, then the socket.
func (c *waitConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(p) == 0:
		return 0, nil
	case c.has:
		p[0], c.has = c.next[0], false
		return 1, nil
	case c.err != nil:
		return 0, c.err
	}
	return c.Conn.Read(p)
}

// idleReader lets a connection's read loop wait for its next message
// without coder/websocket's call chain on its stack.
type idleReader struct {
	// gate keeps wait's look at br's buffer apart from a close handshake,
	// which reads br from another goroutine (coder/websocket's Close).
	gate  sync.Mutex
	br    *bufio.Reader
	sock  *waitConn
	early bool
}

// wait returns when a message may be read without blocking for long:
// bytes are buffered or the socket has some (or failed).
func (r *idleReader) wait() {
	if r.sock == nil {
		return
	}
	r.gate.Lock()
	buffered := r.early || r.br.Buffered() > 0
	r.early = false
	r.gate.Unlock()
	if !buffered {
		r.sock.wait()
	}
}
