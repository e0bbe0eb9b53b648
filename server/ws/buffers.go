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

// This file replaces net/http's hijacked buffers with small ones, batches
// a writer's frames into one write (corkWriter) and parks an idle
// connection on a one-byte read (waitConn, idleReader). Config.PlainBuffers
// turns all of it off. It relies on these behaviours of coder/websocket
// (v1.8.15; accept.go, conn.go, write.go, close.go), none of them
// documented; TestCoderWebsocketUsesHijackedBuffers and
// TestIdleWaitCloseHandshake fail, saying which, if an upgrade changes one:
//
//  1. Accept finds smallBuffers' Hijack (hijack.go takes the first
//     http.Hijacker, following Unwrap) and calls it once, after writing
//     the 101 response through the wrapped ResponseWriter (net/http may
//     leave it in its buffered writer, which Hijack flushes).
//  2. Accept keeps the bytes buffered in the returned *bufio.Reader (its
//     Peek of Buffered()), resets that same reader onto them followed by
//     the returned net.Conn, and the Conn reads every frame through it.
//     So early bytes must be in br's buffer when Hijack returns (after the
//     reset they are behind it, hence smallBuffers.early), bytes left over
//     after a message are in br (idleReader.wait looks there before
//     parking), and the rest comes from waitConn, whose Read hands over
//     the byte its wait took.
//  3. The Conn writes every frame through the returned *bufio.Writer and
//     flushes it at the end of each message and control frame (writeFrame
//     flushes on fin): corkWriter sees whole frames, so a batch it
//     releases is whole frames.
//  4. Close reads the peer's close frame through br from the closing
//     goroutine (waitCloseHandshake): hence idleReader.gate.
//  5. Close and CloseNow close the returned net.Conn, which ends a
//     waitConn.wait parked on it.
//
// Lock order, outermost first: code holding one of these locks takes
// only locks further down the list, never one above it.
//
//  1. Server.mu: under it only Observer.ConnOpened and, when Shutdown's
//     context expires, coder/websocket's CloseNow.
//  2. session.Session.mu, which calls the Outlet (Wake, TakenOver,
//     Overflow) and so takes conn.mu; garden.Garden's action lock, held
//     through Do while it notifies sessions, comes before it. conn never
//     calls the session or the garden while holding a lock of its own.
//  3. conn.mu: under it a goroutine is started or a task handed to
//     workers.run, which never blocks; no other lock.
//  4. idleReader.gate, held by closeWith around coder/websocket's Close
//     and by idleReader.wait only to look at br, never while parked on the
//     socket (a close would then wait for the peer to speak).
//  5. coder/websocket's own locks (its read lock around a Read and the
//     close handshake's read, its frame write lock around each frame).
//  6. Leaves, never held together: corkWriter.mu, held across a socket
//     write (a frame written through, or a batch at release);
//     waitConn.mu, held across a socket read, which blocks until the peer
//     sends or the socket closes. Writes therefore never wait for a read.
//
// Without locks: conn.expires, lastRecv and writeStart (written by the
// connection, read by the sweeper), msgsIn and msgsOut, workers.idle.

// Buffer sizes of a hijacked connection. net/http's are 4 KiB each and
// would stay attached to every idle connection. Frames larger than the
// read buffer are read straight from the socket by bufio. The write buffer
// only stages bytes for corkWriter, which batches the writer's frames in a
// pooled buffer; 128 bytes still hold any control frame whole (a close or
// pong frame is at most 2+125), so those reach the socket in one write.
const (
	readBufferSize  = 256
	writeBufferSize = 128
)

// corkPool holds corkWriter's batch buffers: a connection has one only
// while its writer runs.
var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

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
	cork  *corkWriter   // the socket under coder/websocket's writer
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
	w.br, w.sock, w.cork = br, conn, &corkWriter{conn: raw}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.cork, writeBufferSize)), nil
}

// corkWriter is the socket under coder/websocket's buffered writer. Like
// TCP_CORK, while held it collects what is written and sends it with one
// write at release. coder/websocket flushes every message, and a message
// larger than the write buffer costs it two writes; the connection's
// writer holds the cork around the frames it has ready, so each batch costs
// one system call, which is most of the CPU a frame costs.
//
// Writes from other goroutines (a close frame, a pong) are kept in order:
// appended while held, written through under the same lock otherwise.
type corkWriter struct {
	conn net.Conn

	mu   sync.Mutex // orders writes; held across the socket write
	held bool
	buf  *[]byte // the batch, from corkPool; nil when empty
}

// Write implements io.Writer.
func (w *corkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held {
		return w.conn.Write(p)
	}
	if w.buf == nil {
		w.buf = corkPool.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// hold starts collecting writes. The methods do nothing on a nil
// corkWriter: a connection not hijacked through smallBuffers writes through.
func (w *corkWriter) hold() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.held = true
	w.mu.Unlock()
}

// pending returns the number of bytes collected since hold.
func (w *corkWriter) pending() int {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf == nil {
		return 0
	}
	return len(*w.buf)
}

// release writes what was collected, in one write, and stops collecting.
func (w *corkWriter) release() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	if w.buf == nil {
		return nil
	}
	b := w.buf
	w.buf = nil
	_, err := w.conn.Write(*b)
	if cap(*b) <= 64<<10 { // don't pool giant full-state batches
		*b = (*b)[:0]
		corkPool.Put(b)
	}
	if err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
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
