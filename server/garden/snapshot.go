package garden

import (
	"sync"

	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// Snapshot is one immutable version of a garden, shared by every session
// that sends it. Encoded is the canonical encoding and Hash its digest.
type Snapshot struct {
	Version uint64
	State   *game.State
	Encoded []byte
	Hash    string

	fullOnce sync.Once
	full     []byte
}

func newSnapshot(version uint64, s *game.State) (*Snapshot, error) {
	enc, err := game.Encode(s)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Version: version, State: s, Encoded: enc, Hash: game.Hash(enc)}, nil
}

// FullData returns the inner data of a full StateUpdate,
// {"version":V,"state":S,"hash":H}, encoded once and shared.
func (s *Snapshot) FullData() []byte {
	s.fullOnce.Do(func() {
		s.full = protocol.AppendFullData(make([]byte, 0, len(s.Encoded)+len(s.Hash)+48), s.Version, s.Encoded, s.Hash)
	})
	return s.full
}

// patchData builds the inner data of a patch StateUpdate.
func patchData(base uint64, to *Snapshot, patch []byte) []byte {
	return protocol.AppendPatchData(make([]byte, 0, len(patch)+len(to.Hash)+64), to.Version, base, patch, to.Hash)
}
