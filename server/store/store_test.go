package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cosmic-gardener/realtime/server/internal/fakeclock"
)

// openTest opens a store on a fresh file (unless cfg.Path is set) and
// closes it at cleanup.
func openTest(t testing.TB, cfg Config) *SQLite {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "data", "cosmic.db")
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustCommit(t testing.TB, s *SQLite, c Commit) {
	t.Helper()
	if err := s.Commit(context.Background(), c); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func gardenCommit(user string, version uint64, state string) Commit {
	return Commit{Garden: &Garden{UserID: user, Version: version, State: []byte(state)}}
}

func action(user, id, result string) ActionRecord {
	return ActionRecord{UserID: user, ActionID: id, Result: []byte(result)}
}

func actionIDs(t testing.TB, s *SQLite, user string) []string {
	t.Helper()
	recs, err := s.LoadActions(context.Background(), user)
	if err != nil {
		t.Fatalf("LoadActions(%s): %v", user, err)
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ActionID)
	}
	return ids
}

func loadGarden(t testing.TB, s *SQLite, user string) Garden {
	t.Helper()
	g, ok, err := s.LoadGarden(context.Background(), user)
	if err != nil || !ok {
		t.Fatalf("LoadGarden(%s) = ok %v, err %v", user, ok, err)
	}
	return g
}

// batchLog records the batch sizes passed to Config.Observe. If hold is
// true, the first call blocks the writer until release is called, so that
// tests can queue commits deterministically.
type batchLog struct {
	mu      sync.Mutex
	sizes   []int
	hold    atomic.Bool
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
	events  chan struct{} // one per observed batch

	releaseOnce sync.Once
}

func newBatchLog(hold bool) *batchLog {
	l := &batchLog{entered: make(chan struct{}), gate: make(chan struct{}), events: make(chan struct{}, 1<<16)}
	l.hold.Store(hold)
	return l
}

func (l *batchLog) observe(n int, _ time.Duration) {
	l.mu.Lock()
	l.sizes = append(l.sizes, n)
	l.mu.Unlock()
	l.events <- struct{}{}
	if l.hold.Load() {
		l.once.Do(func() {
			close(l.entered)
			<-l.gate
		})
	}
}

func (l *batchLog) release() { l.releaseOnce.Do(func() { close(l.gate) }) }

// waitCommits waits until batches holding n commits in all have been
// observed (batches of commits answered are observed already; this also
// covers commits whose callers have not been scheduled yet).
func (l *batchLog) waitCommits(t testing.TB, n int) {
	t.Helper()
	for {
		l.mu.Lock()
		got := 0
		for _, sz := range l.sizes {
			got += sz
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		waitFor(t, l.events, fmt.Sprintf("%d more commits to be observed", n-got))
	}
}

// waitBatches waits until n batches have been observed.
func (l *batchLog) waitBatches(t testing.TB, n int) {
	t.Helper()
	for {
		l.mu.Lock()
		got := len(l.sizes)
		l.mu.Unlock()
		if got >= n {
			return
		}
		waitFor(t, l.events, fmt.Sprintf("batch %d to be observed", got+1))
	}
}

func (l *batchLog) Sizes() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sizes)
}

// heldStore opens a store whose writer is blocked (see hold).
func heldStore(t *testing.T, cfg Config) (s *SQLite, log *batchLog, enqueued chan struct{}) {
	t.Helper()
	log = newBatchLog(true)
	cfg.Observe = log.observe
	s = openTest(t, cfg)
	return s, log, hold(t, s, log)
}

// hold commits one garden and returns once the writer is blocked in the
// Observe hook log, which it arms. The returned channel receives a value
// per queued Commit: the caller queues commits, waits for them on it, then
// calls log.release, and the writer takes them all in one batch.
func hold(t *testing.T, s *SQLite, log *batchLog) chan struct{} {
	t.Helper()
	enqueued := make(chan struct{}, 4096)
	s.onEnqueue = func() { enqueued <- struct{}{} }
	log.hold.Store(true)
	// The writer observes a batch before answering it, so the blocker's
	// Commit returns only after log.release.
	blocker := commitAsync(context.Background(), s, gardenCommit("blocker", 1, `{}`))
	<-enqueued
	waitFor(t, log.entered, "writer to enter Observe")
	t.Cleanup(func() {
		log.release() // in case the test failed before releasing
		if err := <-blocker; err != nil {
			t.Errorf("blocker commit: %v", err)
		}
	})
	return enqueued
}

func waitFor(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// commitAsync runs Commit in a goroutine; the returned channel gets its
// error.
func commitAsync(ctx context.Context, s *SQLite, c Commit) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Commit(ctx, c) }()
	return ch
}

func TestOpenConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no path", Config{}, "Path is required"},
		{"bad synchronous", Config{Path: filepath.Join(dir, "a.db"), Synchronous: "OFF"}, "Synchronous"},
		{"negative batch", Config{Path: filepath.Join(dir, "b.db"), MaxBatch: -1}, "MaxBatch"},
		{"negative age", Config{Path: filepath.Join(dir, "d.db"), MaxActionAge: -time.Second}, "MaxActionAge"},
		{"negative checkpoint interval", Config{Path: filepath.Join(dir, "g.db"), CheckpointInterval: -time.Second}, "CheckpointInterval"},
		{"busy timeout under 1ms", Config{Path: filepath.Join(dir, "h.db"), BusyTimeout: time.Microsecond}, "BusyTimeout"},
		{"full lower case", Config{Path: filepath.Join(dir, "e.db"), Synchronous: "full"}, ""},
		{"defaults", Config{Path: filepath.Join(dir, "nested", "dirs", "f.db")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notdb")
	if err := os.WriteFile(notDB, bytes.Repeat([]byte("this is not a SQLite database\n"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	s := openTest(t, Config{Path: newer})
	if _, err := s.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"not a database", notDB, "not an SQLite database"},
		{"directory cannot be created", filepath.Join(blocker, "sub", "x.db"), "create directory"},
		{"schema from the future", newer, "schema version 99 is newer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), Config{Path: tt.path})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "store: open") {
				t.Fatalf("Open error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestCheckpointerCopiesWAL: while the store runs, the checkpointer copies
// committed data into the main file (the writer never checkpoints), so
// the main file alone, copied aside, holds the commit.
func TestCheckpointerCopiesWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cosmic.db")
	passive := make(chan struct{}, 1)
	s := openTest(t, Config{Path: path, CheckpointInterval: 10 * time.Millisecond,
		ObserveCheckpoint: func(mode string, _ time.Duration) {
			if mode == "passive" {
				select {
				case passive <- struct{}{}:
				default:
				}
			}
		}})
	mustCommit(t, s, gardenCommit("carol", 3, `{"stars":3}`))

	// A checkpoint observed now may have started before the commit, or
	// copied only part of the WAL: each attempt waits for the next one.
	const attempts = 100 // one per checkpoint, every 10 ms
	for attempt := 0; ; attempt++ {
		waitFor(t, passive, "a passive checkpoint observed")
		g, ok, err := loadFromCopy(t, path, attempt)
		if err == nil && ok && g.Version == 3 && string(g.State) == `{"stars":3}` {
			return
		}
		if attempt == attempts {
			t.Fatalf("the main file alone did not hold the commit after %d checkpoints: %+v ok=%v err=%v", attempts, g, ok, err)
		}
	}
}

// TestWALStaysBounded: under a stream of commits the checkpointer makes
// the writer start the WAL over; passive checkpoints alone let it grow by
// every commit (over 48 MB here: one commit at a time, each a new 8 KB
// garden version).
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cosmic.db")
	var restarts atomic.Int64
	s := openTest(t, Config{Path: path, CheckpointInterval: 5 * time.Millisecond,
		ObserveCheckpoint: func(mode string, _ time.Duration) {
			if mode == "restart" {
				restarts.Add(1)
			}
		}})
	state := `{"pad":"` + strings.Repeat("x", 8000) + `"}`
	const commits = 6000
	for i := range commits {
		mustCommit(t, s, gardenCommit(fmt.Sprintf("u%d", i%50), uint64(i/50+1), state))
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > walSizeLimit {
		t.Fatalf("WAL is %d bytes after %d commits of %d bytes, want at most %d", fi.Size(), commits, len(state), walSizeLimit)
	}
	if restarts.Load() == 0 {
		t.Fatal("no restart checkpoint was observed")
	}
}

// loadFromCopy copies the database file at path, without its WAL, and
// loads carol's garden from the copy.
func loadFromCopy(t *testing.T, path string, attempt int) (Garden, bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Garden{}, false, err
	}
	cp := filepath.Join(t.TempDir(), fmt.Sprintf("copy-%d.db", attempt))
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), Config{Path: cp})
	if err != nil {
		return Garden{}, false, err
	}
	defer c.Close()
	return c.LoadGarden(context.Background(), "carol")
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cosmic.db")
	at := time.Now().Add(-time.Hour).Round(0) // recent: older records are pruned
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, Commit{
		Garden:  &Garden{UserID: "alice", Version: 7, State: []byte(`{"plants":[1,2]}`), UpdatedAt: at},
		Actions: []ActionRecord{{UserID: "alice", ActionID: "a1", Result: []byte(`{"ok":true}`), At: at}},
	})
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("alice", "a2", `{"ok":false}`)}})
	mustCommit(t, s, gardenCommit("bob", 1, `{}`))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The WAL was checkpointed: the main file alone is a complete backup.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL has %d bytes after Close, want none", fi.Size())
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(backup, data, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{path, backup} {
		s := openTest(t, Config{Path: p})
		g := loadGarden(t, s, "alice")
		if g.Version != 7 || string(g.State) != `{"plants":[1,2]}` || !g.UpdatedAt.Equal(at) {
			t.Errorf("%s: alice garden = %+v", p, g)
		}
		if g := loadGarden(t, s, "bob"); g.Version != 1 || g.UpdatedAt.IsZero() {
			t.Errorf("%s: bob garden = %+v", p, g)
		}
		if _, ok, err := s.LoadGarden(context.Background(), "carol"); ok || err != nil {
			t.Errorf("%s: LoadGarden(carol) = ok %v, err %v; want not found", p, ok, err)
		}
		a, ok, err := s.LookupAction(context.Background(), "alice", "a1")
		if err != nil || !ok || string(a.Result) != `{"ok":true}` || !a.At.Equal(at) {
			t.Errorf("%s: LookupAction(a1) = %+v, %v, %v", p, a, ok, err)
		}
		if got := actionIDs(t, s, "alice"); !slices.Equal(got, []string{"a1", "a2"}) {
			t.Errorf("%s: actions = %v, want [a1 a2] (newest last)", p, got)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("%s: Ping: %v", p, err)
		}
	}
}

func TestGardenVersionMonotonic(t *testing.T) {
	tests := []struct {
		name        string
		versions    []uint64 // committed in this order, state "v<version>#<index>"
		wantVersion uint64
		wantState   string
	}{
		{"increasing", []uint64{1, 2, 3}, 3, "v3#2"},
		{"older ignored", []uint64{3, 1, 2}, 3, "v3#0"},
		{"equal keeps first", []uint64{2, 2}, 2, "v2#0"},
		{"gap then newer", []uint64{5, 4, 6}, 6, "v6#2"},
		{"zero version", []uint64{0}, 0, "v0#0"},
	}
	for _, tt := range tests {
		for _, batched := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batched=%v", tt.name, batched), func(t *testing.T) {
				state := func(i int) string { return fmt.Sprintf(`"v%d#%d"`, tt.versions[i], i) }
				var s *SQLite
				if !batched {
					s = openTest(t, Config{})
					for i, v := range tt.versions {
						mustCommit(t, s, gardenCommit("u", v, state(i)))
					}
				} else {
					// All in one transaction, queued in order.
					var log *batchLog
					var enq chan struct{}
					s, log, enq = heldStore(t, Config{})
					var errs []<-chan error
					for i, v := range tt.versions {
						errs = append(errs, commitAsync(context.Background(), s, gardenCommit("u", v, state(i))))
						<-enq
					}
					log.release()
					for _, ch := range errs {
						if err := <-ch; err != nil {
							t.Fatalf("Commit: %v", err)
						}
					}
					log.waitBatches(t, 2)
					if got := log.Sizes(); len(got) != 2 || got[1] != len(tt.versions) {
						t.Fatalf("batch sizes %v, want [1 %d]", got, len(tt.versions))
					}
				}
				g := loadGarden(t, s, "u")
				if g.Version != tt.wantVersion || string(g.State) != `"`+tt.wantState+`"` {
					t.Fatalf("garden = v%d %s, want v%d %q", g.Version, g.State, tt.wantVersion, tt.wantState)
				}
			})
		}
	}
}

func TestDuplicateActionKeepsFirst(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T) *SQLite
	}{
		{"separate commits", func(t *testing.T) *SQLite {
			s := openTest(t, Config{})
			mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"first"`)}})
			mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"second"`)}})
			return s
		}},
		{"one commit", func(t *testing.T) *SQLite {
			s := openTest(t, Config{})
			mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"first"`), action("u", "a", `"second"`)}})
			return s
		}},
		{"one batch", func(t *testing.T) *SQLite {
			s, log, enq := heldStore(t, Config{})
			first := commitAsync(context.Background(), s, Commit{Actions: []ActionRecord{action("u", "a", `"first"`)}})
			<-enq
			second := commitAsync(context.Background(), s, Commit{Actions: []ActionRecord{action("u", "a", `"second"`)}})
			<-enq
			log.release()
			for _, ch := range []<-chan error{first, second} {
				if err := <-ch; err != nil {
					t.Fatalf("Commit: %v", err)
				}
			}
			return s
		}},
		{"after reopen", func(t *testing.T) *SQLite {
			path := filepath.Join(t.TempDir(), "x.db")
			s, err := Open(context.Background(), Config{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"first"`)}})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openTest(t, Config{Path: path})
			mustCommit(t, s, Commit{Actions: []ActionRecord{action("u", "a", `"second"`)}})
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.run(t)
			a, ok, err := s.LookupAction(context.Background(), "u", "a")
			if err != nil || !ok || string(a.Result) != `"first"` {
				t.Fatalf("LookupAction = %q, %v, %v; want first", a.Result, ok, err)
			}
			if ids := actionIDs(t, s, "u"); len(ids) != 1 {
				t.Fatalf("actions = %v, want one", ids)
			}
		})
	}
}

func TestPruneByAge(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "age.db")
	cfg := Config{Path: path, MaxActionAge: time.Hour, Clock: clock.Now}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("active", "old1", `1`), action("idle", "old", `1`)}})
	clock.Advance(30 * time.Minute)
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("active", "mid", `1`)}})
	clock.Advance(45 * time.Minute) // old1 is 75 min old, mid 45 min
	mustCommit(t, s, Commit{Actions: []ActionRecord{
		action("active", "new", `1`),
		{UserID: "active", ActionID: "stale", Result: []byte(`1`), At: clock.Now().Add(-2 * time.Hour)},
	}})

	if got, want := actionIDs(t, s, "active"), []string{"mid", "new"}; !slices.Equal(got, want) {
		t.Errorf("active user: actions = %v, want %v", got, want)
	}
	// Per-batch pruning touches only users with new records.
	if got, want := actionIDs(t, s, "idle"), []string{"old"}; !slices.Equal(got, want) {
		t.Errorf("idle user before sweep: actions = %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Open sweeps expired records of every user.
	s = openTest(t, cfg)
	if got := actionIDs(t, s, "idle"); len(got) != 0 {
		t.Errorf("idle user after reopen: actions = %v, want none", got)
	}
	if got, want := actionIDs(t, s, "active"), []string{"mid", "new"}; !slices.Equal(got, want) {
		t.Errorf("active user after reopen: actions = %v, want %v", got, want)
	}
}

// TestRecordsKeptByAgeNotCount: with the default configuration a user's
// records are never pruned by count (issue 11 item 3: 1 001 actions made
// the first one forgotten), survive until DefaultMaxActionAge (30 days and
// a day's grace for client clocks), and are
// deleted after that, by the per-batch pruning of an active user and by
// the sweep for an idle one.
func TestRecordsKeptByAgeNotCount(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := fakeclock.New(start)
	log := newBatchLog(false)
	s := openTest(t, Config{Clock: clock.Now, Observe: log.observe})
	if s.cfg.MaxActionAge != DefaultMaxActionAge || DefaultMaxActionAge < 30*24*time.Hour {
		t.Fatalf("MaxActionAge %v, default %v; want the default, at least 30 days", s.cfg.MaxActionAge, DefaultMaxActionAge)
	}
	const n = 3000
	var c Commit
	for i := range n {
		c.Actions = append(c.Actions, action("active", fmt.Sprintf("a%04d", i), `{"success":true}`))
		if len(c.Actions) == 100 {
			mustCommit(t, s, c)
			c = Commit{}
		}
	}
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("idle", "i1", `1`)}})
	if got := actionIDs(t, s, "active"); len(got) != n || got[0] != "a0000" {
		t.Fatalf("after %d actions: %d records, first %v; want all %d", n, len(got), got[:1], n)
	}

	clock.Advance(DefaultMaxActionAge - time.Second)
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("active", "late", `1`)}})
	if a, ok, err := s.LookupAction(context.Background(), "active", "a0000"); err != nil || !ok || string(a.Result) != `{"success":true}` {
		t.Fatalf("1 s before expiry: LookupAction(a0000) = %q, %v, %v; want the original", a.Result, ok, err)
	}
	hold(t, s, log) // the writer is blocked: the test owns its statements
	swept, err := s.sweep(context.Background())
	log.release()
	if err != nil || swept != 0 {
		t.Fatalf("sweep before expiry = %d, %v; want 0", swept, err)
	}

	clock.Advance(2 * time.Second) // the first records are now 1 s past DefaultMaxActionAge
	mustCommit(t, s, Commit{Actions: []ActionRecord{action("active", "later", `1`)}})
	if got, want := actionIDs(t, s, "active"), []string{"late", "later"}; !slices.Equal(got, want) {
		t.Errorf("active user after expiry: %d records %v..., want %v", len(got), got[:min(len(got), 3)], want)
	}
	if got := actionIDs(t, s, "idle"); !slices.Equal(got, []string{"i1"}) {
		t.Errorf("idle user before the sweep: %v, want [i1] (only the sweep visits idle users)", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Config{Path: s.cfg.Path, Clock: clock.Now}) // Open sweeps
	if got := actionIDs(t, s, "idle"); len(got) != 0 {
		t.Errorf("idle user after the sweep: %v, want none", got)
	}
}

func TestConcurrentCommitsAreBatched(t *testing.T) {
	const n = 200
	s, log, enq := heldStore(t, Config{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range n {
		wg.Go(func() {
			user := fmt.Sprintf("u%d", i%20)
			err := s.Commit(context.Background(), Commit{
				Garden:  &Garden{UserID: user, Version: uint64(i), State: []byte(strconv.Itoa(i))},
				Actions: []ActionRecord{action(user, strconv.Itoa(i), `true`)},
			})
			if err != nil {
				t.Errorf("Commit %d: %v", i, err)
				failed.Add(1)
			}
		})
	}
	for range n {
		waitFor(t, enq, "commits to be queued")
	}
	log.release()
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}

	log.waitCommits(t, n+1)  // the blocker and the n commits
	sizes := log.Sizes()[1:] // drop the blocker
	total := 0
	for _, sz := range sizes {
		total += sz
	}
	if total != n || len(sizes) >= n {
		t.Fatalf("batch sizes %v: %d commits in %d transactions, want %d in fewer", sizes, total, len(sizes), n)
	}
	t.Logf("%d commits in %d transactions", total, len(sizes))
	for u := range 20 {
		user := fmt.Sprintf("u%d", u)
		if g := loadGarden(t, s, user); g.Version != uint64(180+u) || string(g.State) != strconv.Itoa(180+u) {
			t.Errorf("%s: garden v%d %s, want v%d", user, g.Version, g.State, 180+u)
		}
		if ids := actionIDs(t, s, user); len(ids) != n/20 {
			t.Errorf("%s: %d actions, want %d", user, len(ids), n/20)
		}
	}
}

func TestMaxBatch(t *testing.T) {
	const n, maxBatch = 200, 10
	log := newBatchLog(false)
	s := openTest(t, Config{MaxBatch: maxBatch, Observe: log.observe})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Commit(context.Background(), Commit{Actions: []ActionRecord{action("u", strconv.Itoa(i), `1`)}}); err != nil {
				t.Errorf("Commit: %v", err)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, sz := range log.Sizes() {
		if sz > maxBatch {
			t.Errorf("batch of %d > MaxBatch %d", sz, maxBatch)
		}
		total += sz
	}
	if total != n {
		t.Errorf("observed %d commits, want %d", total, n)
	}
}

func TestCommitContext(t *testing.T) {
	t.Run("done before", func(t *testing.T) {
		s := openTest(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Commit(ctx, gardenCommit("u", 1, `1`)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v, want context.Canceled", err)
		}
		if _, ok, _ := s.LoadGarden(context.Background(), "u"); ok {
			t.Fatal("garden written by a canceled Commit")
		}
	})
	t.Run("done while queued", func(t *testing.T) {
		s, log, enq := heldStore(t, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		ch := commitAsync(ctx, s, gardenCommit("u", 1, `1`))
		<-enq
		cancel()
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v, want context.Canceled", err)
		}
		kept := commitAsync(context.Background(), s, gardenCommit("v", 1, `1`))
		<-enq
		log.release()
		if err := <-kept; err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := s.LoadGarden(context.Background(), "u"); ok {
			t.Fatal("abandoned commit was written")
		}
		loadGarden(t, s, "v")
	})
}

func TestCloseFlushesPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flush.db")
	log := newBatchLog(true)
	s, err := Open(context.Background(), Config{Path: path, Observe: log.observe})
	if err != nil {
		t.Fatal(err)
	}
	enq := make(chan struct{}, 64)
	s.onEnqueue = func() { enq <- struct{}{} }
	blocker := commitAsync(context.Background(), s, gardenCommit("blocker", 1, `1`))
	<-enq
	waitFor(t, log.entered, "writer to block")
	defer func() {
		if err := <-blocker; err != nil {
			t.Errorf("blocker commit: %v", err)
		}
	}()
	var pending []<-chan error
	for i := range 10 {
		pending = append(pending, commitAsync(context.Background(), s, Commit{Actions: []ActionRecord{action("u", strconv.Itoa(i), `1`)}}))
		<-enq
	}
	closed := make(chan error, 3)
	for range 3 { // concurrent Close calls all wait for the flush
		go func() { closed <- s.Close() }()
	}
	log.release()
	for range 3 {
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for _, ch := range pending {
		if err := <-ch; err != nil {
			t.Fatalf("pending Commit: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = openTest(t, Config{Path: path})
	if ids := actionIDs(t, s, "u"); len(ids) != 10 {
		t.Fatalf("after reopen: %d actions, want 10", len(ids))
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	checks := []struct {
		name string
		err  error
	}{
		{"Commit", s.Commit(ctx, gardenCommit("u", 1, `1`))},
		{"empty Commit", s.Commit(ctx, Commit{})},
		{"LoadGarden", func() error { _, _, err := s.LoadGarden(ctx, "u"); return err }()},
		{"LoadActions", func() error { _, err := s.LoadActions(ctx, "u"); return err }()},
		{"LookupAction", func() error { _, _, err := s.LookupAction(ctx, "u", "a"); return err }()},
		{"Ping", s.Ping(ctx)},
	}
	for _, c := range checks {
		if !errors.Is(c.err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", c.name, c.err)
		}
	}
}

func TestInvalidCommit(t *testing.T) {
	s := openTest(t, Config{})
	tests := []struct {
		name string
		c    Commit
	}{
		{"garden without user", gardenCommit("", 1, `1`)},
		{"version too big", gardenCommit("u", 1<<63, `1`)},
		{"action without user", Commit{Actions: []ActionRecord{action("", "a", `1`)}}},
		{"empty action id", Commit{Actions: []ActionRecord{action("u", "", `1`)}}},
		{"action id too long", Commit{Actions: []ActionRecord{action("u", strings.Repeat("x", 65), `1`)}}},
		{"empty result", Commit{Actions: []ActionRecord{action("u", "a", ``)}}},
		{"valid garden, bad action", Commit{Garden: &Garden{UserID: "u", Version: 1, State: []byte(`1`)}, Actions: []ActionRecord{action("u", "", `1`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Commit(context.Background(), tt.c); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Commit = %v, want ErrInvalid", err)
			}
		})
	}
	if _, ok, _ := s.LoadGarden(context.Background(), "u"); ok {
		t.Error("invalid commit wrote a garden")
	}
	// Limits are inclusive; State nil means no garden change.
	mustCommit(t, s, Commit{
		Garden:  &Garden{UserID: "u", Version: 1<<63 - 1},
		Actions: []ActionRecord{action("u", strings.Repeat("x", 64), `1`)},
	})
	if _, ok, _ := s.LoadGarden(context.Background(), "u"); ok {
		t.Error("Garden with nil State was written")
	}
}

// TestBatchFailureIsolated makes one commit of a batch fail inside the
// transaction and checks that the others of the batch still succeed.
func TestBatchFailureIsolated(t *testing.T) {
	log := newBatchLog(true)
	s := openTest(t, Config{Observe: log.observe})
	// A trigger stands in for a failure only the database can detect.
	if _, err := s.w.Exec(`CREATE TRIGGER reject BEFORE INSERT ON actions WHEN NEW.action_id = 'bad'
		BEGIN SELECT RAISE(ABORT, 'rejected by test'); END`); err != nil {
		t.Fatal(err)
	}
	enq := hold(t, s, log)
	var errs []<-chan error
	for _, id := range []string{"good1", "bad", "good2"} {
		errs = append(errs, commitAsync(context.Background(), s, Commit{
			Garden:  &Garden{UserID: id, Version: 1, State: []byte(`1`)},
			Actions: []ActionRecord{action(id, id, `1`)},
		}))
		<-enq
	}
	log.release()
	for i, id := range []string{"good1", "bad", "good2"} {
		err := <-errs[i]
		_, found, _ := s.LoadGarden(context.Background(), id)
		if id == "bad" {
			if err == nil || !strings.Contains(err.Error(), "rejected by test") || found {
				t.Errorf("bad commit: err %v, garden written %v; want error, nothing written", err, found)
			}
			continue
		}
		if err != nil || !found {
			t.Errorf("%s: err %v, garden written %v; want success", id, err, found)
		}
	}
	log.waitBatches(t, 3)
	if got := log.Sizes(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("observed transactions %v, want [1 1 1] (blocker, then the two good commits alone)", got)
	}
}

// helperEnv names the database file for TestHelperProcess.
const helperEnv = "STORE_CRASH_HELPER_DB"

const crashWorkers = 4

// TestHelperProcess is not a test: TestCrashKeepsCommitted runs the test
// binary with it as a subprocess, which commits until it is killed and prints
// "committed k" after each successful Commit.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("subprocess of TestCrashKeepsCommitted")
	}
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			user := fmt.Sprintf("crash-%d", w)
			for i := range 100000 {
				k := i*crashWorkers + w
				err := s.Commit(context.Background(), Commit{
					Garden:  &Garden{UserID: user, Version: uint64(i + 1), State: fmt.Appendf(nil, `{"k":%d}`, k)},
					Actions: []ActionRecord{{UserID: user, ActionID: strconv.Itoa(k), Result: fmt.Appendf(nil, `{"k":%d}`, k)}},
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "committed %d\n", k)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3) // the parent should have killed us long before
}

func TestCrashKeepsCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a subprocess")
	}
	const killAfter = 300
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	guard := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()

	var committed []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "committed ")
		if !ok {
			continue
		}
		k, err := strconv.Atoi(rest)
		if err != nil {
			t.Errorf("bad line %q", sc.Text())
			continue
		}
		committed = append(committed, k)
		if len(committed) == killAfter {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatal(err)
			}
		}
	}
	// Lines the helper wrote before it died are still read above.
	err = cmd.Wait()
	if len(committed) < killAfter {
		t.Fatalf("helper printed %d commits, want %d; wait: %v; stderr:\n%s", len(committed), killAfter, err, stderr.String())
	}
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper exited with %v, want killed", err)
	}
	t.Logf("helper printed %d commits before SIGKILL", len(committed))

	s := openTest(t, Config{Path: path})
	maxVersion := make(map[string]uint64)
	for _, k := range committed {
		user := fmt.Sprintf("crash-%d", k%crashWorkers)
		maxVersion[user] = max(maxVersion[user], uint64(k/crashWorkers+1))
		a, ok, err := s.LookupAction(context.Background(), user, strconv.Itoa(k))
		if err != nil || !ok || string(a.Result) != fmt.Sprintf(`{"k":%d}`, k) {
			t.Errorf("committed %d: LookupAction = %q, %v, %v", k, a.Result, ok, err)
		}
	}
	for user, v := range maxVersion {
		if g := loadGarden(t, s, user); g.Version < v {
			t.Errorf("%s: garden version %d, but version %d was reported committed", user, g.Version, v)
		}
	}
}

func benchState() []byte {
	st := []byte(`{"plots":"`)
	st = append(st, bytes.Repeat([]byte("x"), 2048-len(st)-2)...)
	return append(st, `"}`...)
}

func BenchmarkCommit(b *testing.B) {
	s := openTest(b, Config{})
	state := benchState()
	result := []byte(`{"success":true}`)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		err := s.Commit(ctx, Commit{
			Garden:  &Garden{UserID: "bench", Version: uint64(i + 1), State: state},
			Actions: []ActionRecord{{UserID: "bench", ActionID: strconv.Itoa(i), Result: result}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitParallel(b *testing.B) {
	var txs, commits atomic.Int64
	s := openTest(b, Config{Observe: func(n int, _ time.Duration) {
		txs.Add(1)
		commits.Add(int64(n))
	}})
	state := benchState()
	result := []byte(`{"success":true}`)
	var users atomic.Int64
	// Several goroutines per P, like one per connection: they block in
	// Commit, which is when group commit pays off.
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("bench-%d", users.Add(1))
		ctx := context.Background()
		for v := uint64(1); pb.Next(); v++ {
			err := s.Commit(ctx, Commit{
				Garden:  &Garden{UserID: user, Version: v, State: state},
				Actions: []ActionRecord{{UserID: user, ActionID: strconv.FormatUint(v, 10), Result: result}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	if n := txs.Load(); n > 0 {
		b.ReportMetric(float64(commits.Load())/float64(n), "commits/tx")
	}
}

// TestOpenRefusesNonDatabase: an existing file at Path that is not an
// SQLite database, whatever its size, is refused with an error naming the
// path and left byte for byte as it was; a missing file is created and a
// valid database opens.
func TestOpenRefusesNonDatabase(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.db")
	s := openTest(t, Config{Path: valid})
	mustCommit(t, s, gardenCommit("alice", 1, `{"a":1}`))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte // nil: no file
		refuse  bool
	}{
		{"missing file is created", nil, false},
		{"empty file", []byte{}, true},
		{"one byte", []byte{'x'}, true},
		{"header prefix only", []byte("SQLite format"), true},
		{"text file", []byte("operator notes: do not delete\n" + strings.Repeat("line\n", 2000)), true},
		{"header without NUL", []byte("SQLite format 3!" + strings.Repeat("\x00", 4096)), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("case%d", i), "cosmic.db")
			if tt.content != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(context.Background(), Config{Path: path})
			if !tt.refuse {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("database not created: %v", err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want refusal")
			}
			if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open error %q: want ErrNotDatabase naming %s", err, path)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(got, tt.content) {
				t.Errorf("file changed after refusal: %d bytes (%v), want the original %d", len(got), rerr, len(tt.content))
			}
			for _, suffix := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(path + suffix); err == nil {
					t.Errorf("refusal left %s behind", path+suffix)
				}
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(dir, "a-directory")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(context.Background(), Config{Path: path}); !errors.Is(err, ErrNotDatabase) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open(directory) = %v, want ErrNotDatabase", err)
		}
	})
	t.Run("valid database", func(t *testing.T) {
		s := openTest(t, Config{Path: valid})
		if g := loadGarden(t, s, "alice"); string(g.State) != `{"a":1}` {
			t.Errorf("garden = %s", g.State)
		}
	})
}

// TestKnownActionInBatch: in one batch transaction, a conditional commit
// whose id an earlier commit of the same batch recorded is refused with
// that record and writes nothing, a conflicting commit's records are
// removed again, and the other commits of the batch are written.
func TestKnownActionInBatch(t *testing.T) {
	s, log, enq := heldStore(t, Config{})
	commits := []Commit{
		conditional("k", 0, 1, `1`, action("k", "x", `"first"`)),  // new
		conditional("k", 1, 2, `2`, action("k", "x", `"second"`)), // x recorded just before: known
		conditional("k", 1, 2, `2`, action("k", "y", `"y"`)),      // new, base holds
		conditional("k", 1, 3, `3`, action("k", "z", `"z"`)),      // conflict: k is at 2 now
	}
	var errs []<-chan error
	for _, c := range commits {
		errs = append(errs, commitAsync(context.Background(), s, c))
		<-enq
	}
	log.release()
	for i, want := range []string{"ok", "known", "ok", "conflict"} {
		err := <-errs[i]
		var known *KnownActionError
		switch want {
		case "ok":
			if err != nil {
				t.Errorf("commit %d: %v, want success", i, err)
			}
		case "known":
			if !errors.As(err, &known) || string(known.Record.Result) != `"first"` {
				t.Errorf("commit %d: %v, want *KnownActionError with \"first\"", i, err)
			}
		case "conflict":
			if !errors.Is(err, ErrConflict) || errors.As(err, &known) {
				t.Errorf("commit %d: %v, want ErrConflict", i, err)
			}
		}
	}
	log.waitBatches(t, 2)
	if got := log.Sizes(); !slices.Equal(got, []int{1, 4}) {
		t.Errorf("observed transactions %v, want [1 4] (blocker, then one batch)", got)
	}
	wantGarden(t, s, "k", 2, `2`)
	wantIDs(t, s, "k", "x", "y")
}
