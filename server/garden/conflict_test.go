package garden_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/internal/memstore"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// conflictCounter is an Observer that counts store conflicts.
type conflictCounter struct{ n atomic.Int64 }

func (*conflictCounter) ActionDone(string, string, time.Duration) {}
func (*conflictCounter) PatchBuilt(int, int, bool)                {}
func (c *conflictCounter) StoreConflict()                         { c.n.Add(1) }
func (*conflictCounter) StepShown(uint64, bool)                   {}

// twoProcesses opens two stores on one SQLite file, as two server
// processes would, and a garden manager on each.
func twoProcesses(t *testing.T) (stores [2]*store.SQLite, managers [2]*garden.Manager, obs *conflictCounter) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shared.db")
	obs = &conflictCounter{}
	// Real time: the stores expire records by age on their own clocks.
	for i := range 2 {
		s, err := store.Open(context.Background(), store.Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		// Every version shown at once: the subscribers' log is checked.
		m, err := garden.New(garden.Config{Store: s, Observer: obs, FlushInterval: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		stores[i], managers[i] = s, m
	}
	return stores, managers, obs
}

// TestConflictReloadsAndAppliesAgain: two processes hold the same garden;
// the second one's commit, computed from a version the first has replaced,
// conflicts, and Do reloads the newer version and applies on it.
func TestConflictReloadsAndAppliesAgain(t *testing.T) {
	ctx := context.Background()
	stores, ms, obs := twoProcesses(t)
	var gs [2]*garden.Garden
	for i, m := range ms {
		g, err := m.Acquire(ctx, "ann")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(g)
		gs[i] = g
	}
	var log []string
	var mu sync.Mutex
	gs[1].Subscribe(recorder{name: "b", log: &log, mu: &mu})

	if _, err := gs[0].Do(ctx, "a1", protocol.CreateCelestialBody{BodyType: "asteroid"}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := gs[1].Do(ctx, "b1", protocol.CreateCelestialBody{BodyType: "asteroid", Position: game.Vec3{X: 1}}, nil)
	if err != nil || r.Replayed || !result(t, r).Success || result(t, r).Version != 3 {
		t.Fatalf("second process: %+v (%s), %v; want applied as version 3", r, r.Data, err)
	}
	if n := obs.n.Load(); n != 1 {
		t.Errorf("conflicts = %d, want 1", n)
	}
	if cur := gs[1].Current(); cur.Version != 3 || len(cur.State.Bodies) != 2 {
		t.Errorf("second process holds v%d with %d bodies, want v3 with 2", cur.Version, len(cur.State.Bodies))
	}
	mu.Lock()
	if fmt.Sprint(log) != "[b@2 b@3]" {
		t.Errorf("subscriber heard %v, want the reloaded version, then its own", log)
	}
	mu.Unlock()
	// The first process's id, sent to the second: the original answer.
	again, err := gs[1].Do(ctx, "a1", protocol.CreateCelestialBody{BodyType: "star"}, nil)
	if err != nil || !again.Replayed || result(t, again).Version != 2 {
		t.Errorf("a1 replayed on the other process: %+v (%s), %v", again, again.Data, err)
	}
	if g, _, _ := stores[0].LoadGarden(ctx, "ann"); g.Version != 3 {
		t.Errorf("stored version %d, want 3", g.Version)
	}
}

// TestConcurrentProcessesApplyEachActionOnce: two processes apply actions
// to one garden at once. Every action is applied (or refused) exactly
// once, its recorded result is the one Do answered, the final state holds
// every applied one, and conflicts were counted.
func TestConcurrentProcessesApplyEachActionOnce(t *testing.T) {
	ctx := context.Background()
	stores, ms, obs := twoProcesses(t)
	const perProcess = 12
	type answer struct {
		id   string
		data []byte
	}
	answers := make(chan answer, 2*perProcess*2)
	// Both processes load the (new, unstored) garden before either
	// writes: the later of their first commits conflicts.
	var gs [2]*garden.Garden
	for p, m := range ms {
		g, err := m.Acquire(ctx, "ann")
		if err != nil {
			t.Fatal(err)
		}
		defer m.Release(g)
		gs[p] = g
	}
	var wg sync.WaitGroup
	for p, g := range gs {
		for w := range 2 { // two clients per process
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perProcess / 2 {
					id := fmt.Sprintf("p%d-w%d-%d", p, w, i)
					r, err := g.Do(ctx, id, protocol.CreateCelestialBody{BodyType: "asteroid", Position: game.Vec3{X: float64(i)}}, nil)
					if err != nil {
						t.Errorf("Do(%s): %v", id, err)
						continue
					}
					answers <- answer{id, r.Data}
				}
			}()
		}
	}
	wg.Wait()
	close(answers)

	applied := 0
	versions := map[uint64]string{}
	for a := range answers {
		rec, ok, err := stores[0].LookupAction(ctx, "ann", a.id)
		if err != nil || !ok || string(rec.Result) != string(a.data) {
			t.Errorf("%s: answered %s, recorded %s (%v, %v)", a.id, a.data, rec.Result, ok, err)
		}
		ar := result(t, garden.Result{Data: a.data})
		if ar.Success {
			applied++
			if other, dup := versions[ar.Version]; dup {
				t.Errorf("%s and %s both made version %d", a.id, other, ar.Version)
			}
			versions[ar.Version] = a.id
		}
	}
	recs, err := stores[1].LoadActions(ctx, "ann")
	if err != nil || len(recs) != 2*perProcess {
		t.Errorf("%d records, %v; want %d", len(recs), err, 2*perProcess)
	}
	stored, _, err := stores[1].LoadGarden(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	s, err := game.Decode(stored.State)
	if err != nil {
		t.Fatal(err)
	}
	if applied == 0 || len(s.Bodies) != applied || stored.Version != uint64(1+applied) {
		t.Errorf("stored v%d with %d bodies; %d actions applied", stored.Version, len(s.Bodies), applied)
	}
	t.Logf("%d applied, %d refused, %d conflicts", applied, 2*perProcess-applied, obs.n.Load())
	if obs.n.Load() == 0 {
		t.Error("no conflict counted")
	}
}

// TestConflictRetriesAreBounded: a store that always reports a conflict
// makes Do give up after MaxConflictRetries reloads with the conflict
// error, having applied nothing.
func TestConflictRetriesAreBounded(t *testing.T) {
	st := memstore.New()
	obs := &conflictCounter{}
	m, err := garden.New(garden.Config{Store: alwaysConflict{st}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.Acquire(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(g)
	_, err = g.Do(context.Background(), "a1", protocol.CreateCelestialBody{BodyType: "asteroid"}, nil)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Do = %v, want ErrConflict", err)
	}
	if n := obs.n.Load(); n != garden.MaxConflictRetries+1 {
		t.Errorf("conflicts = %d, want %d", n, garden.MaxConflictRetries+1)
	}
	if len(st.Commits()) != 0 {
		t.Error("something was committed")
	}
}

type alwaysConflict struct{ *memstore.Store }

func (alwaysConflict) Commit(context.Context, store.Commit) error {
	return fmt.Errorf("test: %w", store.ErrConflict)
}
