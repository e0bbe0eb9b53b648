package ws

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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
// connections the buffers are most of a connection's memory.
type smallBuffers struct {
	http.ResponseWriter
}

// Hijack implements http.Hijacker.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
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
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("hijack: flush: %w", err)
		}
	}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, writeBufferSize)), nil
}
