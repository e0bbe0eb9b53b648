package garden_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/garden"
	"github.com/cosmic-gardener/realtime/server/internal/memstore"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
)

// recorder is a Subscriber that records the order of notifications.
type recorder struct {
	name string
	log  *[]string
	mu   *sync.Mutex
}

func (r recorder) Changed(s *garden.Snapshot, _ garden.Subscriber) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.log = append(*r.log, fmt.Sprintf("%s@%d", r.name, s.Version))
}

func newManager(t *testing.T, st garden.Store) *garden.Manager {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every version is shown at once (no coalescing): these tests are of
	// Do and Update; the flush has its own (flush_test.go).
	m, err := garden.New(garden.Config{Store: st, Clock: func() time.Time { return now }, History: 4, FlushInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func create(id string, x float64) (string, protocol.Action) {
	return id, protocol.CreateCelestialBody{BodyType: "asteroid", Position: game.Vec3{X: x}}
}

func result(t *testing.T, r garden.Result) protocol.ActionResult {
	t.Helper()
	var ar protocol.ActionResult
	if err := json.Unmarshal(r.Data, &ar); err != nil {
		t.Fatal(err)
	}
	return ar
}

func TestDoAppliesOnceAndRemembers(t *testing.T) {
	st := memstore.New()
	m := newManager(t, st)
	g, err := m.Acquire(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Commits(); len(c) != 0 {
		t.Fatalf("a new garden was stored at connect: %+v", c)
	}
	id, act := create("a1", 1)
	first, err := g.Do(context.Background(), id, act, nil)
	if err != nil || first.Replayed || !result(t, first).Success || g.Current().Version != 2 {
		t.Fatalf("first Do: %+v %v, version %d", first, err, g.Current().Version)
	}
	again, err := g.Do(context.Background(), id, protocol.CreateCelestialBody{BodyType: "star"}, nil)
	if err != nil || !again.Replayed || string(again.Data) != string(first.Data) || g.Current().Version != 2 {
		t.Fatalf("replay: %+v %v, version %d", again, err, g.Current().Version)
	}
	if sg, _ := st.Garden("ann"); sg.Version != 2 {
		got := sg.Version
		t.Fatalf("stored version %d, want 2", got)
	}

	// After unloading, the store's records keep the answer.
	m.Release(g)
	if m.Loaded() != 0 {
		t.Fatal("garden still loaded after the last release")
	}
	g2, err := m.Acquire(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(g2)
	again, err = g2.Do(context.Background(), id, act, nil)
	if err != nil || !again.Replayed || string(again.Data) != string(first.Data) {
		t.Fatalf("replay after reload: %+v %v", again, err)
	}
}

func TestDoRejectionIsRecordedNotApplied(t *testing.T) {
	st := memstore.New()
	m := newManager(t, st)
	g, _ := m.Acquire(context.Background(), "bob")
	defer m.Release(g)
	r, err := g.Do(context.Background(), "x1", protocol.CreateCelestialBody{BodyType: "unicorn"}, nil)
	if err != nil || result(t, r).Success || g.Current().Version != 1 {
		t.Fatalf("rejection: %+v %v version %d", result(t, r), err, g.Current().Version)
	}
	if c := st.Commits(); len(c) != 1 || c[0].Garden != nil || len(c[0].Actions) != 1 {
		t.Fatalf("a rejection should store its record only: %+v", c)
	}
}

func TestDoCommitFailureChangesNothing(t *testing.T) {
	st := memstore.New()
	m := newManager(t, st)
	g, _ := m.Acquire(context.Background(), "cat")
	defer m.Release(g)
	st.Fail(errors.New("disk full"))
	id, act := create("c1", 1)
	if _, err := g.Do(context.Background(), id, act, nil); err == nil {
		t.Fatal("Do succeeded although the commit failed")
	}
	if g.Current().Version != 1 {
		t.Fatalf("version %d after a failed commit", g.Current().Version)
	}
	st.Fail(nil)
	r, err := g.Do(context.Background(), id, act, nil) // the same id may be retried
	if err != nil || r.Replayed || !result(t, r).Success {
		t.Fatalf("retry: %+v %v", r, err)
	}
}

func TestPlainSaveStoresANewGarden(t *testing.T) {
	st := memstore.New()
	m := newManager(t, st)
	g, _ := m.Acquire(context.Background(), "dan")
	defer m.Release(g)
	r, err := g.Do(context.Background(), "s1", protocol.SaveGame{}, nil)
	if err != nil || !result(t, r).Success {
		t.Fatalf("save: %+v %v", r, err)
	}
	if sg, ok := st.Garden("dan"); !ok || sg.Version != 1 || string(sg.State) != string(g.Current().Encoded) {
		t.Fatalf("stored garden %+v, want version 1 as held", sg)
	}
}

func TestOriginIsNotifiedFirst(t *testing.T) {
	m := newManager(t, memstore.New())
	g, _ := m.Acquire(context.Background(), "eve")
	defer m.Release(g)
	var mu sync.Mutex
	var log []string
	others := []recorder{{"x", &log, &mu}, {"y", &log, &mu}, {"z", &log, &mu}}
	origin := recorder{"origin", &log, &mu}
	for _, r := range others {
		g.Subscribe(r)
	}
	g.Subscribe(origin)
	id, act := create("e1", 1)
	if _, err := g.Do(context.Background(), id, act, origin); err != nil {
		t.Fatal(err)
	}
	if len(log) != 4 || log[0] != "origin@2" {
		t.Fatalf("notifications %v: the origin must come first, each once", log)
	}
}

func TestUpdate(t *testing.T) {
	m := newManager(t, memstore.New()) // History 4
	g, _ := m.Acquire(context.Background(), "fay")
	defer m.Release(g)
	held := map[uint64][]byte{1: g.Current().Encoded}
	for i := range 6 {
		id, act := create(fmt.Sprintf("f%d", i), float64(i))
		if _, err := g.Do(context.Background(), id, act, nil); err != nil {
			t.Fatal(err)
		}
		held[g.Current().Version] = g.Current().Encoded
	}
	cur := g.Current() // version 7
	tests := []struct {
		name     string
		from     uint64
		wantOK   bool
		wantFull bool
	}{
		{"current", cur.Version, false, false},
		{"one behind", cur.Version - 1, true, false},
		{"three behind", cur.Version - 3, true, false},
		{"beyond the history", cur.Version - 5, true, true},
		{"nothing held", 0, true, true},
		{"from the future", cur.Version + 1, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, full, to, ok := g.Update(tt.from)
			if ok != tt.wantOK || (ok && full != tt.wantFull) || to != cur {
				t.Fatalf("Update(%d) ok=%v full=%v to=%d", tt.from, ok, full, to.Version)
			}
			if !ok {
				return
			}
			var sd protocol.StateData
			if err := json.Unmarshal(data, &sd); err != nil {
				t.Fatal(err)
			}
			if sd.Version != cur.Version || sd.Hash != cur.Hash {
				t.Fatalf("data %+v", sd)
			}
			if full {
				if string(sd.State) != string(cur.Encoded) {
					t.Fatal("full state differs from the snapshot")
				}
				return
			}
			got, err := patch.Apply(held[tt.from], sd.Patch)
			if err != nil || game.Hash(got) != cur.Hash || sd.Base != tt.from {
				t.Fatalf("patch from %d: %v, base %d", tt.from, err, sd.Base)
			}
			// Computed once, shared afterwards: the same bytes again.
			again, _, _, _ := g.Update(tt.from)
			if &again[0] != &data[0] {
				t.Fatal("the patch was computed twice")
			}
		})
	}
}

// outcomes is an Observer that records ActionDone outcomes.
type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) ActionDone(_ string, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, outcome)
}
func (*outcomes) PatchBuilt(int, int, bool) {}
func (*outcomes) StoreConflict()            {}
func (*outcomes) StepShown(uint64, bool)    {}

// TestDoAnswersEvictedIDsFromStore (was TestDoLooksUpEvictedIDs): an id
// whose result left the in-memory cache is answered from the store with
// its original bytes, not applied again (protocol.md §2). No read precedes
// the action: the commit's record insert meets the stored id, writes
// nothing and hands back the stored result, which Do answers as a replay,
// caches, and does not publish. When the commit fails, Do fails and
// applies nothing, so the client may retry the same id.
func TestDoAnswersEvictedIDsFromStore(t *testing.T) {
	st := memstore.New()
	obs := &outcomes{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := garden.New(garden.Config{Store: st, Clock: func() time.Time { return now }, MaxDedup: 2, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.Acquire(context.Background(), "eve")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release(g)
	ctx := context.Background()
	first, err := g.Do(ctx, "r1", protocol.Research{Topic: "stellar_fusion"}, nil)
	if err != nil || !result(t, first).Success {
		t.Fatalf("research: %s %v", first.Data, err)
	}
	for i := range 3 { // evict r1 from a cache of 2
		if _, err := g.Do(ctx, fmt.Sprintf("s%d", i), protocol.SaveGame{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	v := g.Current().Version

	st.Fail(errors.New("write failed"))
	if _, err := g.Do(ctx, "r2", protocol.Research{Topic: "stellar_fusion"}, nil); err == nil {
		t.Fatal("Do succeeded although the commit failed")
	}
	if g.Current().Version != v {
		t.Fatalf("a failed commit applied the action: version %d, want %d", g.Current().Version, v)
	}
	st.Fail(nil)

	var log []string
	var mu sync.Mutex
	g.Subscribe(recorder{"sub", &log, &mu})
	commits := len(st.Commits())
	stored, _ := st.Garden("eve")
	obs.mu.Lock()
	obs.got = nil
	obs.mu.Unlock()

	again, err := g.Do(ctx, "r1", protocol.Research{Topic: "stellar_fusion"}, nil)
	if err != nil || !again.Replayed || string(again.Data) != string(first.Data) {
		t.Fatalf("replay of an evicted id: %s replayed %v, %v; original %s", again.Data, again.Replayed, err, first.Data)
	}
	if g.Current().Version != v || g.Current().State.Research["stellar_fusion"] != 1 {
		t.Fatalf("replay applied the research again: version %d, research %v", g.Current().Version, g.Current().State.Research)
	}
	if n := len(st.Commits()); n != commits {
		t.Errorf("the replay wrote %d commits, want none", n-commits)
	}
	if now, _ := st.Garden("eve"); now.Version != stored.Version || string(now.State) != string(stored.State) {
		t.Errorf("the replay changed the stored garden: v%d, want v%d", now.Version, stored.Version)
	}
	if len(log) != 0 {
		t.Errorf("the replay was published: %v", log)
	}
	obs.mu.Lock()
	if !slices.Equal(obs.got, []string{"replayed"}) {
		t.Errorf("outcomes = %v, want [replayed]", obs.got)
	}
	obs.mu.Unlock()

	// Now cached again: answered without a commit.
	st.Fail(errors.New("write failed"))
	if again, err := g.Do(ctx, "r1", protocol.Research{Topic: "stellar_fusion"}, nil); err != nil || !again.Replayed || string(again.Data) != string(first.Data) {
		t.Fatalf("cached replay: %s replayed %v, %v", again.Data, again.Replayed, err)
	}
	st.Fail(nil)
}
