package garden

import (
	"strconv"
	"sync"

	"github.com/cosmic-gardener/realtime/shared/game"
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
		b := make([]byte, 0, len(s.Encoded)+len(s.Hash)+48)
		b = append(b, `{"version":`...)
		b = strconv.AppendUint(b, s.Version, 10)
		b = append(b, `,"state":`...)
		b = append(b, s.Encoded...)
		b = append(b, `,"hash":"`...)
		b = append(b, s.Hash...)
		b = append(b, `"}`...)
		s.full = b
	})
	return s.full
}

// patchData builds the inner data of a patch StateUpdate.
func patchData(base uint64, to *Snapshot, patch []byte) []byte {
	b := make([]byte, 0, len(patch)+len(to.Hash)+64)
	b = append(b, `{"version":`...)
	b = strconv.AppendUint(b, to.Version, 10)
	b = append(b, `,"base":`...)
	b = strconv.AppendUint(b, base, 10)
	b = append(b, `,"patch":`...)
	b = append(b, patch...)
	b = append(b, `,"hash":"`...)
	b = append(b, to.Hash...)
	b = append(b, `"}`...)
	return b
}
