package ws

import (
	"io"
	"testing"
)

// Paths counts the open connections by read and write path: plain ones
// were accepted with Config.PlainBuffers, the others through smallBuffers.
// Tests of both paths check with it that the setting took effect.
func (s *Server) Paths() (plain, small int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.cork == nil && c.idle.sock == nil {
			plain++
		} else {
			small++
		}
	}
	return plain, small
}

// MaskedText and ReadText expose the raw frame helpers of buffers_test.go
// to the package's external tests.
func MaskedText(s string) []byte { return maskedText(s) }

func ReadText(t *testing.T, r io.Reader) string { return readText(t, r) }
