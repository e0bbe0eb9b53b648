package bus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Message is the news that a garden has a new durable version.
type Message struct {
	// Node is the publishing node's id; a node ignores its own messages.
	Node string
	// Version is the new version, Base the version Patch applies to.
	Version, Base uint64
	// Patch is the RFC 6902 patch from Base to Version as shared/patch
	// produces it, or nil when it was too large to send (the receiver
	// then reads the garden from the store).
	Patch []byte
	// Hash is the canonical hash of the state at Version (game.Hash): the
	// receiver checks its application of Patch against it.
	Hash string
}

// formatV1 starts every encoded message; another value is refused, so a
// future format can be told apart during a rolling deploy.
const formatV1 = 1

// Subject returns the NATS subject of userID's garden under prefix: the
// first 128 bits of SHA-256 of the id, in hex. The id itself never
// appears on the wire or in NATS monitoring; 128 bits make a collision
// (which would only cost spurious messages, each checked by version and
// hash) negligible.
func Subject(prefix, userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return prefix + "." + hex.EncodeToString(sum[:16])
}

// Encode appends m's binary encoding to dst: a format byte, Version and
// Base as uvarints, Node and Hash each length-prefixed, and the rest is
// Patch (empty for none).
func Encode(dst []byte, m Message) []byte {
	dst = append(dst, formatV1)
	dst = binary.AppendUvarint(dst, m.Version)
	dst = binary.AppendUvarint(dst, m.Base)
	dst = binary.AppendUvarint(dst, uint64(len(m.Node)))
	dst = append(dst, m.Node...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Hash)))
	dst = append(dst, m.Hash...)
	return append(dst, m.Patch...)
}

var errBadMessage = errors.New("bus: malformed message")

// Decode parses an Encode'd message. Patch aliases b.
func Decode(b []byte) (Message, error) {
	if len(b) == 0 || b[0] != formatV1 {
		return Message{}, fmt.Errorf("%w: unknown format", errBadMessage)
	}
	b = b[1:]
	var m Message
	var ok bool
	if m.Version, b, ok = uvarint(b); !ok {
		return Message{}, fmt.Errorf("%w: version", errBadMessage)
	}
	if m.Base, b, ok = uvarint(b); !ok {
		return Message{}, fmt.Errorf("%w: base", errBadMessage)
	}
	if m.Node, b, ok = str(b); !ok {
		return Message{}, fmt.Errorf("%w: node", errBadMessage)
	}
	if m.Hash, b, ok = str(b); !ok {
		return Message{}, fmt.Errorf("%w: hash", errBadMessage)
	}
	if len(b) > 0 {
		m.Patch = b
	}
	return m, nil
}

func uvarint(b []byte) (uint64, []byte, bool) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, false
	}
	return v, b[n:], true
}

func str(b []byte) (string, []byte, bool) {
	n, b, ok := uvarint(b)
	if !ok || n > uint64(len(b)) {
		return "", nil, false
	}
	return string(b[:n]), b[n:], true
}
