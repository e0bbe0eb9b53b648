package wstest

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// PipeListener hands a server in-memory connections (net.Pipe): a write
// blocks until the peer reads it, with no kernel buffer between, so a
// client that stops reading blocks the server's writer on the very next
// frame. Blocking on a pipe is durable in a testing/synctest bubble, where
// TCP sockets are not, so a server on pipes can run in one. Close stops
// Accept; the connections handed out stay open.
type PipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// Accept implements net.Listener.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial hands one end of a new pipe to Accept and returns the other; it is
// an http.Transport's DialContext, whatever the address.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Client returns an HTTP client whose connections are pipes to l.
func (l *PipeListener) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: l.Dial}}
}
