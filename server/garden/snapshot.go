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

	// enc is Encoded with where each body lies in it, so that the next
	// version copies the bytes of the bodies it shares instead of
	// encoding them again (derive). Only the garden's current version
	// needs it: Garden.setCurrent drops the previous one's (under actMu,
	// as every derive runs), so that the history does not keep an index
	// per version.
	enc *game.Encoding

	fullOnce sync.Once
	full     []byte
}

func newSnapshot(version uint64, s *game.State) (*Snapshot, error) {
	enc, err := game.NewEncoding(s)
	if err != nil {
		return nil, err
	}
	return snapshotOf(version, enc), nil
}

// derive returns the snapshot of next, a state derived from s's (the rules
// and patches share unchanged bodies by pointer): only what changed is
// encoded, the rest copied from s's bytes. At 1 000 bodies a change costs
// a copy of the state instead of its encoding (docs/performance.md,
// "Issue 13").
func (s *Snapshot) derive(version uint64, next *game.State) (*Snapshot, error) {
	if s.enc == nil {
		return newSnapshot(version, next)
	}
	enc, err := s.enc.Derive(next)
	if err != nil {
		return nil, err
	}
	return snapshotOf(version, enc), nil
}

func snapshotOf(version uint64, enc *game.Encoding) *Snapshot {
	b := enc.Bytes()
	return &Snapshot{Version: version, State: enc.State(), Encoded: b, Hash: game.Hash(b), enc: enc}
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
