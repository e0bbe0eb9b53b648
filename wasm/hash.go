package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/cosmic-gardener/realtime/shared/game"
)

// textHash is game.Hash of a text, computed once, resuming from a text it
// shares a prefix with. A garden one change away from another shares most
// of its text with it (bodies are sorted by id), and hashing a 5 000-body
// garden anew would take most of an update's time (wasm/README.md,
// "Performance"). So each text keeps the SHA-256 states after every
// hashStride bytes, and a text derived from another starts from the
// other's state at the end of the longest whole stride they share.
//
// Invariant (TestTextHash): hex() is game.Hash(text), whatever from was:
// sharing a prefix is a speed-up, never an assumption.
type textHash struct {
	text  []byte        // never written
	sum   string        // lowercase hex; "" until hex
	saved []hash.Cloner // states after each hashStride bytes, once hashed
	from  *textHash     // where to resume from; dropped once hashed
}

// hashStride is the spacing of the saved SHA-256 states.
const hashStride = 4 << 10

// newTextHash returns the hash of text, to resume from from's (nil: none).
func newTextHash(text []byte, from *textHash) *textHash {
	return &textHash{text: text, from: from}
}

// hex returns game.Hash(text).
func (t *textHash) hex() string {
	if t.sum != "" {
		return t.sum
	}
	h, ok := sha256.New().(hash.Cloner)
	if !ok { // GOFIPS140=v1.0.0: no saved states
		t.sum = game.Hash(t.text)
		return t.sum
	}
	done := 0
	if p := t.from; p != nil {
		if p.sum == "" && p.from == nil {
			// Hash the source too, for its saved states: the page derives
			// several gardens from one (a preview, the display's settle).
			p.hex()
		}
		n := 0
		for n < len(p.saved) && (n+1)*hashStride <= len(t.text) && bytes.Equal(p.text[n*hashStride:(n+1)*hashStride], t.text[n*hashStride:(n+1)*hashStride]) {
			n++
		}
		if n > 0 {
			if c, err := p.saved[n-1].Clone(); err == nil {
				h, done = c, n*hashStride
				t.saved = append(t.saved, p.saved[:n]...) // never written: cloned before use
			}
		}
		t.from = nil
	}
	for ; done+hashStride <= len(t.text); done += hashStride {
		h.Write(t.text[done : done+hashStride])
		if c, err := h.Clone(); err == nil {
			t.saved = append(t.saved, c)
		}
	}
	h.Write(t.text[done:])
	t.sum = hex.EncodeToString(h.Sum(nil))
	return t.sum
}
