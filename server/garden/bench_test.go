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
		g.Update(0) // a device holds version 7: it got the full state
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

// BenchmarkGardenFlush1000 is one update interval (100 ms) of a garden of
// 1 000 bodies changing 500 times a second (50 changes), watched by 1 000
// current devices that each take one step in the interval: the issue-13
// case. Each device's step is Update from the version it holds, wrapped in
// its own StateUpdate envelope (seq) around the shared bytes.
//
//   - tick: the garden shows the 50 changes as one step on its tick, so
//     every device asks for the same (from, to) pair: one diff.
//   - phases: the flush before issue 13. Every version is shown at once
//     and the devices flush on their own phases, spread over the
//     interval, so the changes land between them and almost every device
//     asks for a pair of its own: a diff each.
//
// diffs/op is the number of diffs computed per interval (at 10 intervals a
// second, the per-second figure is ten times that); ns/op the server's
// work per interval for this garden, the changes included, and
// flush-ns/op the steps alone: 1 000 Updates with their envelopes.
func BenchmarkGardenFlush1000(b *testing.B) {
	const bodies, devices, changes = 1000, 1000, 50
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	st := rules.New("alice", now.UnixMilli())
	st.Resources = game.Resources{Energy: 1e9, Stardust: 1e9}
	for i := range bodies - 1 { // the owner's home star is one of them
		id := fmt.Sprintf("b-body-%04d", i)
		st.Bodies[id] = &game.Body{CreatedAt: now.UnixMilli(), ID: id, Position: game.Vec3{X: float64(i), Y: float64(i % 7), Z: -3.5}, Type: "planet"}
	}
	ids := make([]string, 0, len(st.Bodies))
	for id := range st.Bodies {
		ids = append(ids, id)
	}
	enc, err := game.Encode(st)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"tick", "phases"} {
		b.Run(mode, func(b *testing.B) {
			interval := time.Hour // only Tick shows a step
			if mode == "phases" {
				interval = time.Nanosecond // every version shown at once
			}
			obs := &flushCounter{}
			m, err := garden.New(garden.Config{Store: &fixedStore{g: store.Garden{UserID: "alice", Version: 1, State: enc}},
				Clock: func() time.Time { return now }, Observer: obs, FlushInterval: interval, DiffCache: 64})
			if err != nil {
				b.Fatal(err)
			}
			g, err := m.Acquire(context.Background(), "alice")
			if err != nil {
				b.Fatal(err)
			}
			defer m.Release(g)
			held := make([]uint64, devices)
			for i := range held {
				held[i] = 1
			}
			buf := make([]byte, 0, 64<<10)
			seq := uint64(0)
			var flushTime time.Duration // the steps alone, the changes left out
			step := func(i int) {
				start := time.Now()
				defer func() { flushTime += time.Since(start) }()
				data, full, to, ok := g.Update(held[i])
				if !ok {
					return
				}
				seq++
				buf = protocol.AppendStateUpdate(buf[:0], seq, full, data)
				held[i] = to.Version
			}
			change := func(n int) {
				s := g.Current().State.Clone()
				c := *s.Bodies[ids[(n+len(ids))%len(ids)]]
				c.Position.X += 1
				s.Bodies[c.ID] = &c
				if _, err := g.Do(context.Background(), "c"+strconv.Itoa(n), protocol.SaveGame{State: s}, nil); err != nil {
					b.Fatal(err)
				}
			}
			// Warm up: the first full states, and a step in the history.
			change(-1)
			if mode == "tick" {
				garden.Tick(g)
			}
			for i := range held {
				step(i)
			}
			obs.diffs.Store(0)
			flushTime = 0
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				switch mode {
				case "tick":
					for range changes {
						change(n)
						n++
					}
					garden.Tick(g)
					for i := range held {
						step(i)
					}
				case "phases":
					for i := range held {
						if i%(devices/changes) == 0 {
							change(n)
							n++
						}
						step(i)
					}
				}
			}
			b.StopTimer()
			want := g.Current().Version
			lagging := 0
			for i := range held {
				if held[i] != want {
					lagging++
				}
			}
			if mode == "tick" && lagging > 0 {
				b.Fatalf("%d devices behind v%d after the tick", lagging, want)
			}
			b.ReportMetric(float64(obs.diffs.Load())/float64(b.N), "diffs/op")
			b.ReportMetric(float64(flushTime.Nanoseconds())/float64(b.N), "flush-ns/op")
		})
	}
}
