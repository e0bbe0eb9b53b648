package garden_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// fixedStore always holds the same garden and forgets commits, so that
// every Acquire after a Release starts from it again.
type fixedStore struct{ g store.Garden }

func (s *fixedStore) LoadGarden(context.Context, string) (store.Garden, bool, error) {
	return s.g, true, nil
}
func (s *fixedStore) Commit(context.Context, store.Commit) error { return nil }

// BenchmarkUpdate500 applies one change (a new planet) to a garden of 500
// bodies and builds the update its other devices get. ns/op is the
// server's work per change: rules, encoding, hash and the patch, built
// once and shared by every recipient. patch-bytes is the size of that
// update's data, state-bytes the size of the full state it spares them.
func BenchmarkUpdate500(b *testing.B) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	st := rules.New("alice", now.UnixMilli())
	for i := range 500 {
		id := fmt.Sprintf("b-body-%03d", i)
		st.Bodies[id] = &game.Body{CreatedAt: now.UnixMilli(), ID: id, Position: game.Vec3{X: float64(i), Y: float64(i % 7), Z: -3.5}, Type: "planet"}
	}
	enc, err := game.Encode(st)
	if err != nil {
		b.Fatal(err)
	}
	m, err := garden.New(garden.Config{Store: &fixedStore{g: store.Garden{UserID: "alice", Version: 7, State: enc}},
		Clock: func() time.Time { return now.Add(time.Second) }})
	if err != nil {
		b.Fatal(err)
	}
	act := protocol.CreateCelestialBody{BodyType: "planet", Position: game.Vec3{X: 1, Y: 2, Z: 3}}
	ctx := context.Background()

	var patchBytes, stateBytes int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		g, err := m.Acquire(ctx, "alice") // the 500-body garden, fresh
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		res, err := g.Do(ctx, "new-planet", act, nil)
		if err != nil || res.Replayed {
			b.Fatalf("Do: %v (replayed %v)", err, res.Replayed)
		}
		data, full, to, ok := g.Update(7)
		if !ok || full || to.Version != 8 {
			b.Fatalf("Update: full %v ok %v", full, ok)
		}
		patchBytes, stateBytes = len(data), len(to.FullData())

		b.StopTimer()
		m.Release(g)
		b.StartTimer()
	}
	b.ReportMetric(float64(patchBytes), "patch-bytes")
	b.ReportMetric(float64(stateBytes), "state-bytes")
}

// BenchmarkDoNewAction is one new action (a Research that the rules refuse
// for lack of resources, so the garden stays the same size) through Do on
// the real SQLite store in a temporary directory: the dedup check, the
// rules, the encoding and the durable commit of its record. ns/op is the
// latency of one player's action with nothing else queued; records is how
// many of that player's records the store holds at the end.
func BenchmarkDoNewAction(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(b.TempDir(), "cosmic.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			b.Error(err)
		}
	}()
	m, err := garden.New(garden.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	g, err := m.Acquire(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release(g)
	// Spend the starting resources, so that every Research is refused.
	for i := 0; ; i++ {
		res, err := g.Do(ctx, fmt.Sprintf("spend-%d", i), protocol.CreateCelestialBody{BodyType: "star"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		var ar protocol.ActionResult
		if err := json.Unmarshal(res.Data, &ar); err != nil {
			b.Fatal(err)
		}
		if !ar.Success {
			break
		}
	}
	act := protocol.Research{Topic: "stellar_fusion"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, err := g.Do(ctx, "c1-"+strconv.Itoa(i), act, nil); err != nil || res.Replayed {
			b.Fatalf("Do: %v (replayed %v)", err, res.Replayed)
		}
	}
	b.StopTimer()
	recs, err := st.LoadActions(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(recs)), "records")
}
