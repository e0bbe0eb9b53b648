package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/internal/fakeclock"
)

// anyStore is what the suite needs of both stores.
type anyStore interface {
	LoadGarden(ctx context.Context, userID string) (Garden, bool, error)
	LookupAction(ctx context.Context, userID, actionID string) (ActionRecord, bool, error)
	LoadActions(ctx context.Context, userID string) ([]ActionRecord, error)
	Versions(ctx context.Context, userIDs []string) (map[string]uint64, error)
	Commit(ctx context.Context, c Commit) error
	Healthy() error
	Ping(ctx context.Context) error
	Close() error
}

// suiteConfig is what a case may set; zero means the store's default.
type suiteConfig struct {
	Clock        func() time.Time
	MaxActionAge time.Duration
}

// backend opens stores of one kind: place returns a new, empty database
// location, open a store on one (several opens of a place share its data).
type backend struct {
	name  string
	place func(t *testing.T) string
	open  func(ctx context.Context, place string, cfg suiteConfig) (anyStore, error)
}

func backends() []backend {
	return []backend{
		{
			name:  "sqlite",
			place: func(t *testing.T) string { return filepath.Join(t.TempDir(), "cosmic.db") },
			open: func(ctx context.Context, place string, cfg suiteConfig) (anyStore, error) {
				return Open(ctx, Config{Path: place, Clock: cfg.Clock, MaxActionAge: cfg.MaxActionAge})
			},
		},
		{
			name:  "postgres",
			place: func(t *testing.T) string { return pg.URL(t) },
			open: func(ctx context.Context, place string, cfg suiteConfig) (anyStore, error) {
				return OpenPostgres(ctx, PostgresConfig{URL: place, Clock: cfg.Clock, MaxActionAge: cfg.MaxActionAge})
			},
		},
	}
}

// suiteCase runs against a fresh place; open opens a store there (closed
// at cleanup).
type suiteCase struct {
	name string
	run  func(t *testing.T, open func(cfg suiteConfig) anyStore)
}

// TestStoreSuite runs the same cases on SQLite and PostgreSQL: the
// guarantees the garden and the app rely on, whichever store runs.
func TestStoreSuite(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range suiteCases() {
				t.Run(c.name, func(t *testing.T) {
					place := b.place(t)
					c.run(t, func(cfg suiteConfig) anyStore {
						t.Helper()
						s, err := b.open(context.Background(), place, cfg)
						if err != nil {
							t.Fatalf("open: %v", err)
						}
						t.Cleanup(func() {
							if err := s.Close(); err != nil {
								t.Errorf("Close: %v", err)
							}
						})
						return s
					})
				})
			}
		})
	}
}

func commitOK(t *testing.T, s anyStore, c Commit) {
	t.Helper()
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func wantGarden(t *testing.T, s anyStore, user string, version uint64, state string) {
	t.Helper()
	g, ok, err := s.LoadGarden(context.Background(), user)
	if err != nil || !ok {
		t.Fatalf("LoadGarden(%s) = ok %v, err %v", user, ok, err)
	}
	if g.Version != version || string(g.State) != state {
		t.Errorf("garden %s = v%d %s, want v%d %s", user, g.Version, g.State, version, state)
	}
}

func wantIDs(t *testing.T, s anyStore, user string, want ...string) {
	t.Helper()
	recs, err := s.LoadActions(context.Background(), user)
	if err != nil {
		t.Fatalf("LoadActions(%s): %v", user, err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ActionID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("actions of %s = %v, want %v", user, got, want)
	}
}

func conditional(user string, base, version uint64, state string, acts ...ActionRecord) Commit {
	c := Commit{Expect: &Expect{UserID: user, Version: base}, Actions: acts}
	if state != "" {
		c.Garden = &Garden{UserID: user, Version: version, State: []byte(state)}
	}
	return c
}

func suiteCases() []suiteCase {
	ctx := context.Background()
	return []suiteCase{
		{"load missing and stored", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			if _, ok, err := s.LoadGarden(ctx, "nobody"); ok || err != nil {
				t.Fatalf("LoadGarden(nobody) = ok %v, err %v", ok, err)
			}
			commitOK(t, s, Commit{Garden: &Garden{UserID: "u", Version: 3, State: []byte(`{"a":1}`), UpdatedAt: time.Unix(5, 6)},
				Actions: []ActionRecord{action("u", "a1", `{"ok":true}`)}})
			wantGarden(t, s, "u", 3, `{"a":1}`)
			if g, _, _ := s.LoadGarden(ctx, "u"); !g.UpdatedAt.Equal(time.Unix(5, 6)) {
				t.Errorf("UpdatedAt = %v", g.UpdatedAt)
			}
			if err := s.Healthy(); err != nil {
				t.Errorf("Healthy: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		}},
		{"unconditional writes never go back", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, gardenCommit("u", 5, `"five"`))
			commitOK(t, s, gardenCommit("u", 4, `"four"`))
			commitOK(t, s, gardenCommit("u", 5, `"five again"`))
			wantGarden(t, s, "u", 5, `"five"`)
			commitOK(t, s, gardenCommit("u", 6, `"six"`))
			wantGarden(t, s, "u", 6, `"six"`)
		}},
		{"conditional commits", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, conditional("u", 0, 2, `"two"`, action("u", "a", `"ra"`)))
			wantGarden(t, s, "u", 2, `"two"`)
			commitOK(t, s, conditional("u", 2, 3, `"three"`, action("u", "b", `"rb"`)))
			commitOK(t, s, conditional("u", 3, 0, "", action("u", "c", `"rejected"`))) // records only
			commitOK(t, s, conditional("u", 3, 3, `"three, saved"`, action("u", "d", `"saved"`)))
			wantGarden(t, s, "u", 3, `"three, saved"`)
			wantIDs(t, s, "u", "a", "b", "c", "d")
			commitOK(t, s, conditional("new", 0, 0, "", action("new", "x", `"r"`))) // no garden yet: holds
			wantIDs(t, s, "new", "x")
		}},
		{"a conflict writes nothing", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, conditional("u", 0, 2, `"two"`))
			for _, c := range []Commit{
				conditional("u", 0, 2, `"other two"`, action("u", "insert", `"r"`)),    // exists already
				conditional("u", 1, 2, `"from one"`, action("u", "stale", `"r"`)),      // stale base
				conditional("u", 3, 4, `"from three"`, action("u", "future", `"r"`)),   // base ahead
				conditional("u", 1, 0, "", action("u", "records", `"r"`)),              // records only, stale
				conditional("none", 4, 0, "", action("none", "missing", `"r"`)),        // no garden at all
				conditional("none", 4, 5, `"five"`, action("none", "missing2", `"r"`)), // update of nothing
			} {
				err := s.Commit(ctx, c)
				if !errors.Is(err, ErrConflict) {
					t.Errorf("Commit(%+v) = %v, want ErrConflict", *c.Expect, err)
				}
			}
			wantGarden(t, s, "u", 2, `"two"`)
			wantIDs(t, s, "u")
			wantIDs(t, s, "none")
			if _, ok, _ := s.LoadGarden(ctx, "none"); ok {
				t.Error("a conflicting commit created a garden")
			}
			if err := s.Healthy(); err != nil {
				t.Errorf("a conflict made the store unhealthy: %v", err)
			}
		}},
		{"concurrent conditional commits: one wins", func(t *testing.T, open func(suiteConfig) anyStore) {
			a, b := open(suiteConfig{}), open(suiteConfig{}) // two stores on one database
			commitOK(t, a, conditional("u", 0, 1, `1`))
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := []anyStore{a, b}[i%2]
					errs[i] = s.Commit(ctx, conditional("u", 1, 2, fmt.Sprint(i), action("u", fmt.Sprint("w", i), `"r"`)))
				}()
			}
			wg.Wait()
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won >= 0:
					t.Errorf("writers %d and %d both won", won, i)
				case err == nil:
					won = i
				case !errors.Is(err, ErrConflict):
					t.Errorf("writer %d: %v, want nil or ErrConflict", i, err)
				}
			}
			if won < 0 {
				t.Fatal("no writer won")
			}
			wantGarden(t, b, "u", 2, fmt.Sprint(won))
			wantIDs(t, a, "u", fmt.Sprint("w", won))
		}},
		{"duplicate ids keep the first result", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"first"`)}})
			commitOK(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"second"`), action("v", "a", `"other user"`)}})
			var known *KnownActionError // a conditional commit: refused, see the case below
			if err := s.Commit(ctx, conditional("u", 0, 2, `2`, action("u", "a", `"third"`))); !errors.As(err, &known) {
				t.Errorf("conditional commit of a known id = %v, want *KnownActionError", err)
			}
			for user, want := range map[string]string{"u": `"first"`, "v": `"other user"`} {
				rec, ok, err := s.LookupAction(ctx, user, "a")
				if err != nil || !ok || string(rec.Result) != want {
					t.Errorf("LookupAction(%s, a) = %s, %v, %v; want %s", user, rec.Result, ok, err, want)
				}
			}
			if _, ok, err := s.LookupAction(ctx, "u", "never"); ok || err != nil {
				t.Errorf("LookupAction(never) = ok %v, err %v", ok, err)
			}
		}},
		{"a conditional commit of a known id writes nothing and returns the record", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, conditional("u", 0, 2, `"two"`, action("u", "a", `"ra"`)))
			for _, c := range []Commit{
				conditional("u", 2, 3, `"three"`, action("u", "a", `"again"`)),                         // base holds
				conditional("u", 1, 2, `"stale"`, action("u", "a", `"again"`)),                         // stale base: known wins
				conditional("u", 2, 0, "", action("u", "a", `"again"`)),                                // records only
				conditional("u", 2, 3, `"three"`, action("u", "new", `"rn"`), action("u", "a", `"x"`)), // second id known
			} {
				err := s.Commit(ctx, c)
				var known *KnownActionError
				switch {
				case !errors.As(err, &known):
					t.Errorf("Commit(%+v) = %v, want *KnownActionError", *c.Expect, err)
				case errors.Is(err, ErrConflict):
					t.Errorf("Commit(%+v) = %v, also a conflict", *c.Expect, err)
				case known.Record.UserID != "u" || known.Record.ActionID != "a" || string(known.Record.Result) != `"ra"` || known.Record.At.IsZero():
					t.Errorf("Commit(%+v): record %+v, want the stored u/a \"ra\"", *c.Expect, known.Record)
				}
			}
			wantGarden(t, s, "u", 2, `"two"`)
			wantIDs(t, s, "u", "a")
			commitOK(t, s, conditional("u", 2, 3, `"three"`, action("u", "new", `"rn"`))) // the store is fine
			wantGarden(t, s, "u", 3, `"three"`)
			wantIDs(t, s, "u", "a", "new")
			if err := s.Healthy(); err != nil {
				t.Errorf("a known id made the store unhealthy: %v", err)
			}
		}},
		{"records expire by age", func(t *testing.T, open func(suiteConfig) anyStore) {
			clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
			cfg := suiteConfig{Clock: clock.Now, MaxActionAge: time.Hour}
			s := open(cfg)
			commitOK(t, s, Commit{Actions: []ActionRecord{action("active", "old", `1`), action("idle", "old", `1`)}})
			clock.Advance(30 * time.Minute)
			commitOK(t, s, Commit{Actions: []ActionRecord{action("active", "mid", `1`)}})
			clock.Advance(45 * time.Minute)
			commitOK(t, s, Commit{Actions: []ActionRecord{action("active", "new", `1`)}})
			wantIDs(t, s, "active", "mid", "new") // pruned with the user's commit
			wantIDs(t, s, "idle", "old")          // not yet swept
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(cfg) // Open sweeps every user
			wantIDs(t, s, "idle")
			wantIDs(t, s, "active", "mid", "new")
		}},
		{"data survives reopening", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, conditional("u", 0, 2, `2`, action("u", "a", `"r"`)))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(suiteConfig{})
			wantGarden(t, s, "u", 2, `2`)
			wantIDs(t, s, "u", "a")
		}},
		{"versions of many gardens in one query", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, gardenCommit("a", 3, `3`))
			commitOK(t, s, gardenCommit("b", 7, `7`))
			commitOK(t, s, gardenCommit("it's \"odd\"", 2, `2`))
			commitOK(t, s, Commit{Actions: []ActionRecord{action("records-only", "x", `1`)}})
			ids := []string{"a", "b", "missing", "records-only", "it's \"odd\""}
			for i := range versionsChunk + 5 { // more than one chunk
				ids = append(ids, fmt.Sprintf("nobody-%d", i))
			}
			got, err := s.Versions(ctx, ids)
			if err != nil {
				t.Fatalf("Versions: %v", err)
			}
			want := map[string]uint64{"a": 3, "b": 7, "it's \"odd\"": 2}
			if !maps.Equal(got, want) {
				t.Errorf("Versions = %v, want %v", got, want)
			}
			if got, err := s.Versions(ctx, nil); err != nil || len(got) != 0 {
				t.Errorf("Versions(nil) = %v, %v", got, err)
			}
		}},
		{"invalid commits", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			for _, c := range []Commit{
				{Actions: []ActionRecord{action("", "a", `1`)}},
				{Actions: []ActionRecord{action("u", "", `1`)}},
				{Actions: []ActionRecord{action("u", "a", ``)}},
				{Garden: &Garden{Version: 1, State: []byte(`1`)}},
				conditional("", 0, 0, "", action("u", "a", `1`)),
				{Garden: &Garden{UserID: "v", Version: 2, State: []byte(`2`)}, Expect: &Expect{UserID: "u"}},
				conditional("u", 3, 2, `2`),
			} {
				if err := s.Commit(ctx, c); !errors.Is(err, ErrInvalid) {
					t.Errorf("Commit(%+v) = %v, want ErrInvalid", c, err)
				}
			}
			wantIDs(t, s, "u")
		}},
		{"close", func(t *testing.T, open func(suiteConfig) anyStore) {
			s := open(suiteConfig{})
			commitOK(t, s, Commit{Actions: []ActionRecord{action("u", "a", `1`)}})
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := s.Commit(ctx, Commit{Actions: []ActionRecord{action("u", "b", `1`)}}); !errors.Is(err, ErrClosed) {
				t.Errorf("Commit after Close = %v", err)
			}
			if _, _, err := s.LoadGarden(ctx, "u"); !errors.Is(err, ErrClosed) {
				t.Errorf("LoadGarden after Close = %v", err)
			}
			if _, _, err := s.LookupAction(ctx, "u", "a"); !errors.Is(err, ErrClosed) {
				t.Errorf("LookupAction after Close = %v", err)
			}
			if _, err := s.Versions(ctx, []string{"u"}); !errors.Is(err, ErrClosed) {
				t.Errorf("Versions after Close = %v", err)
			}
			if err := s.Healthy(); !errors.Is(err, ErrClosed) {
				t.Errorf("Healthy after Close = %v", err)
			}
			if err := s.Ping(ctx); !errors.Is(err, ErrClosed) {
				t.Errorf("Ping after Close = %v", err)
			}
		}},
	}
}
