package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults used when the matching Config field is zero.
const (
	DefaultSynchronous        = "NORMAL"
	DefaultMaxBatch           = 256
	DefaultMaxActionAge       = ReplayWindow + replayGrace
	DefaultCheckpointInterval = 100 * time.Millisecond
	DefaultBusyTimeout        = 5 * time.Second
)

// ReplayWindow is how long after queueing an action a client may still
// send it (protocol.md §2: "at least 30 days"); clients drop older queued
// actions instead of sending them.
const ReplayWindow = 30 * 24 * time.Hour

// replayGrace is kept beyond ReplayWindow because a client measures its
// window on its own clock from when it queued the action, while the server
// measures from when it applied it: a day covers client clocks that run
// behind.
const replayGrace = 24 * time.Hour

// MaxActionIDLen is the longest action id, in bytes, that Commit accepts
// (protocol.md §2: ids are opaque strings of at most 64 bytes).
const MaxActionIDLen = 64

const (
	// probeInterval is how often the writer tries a probe transaction
	// while the last one failed, so that Healthy recovers without waiting
	// for a player's action (a load balancer sends none to an unready
	// node).
	probeInterval = time.Second
	// queueFactor sizes the commit queue: MaxBatch*queueFactor requests
	// may wait for the writer before Commit blocks on enqueueing.
	queueFactor = 4
	// maxReaders bounds the read connection pool.
	maxReaders = 8
	// restartFrames is the WAL size, in pages, at which the checkpointer
	// asks the writer to start the WAL over: SQLite's own autocheckpoint
	// threshold.
	restartFrames = 1000
	// walSizeLimit is what a WAL file is cut back to, in bytes, when it
	// starts over after a burst made it larger.
	walSizeLimit = 16 << 20
	// sweepInterval is how often the writer deletes expired action records
	// of all users, and sweepLimit how many it deletes at most per sweep,
	// so that a sweep never holds the write lock for long (commits wait
	// meanwhile). 2000 a minute is about 2.9 million a day.
	sweepInterval = time.Minute
	sweepLimit    = 2000
	// sweepBacklogInterval is the sweep interval while sweeps find more
	// than sweepLimit expired records: up to 2000 a second.
	sweepBacklogInterval = time.Second
)

var (
	// ErrClosed is returned by every method called after Close has begun.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid is wrapped by the error Commit returns for a malformed
	// Commit (empty user id, bad action id, ...); nothing was written.
	ErrInvalid = errors.New("store: invalid commit")
	// ErrConflict is wrapped by the error Commit returns when a
	// conditional commit (Commit.Expect) finds the stored garden at
	// another version than expected: another writer (another process on
	// the same database) committed first. Nothing of the commit was
	// written; the caller reloads the garden and computes again.
	ErrConflict = errors.New("store: conflict: the garden changed since it was loaded")
)

// KnownActionError is the error Commit returns for a conditional commit
// (Commit.Expect) that carries an action id already recorded: the commit
// inserts its records first and, when one is known, writes nothing (no
// garden, no record, no version check: a known id wins over a conflict).
// Record is the stored record of that id, read in the same transaction.
// Match it with errors.As. Unconditional commits keep the first record of
// a known id and write the rest.
type KnownActionError struct {
	Record ActionRecord
}

func (e *KnownActionError) Error() string {
	return fmt.Sprintf("store: commit: action %s/%s already recorded", e.Record.UserID, e.Record.ActionID)
}

// Config configures Open. A zero field means the documented default.
type Config struct {
	// Path is the SQLite database file (protocol.md §11 DB_PATH). Its parent
	// directories are created with mode 0o755. Required.
	Path string
	// Logger receives batch failures and pruning at Debug/Warn level.
	// Nil discards.
	Logger *slog.Logger
	// Synchronous is the SQLite synchronous mode, "NORMAL" (default) or
	// "FULL". In WAL mode NORMAL makes a commit survive a process crash
	// (kill -9) but not power loss; FULL fsyncs every commit and survives
	// both.
	Synchronous string
	// MaxBatch is the most commits written in one transaction. Default 256.
	MaxBatch int
	// MaxActionAge is how long dedup records are kept, measured from
	// ActionRecord.At; older ones are deleted. Default
	// DefaultMaxActionAge (31 days): protocol.md §2 answers a replayed id with
	// its original result for at least 30 days, and clients do not replay
	// actions queued longer ago than ReplayWindow. Records are bounded
	// by age only, never by count, so that a busy player's old id is not
	// forgotten early (issue 11 item 3).
	MaxActionAge time.Duration
	// Clock supplies the time stamped on records whose At/UpdatedAt is zero
	// and the "now" that MaxActionAge is measured from. Nil means time.Now.
	Clock func() time.Time
	// BusyTimeout is how long a connection waits for a lock held by
	// another connection (a reader during a checkpoint, another process)
	// before failing with SQLITE_BUSY. Default 5s; at least 1ms.
	BusyTimeout time.Duration
	// CheckpointInterval is how often the checkpointer copies the WAL into
	// the database file. Default 100ms: the WAL grows by what is written
	// in between (about 5 MB at 2 000 commits/s).
	CheckpointInterval time.Duration
	// ObserveCheckpoint, if not nil, is called after each checkpoint with
	// its mode ("passive" from the checkpointer, "restart" from the writer)
	// and how long it took. It must be fast and must not call the store.
	ObserveCheckpoint func(mode string, d time.Duration)
	// Observe, if not nil, is called by the writer goroutine after each
	// durable transaction with the number of commits it held and the time
	// the transaction took (for a latency histogram). It must be fast and
	// must not call the store.
	Observe func(batchSize int, d time.Duration)
}

// withDefaults validates cfg and returns a copy with zero fields filled.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Path == "" {
		return cfg, errors.New("store: config: Path is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch s := strings.ToUpper(cfg.Synchronous); s {
	case "":
		cfg.Synchronous = DefaultSynchronous
	case "NORMAL", "FULL":
		cfg.Synchronous = s
	default:
		return cfg, fmt.Errorf("store: config: Synchronous %q: want NORMAL or FULL", cfg.Synchronous)
	}
	errs := []error{
		orDefault("MaxBatch", &cfg.MaxBatch, DefaultMaxBatch),
		orDefault("MaxActionAge", &cfg.MaxActionAge, DefaultMaxActionAge),
		orDefault("CheckpointInterval", &cfg.CheckpointInterval, DefaultCheckpointInterval),
		orDefault("BusyTimeout", &cfg.BusyTimeout, DefaultBusyTimeout),
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.BusyTimeout < time.Millisecond {
		return cfg, fmt.Errorf("store: config: BusyTimeout %v is under 1ms", cfg.BusyTimeout)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return cfg, nil
}

// orDefault sets a zero *v to def; a negative one is an error naming the
// field.
func orDefault[T int | time.Duration](name string, v *T, def T) error {
	switch {
	case *v < 0:
		return fmt.Errorf("store: config: %s %v is negative", name, *v)
	case *v == 0:
		*v = def
	}
	return nil
}

// Garden is one user's persisted state.
type Garden struct {
	UserID string
	// Version increases with every change; the store never replaces a
	// stored garden by one with a lower or equal version. At most
	// math.MaxInt64.
	Version uint64
	// State is the JSON game state, stored verbatim (not validated). In a
	// Commit, nil means "no garden change".
	State []byte
	// UpdatedAt is when the state was produced; zero in a Commit means
	// Config.Clock() at write time.
	UpdatedAt time.Time
}

// ActionRecord is a dedup record: the encoded result of one client action.
type ActionRecord struct {
	UserID string
	// ActionID is the client's idempotency key, 1 to MaxActionIDLen bytes.
	ActionID string
	// Result is the encoded result (JSON, opaque to the store); not empty.
	Result []byte
	// At is when the action was applied; zero in a Commit means
	// Config.Clock() at write time. Pruning by age and order use it.
	At time.Time
}

// Commit is one unit that becomes durable atomically: an optional garden
// write (Garden nil or Garden.State nil = no garden change) plus action
// records. The store does not keep references to its slices after
// SQLite.Commit returns.
type Commit struct {
	Garden  *Garden
	Actions []ActionRecord
	// Expect, if not nil, makes the commit conditional (optimistic
	// concurrency between processes sharing one database): it is written
	// only if the stored garden of Expect.UserID is still at
	// Expect.Version, else Commit returns an error wrapping ErrConflict
	// and writes nothing. A conditional commit one of whose action ids is
	// already recorded writes nothing either and returns a
	// *KnownActionError with that record (checked before the version). A conditional garden write replaces the stored
	// garden whatever its version (the condition already orders them);
	// an unconditional one never replaces a newer version.
	Expect *Expect
}

// Expect is the condition of a conditional Commit.
type Expect struct {
	UserID string
	// Version is the stored version the commit was computed from; 0 means
	// "no garden stored yet" (the garden write is then an insert).
	Version uint64
}

// hasGarden reports whether c writes a garden.
func (c *Commit) hasGarden() bool { return c.Garden != nil && c.Garden.State != nil }

// validate reports a malformed commit, wrapping ErrInvalid.
func (c *Commit) validate() error {
	if e := c.Expect; e != nil {
		switch {
		case e.UserID == "":
			return fmt.Errorf("%w: condition without user id", ErrInvalid)
		case e.Version > math.MaxInt64:
			return fmt.Errorf("%w: condition on %s: version %d exceeds %d", ErrInvalid, e.UserID, e.Version, int64(math.MaxInt64))
		case c.hasGarden() && c.Garden.UserID != e.UserID:
			return fmt.Errorf("%w: condition on %s but garden of %s", ErrInvalid, e.UserID, c.Garden.UserID)
		case c.hasGarden() && c.Garden.Version < e.Version:
			return fmt.Errorf("%w: garden %s: version %d older than its base %d", ErrInvalid, e.UserID, c.Garden.Version, e.Version)
		}
	}
	if c.hasGarden() {
		switch g := c.Garden; {
		case g.UserID == "":
			return fmt.Errorf("%w: garden without user id", ErrInvalid)
		case g.Version > math.MaxInt64:
			return fmt.Errorf("%w: garden %s: version %d exceeds %d", ErrInvalid, g.UserID, g.Version, int64(math.MaxInt64))
		}
	}
	for i := range c.Actions {
		a := &c.Actions[i]
		switch {
		case a.UserID == "":
			return fmt.Errorf("%w: action %q without user id", ErrInvalid, a.ActionID)
		case a.ActionID == "" || len(a.ActionID) > MaxActionIDLen:
			return fmt.Errorf("%w: user %s: action id length %d not in 1..%d", ErrInvalid, a.UserID, len(a.ActionID), MaxActionIDLen)
		case len(a.Result) == 0:
			return fmt.Errorf("%w: user %s: action %s: empty result", ErrInvalid, a.UserID, a.ActionID)
		}
	}
	return nil
}

// SQLite is the store. Create it with Open; all methods are safe for
// concurrent use. It owns a writer goroutine and a checkpointer goroutine,
// which Close stops.
//
// The writer does not checkpoint inside commits: SQLite's automatic
// checkpoint runs inside the commit that crosses 1000 WAL pages, with an
// fsync, and held every commit queued behind it. The checkpointer copies the WAL into the
// database file from a connection of its own every CheckpointInterval,
// beside the writer (PASSIVE: it waits for no one and no one waits for
// it). A passive checkpoint never lets a busy writer start the WAL over,
// so the file would grow without end.
// Once the WAL holds restartFrames pages the checkpointer asks the writer,
// which runs a RESTART checkpoint between two batches: only the pages
// written since the passive one are left to copy, and the next commit
// starts the WAL from its beginning. Run from the checkpointer instead, a
// RESTART waits for the writer's lock, which a writer that always has
// work takes back first, and the WAL grows anyway. (The figures behind
// each of these choices: docs/performance.md, "Figures behind code
// comments".)
type SQLite struct {
	cfg Config
	log *slog.Logger

	w  *sql.DB // the writer connection, MaxOpenConns 1, used only by run
	r  *sql.DB // read-only pool
	ck *sql.DB // the checkpointer's connection, used only by checkpoints

	ws writeStmts // prepared on w, used only by the writer goroutine
	b  *batcher   // the writer goroutine's state
	rs readStmts  // prepared on r

	// mu orders enqueueing against Close: Commit holds it shared while it
	// sends on reqs, Close sets closing under the exclusive lock, so once
	// Close holds it no send can follow and the writer's final drain of
	// reqs is complete.
	mu      sync.RWMutex
	closing atomic.Bool
	reqs    chan *request
	quit    chan struct{} // closed by Close: drain reqs and exit
	done    chan struct{} // closed by the writer goroutine when it exits
	ckDone  chan struct{} // closed by the checkpointer goroutine when it exits
	restart atomic.Bool   // the checkpointer asks the writer to start the WAL over

	// health is the outcome of the writer's most recent transaction (a
	// batch of commits or a probe); see Healthy.
	health health

	closeOnce sync.Once
	closeErr  error

	// onEnqueue, if set by tests before the first Commit, is called after
	// a request is queued.
	onEnqueue func()
}

// Open opens (creating if needed) the database at cfg.Path, migrates its
// schema, deletes expired action records and starts the writer goroutine.
// ctx bounds only the opening work. The caller must Close the store.
func Open(ctx context.Context, cfg Config) (*SQLite, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("store: open %s: create directory: %w", cfg.Path, err)
	}
	if err := checkFile(cfg.Path); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	s := &SQLite{
		cfg:    cfg,
		log:    cfg.Logger,
		b:      newBatcher(cfg.MaxBatch),
		reqs:   make(chan *request, cfg.MaxBatch*queueFactor),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		ckDone: make(chan struct{}),
	}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	go s.run()
	go s.checkpoints()
	return s, nil
}

// open connects both pools, checks the file, migrates and prepares
// statements. On error the caller closes whatever was opened.
func (s *SQLite) open(ctx context.Context) error {
	// busy_timeout goes first so that the journal_mode change cannot fail
	// with SQLITE_BUSY while another connection holds a lock; the driver
	// also sorts it first. WAL is persistent in the file, so readers only
	// need busy_timeout, and query_only guards them against writes.
	w, err := sql.Open("sqlite", dsn(s.cfg.Path,
		"_txlock=immediate",
		pragma("busy_timeout", s.cfg.BusyTimeout.Milliseconds()),
		pragma("journal_mode", "WAL"),
		pragma("synchronous", s.cfg.Synchronous),
		pragma("wal_autocheckpoint", 0), // the checkpointer's job
		pragma("journal_size_limit", walSizeLimit),
	))
	if err != nil {
		return err
	}
	s.w = w
	// Every write is serialised through one connection, and its prepared
	// statements stay valid.
	oneConn(w)

	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	if err := migrate(ctx, w); err != nil {
		return err
	}

	ck, err := sql.Open("sqlite", dsn(s.cfg.Path,
		pragma("busy_timeout", s.cfg.BusyTimeout.Milliseconds()),
		pragma("synchronous", s.cfg.Synchronous),
		pragma("journal_size_limit", walSizeLimit),
	))
	if err != nil {
		return err
	}
	s.ck = ck
	oneConn(ck)
	if err := ck.PingContext(ctx); err != nil {
		return err
	}

	r, err := sql.Open("sqlite", dsn(s.cfg.Path,
		pragma("busy_timeout", s.cfg.BusyTimeout.Milliseconds()),
		pragma("query_only", 1),
	))
	if err != nil {
		return err
	}
	s.r = r
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		return err
	}

	if err := s.ws.prepare(ctx, w); err != nil {
		return err
	}
	if err := s.rs.prepare(ctx, r); err != nil {
		return err
	}
	// Records that expired while the server was down; the writer goroutine
	// then sweeps every sweepInterval.
	for {
		n, err := s.sweep(ctx)
		if err != nil {
			return err
		}
		if n < sweepLimit {
			return nil
		}
	}
}

// sqliteHeader starts every SQLite database file (the "magic header
// string" of the file format).
const sqliteHeader = "SQLite format 3\x00"

// ErrNotDatabase is wrapped by the error Open returns when the file at
// Config.Path exists but is not an SQLite database.
var ErrNotDatabase = errors.New("not an SQLite database")

// checkFile refuses an existing file at path that does not start with the
// SQLite header, whatever its size. SQLite itself treats an empty file as
// a new database and may rewrite a short one, and the file may be an
// operator's mistake (a wrong DB_PATH) that must not be overwritten. A
// missing file is fine: Open creates it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file (%s); refusing to use it", ErrNotDatabase, fi.Mode().Type())
	}
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check file: %w", err)
	}
	if string(head[:n]) != sqliteHeader {
		return fmt.Errorf("%w: the existing file (%d bytes) lacks the SQLite header; refusing to overwrite it: move it away or fix DB_PATH", ErrNotDatabase, fi.Size())
	}
	return nil
}

// oneConn makes db a single connection that never expires.
func oneConn(db *sql.DB) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
}

// dsn builds a modernc file: URI for path with the given query parameters.
// The path is percent-escaped, so '?' or '#' in it are not taken as URI
// syntax.
func dsn(path string, params ...string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: strings.Join(params, "&")}
	return u.String()
}

func pragma(name string, value any) string {
	return fmt.Sprintf("_pragma=%s(%v)", name, value)
}

// Commit makes c durable. It blocks until c's transaction has committed or
// failed and is safe for concurrent use; concurrent commits are written
// together in one transaction (group commit).
//
// If ctx ends before the writer has taken c, Commit returns ctx.Err() and c
// is not written; once taken, c is committed and Commit waits for it
// whatever ctx does. A Commit with nothing to write returns nil at once.
// After Close has begun Commit returns ErrClosed.
func (s *SQLite) Commit(ctx context.Context, c Commit) error {
	if err := c.validate(); err != nil {
		return err
	}
	if s.closing.Load() {
		return ErrClosed
	}
	if !c.hasGarden() && len(c.Actions) == 0 && c.Expect == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{c: c, done: make(chan error, 1)}
	if err := s.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		return <-r.done // the writer has it: wait for the outcome
	}
}

// enqueue hands r to the writer goroutine.
func (s *SQLite) enqueue(ctx context.Context, r *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closing.Load() {
		return ErrClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.onEnqueue != nil {
		s.onEnqueue()
	}
	return nil
}

// LoadGarden returns userID's garden; ok is false if none was ever stored.
func (s *SQLite) LoadGarden(ctx context.Context, userID string) (g Garden, ok bool, err error) {
	if s.closing.Load() {
		return Garden{}, false, ErrClosed
	}
	var version, updated int64
	var state []byte
	err = s.rs.garden.QueryRowContext(ctx, userID).Scan(&version, &state, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Garden{}, false, nil
	case err != nil:
		return Garden{}, false, fmt.Errorf("store: load garden %s: %w", userID, err)
	}
	return Garden{UserID: userID, Version: uint64(version), State: state, UpdatedAt: fromNanos(updated)}, true, nil
}

// Versions returns the stored version of each of userIDs that has a
// stored garden (a user without one is absent from the map), in one query
// per versionsChunk ids: the cross-node reconciliation asks it every few
// seconds for every garden a node serves.
func (s *SQLite) Versions(ctx context.Context, userIDs []string) (map[string]uint64, error) {
	if s.closing.Load() {
		return nil, ErrClosed
	}
	out := make(map[string]uint64, len(userIDs))
	for chunk := range slices.Chunk(userIDs, versionsChunk) {
		ids, err := json.Marshal(chunk)
		if err != nil {
			return nil, fmt.Errorf("store: versions: %w", err)
		}
		rows, err := s.r.QueryContext(ctx, `SELECT user_id, version FROM gardens WHERE user_id IN (SELECT value FROM json_each(?1))`, string(ids))
		if err != nil {
			return nil, fmt.Errorf("store: versions: %w", err)
		}
		err = scanVersions(rows, out)
		if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("store: versions: %w", err)
		}
	}
	return out, nil
}

// versionRows is what Versions reads of database/sql's and pgx's rows.
type versionRows interface {
	Next() bool
	Scan(dest ...any) error
}

// scanVersions adds (user_id, version) rows to out, stopping at the first
// error; the caller closes the rows and checks their Err.
func scanVersions(rows versionRows, out map[string]uint64) error {
	for rows.Next() {
		var id string
		var v int64
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		out[id] = uint64(v)
	}
	return nil
}

// versionsChunk bounds the ids of one Versions query (PostgreSQL's
// parameter array and SQLite's JSON text grow with it).
const versionsChunk = 10000

// LoadActions returns all of userID's dedup records, oldest first (newest
// last): up to MaxActionAge of that user's actions, which for an active
// player is tens of thousands. For tests and tools; the garden reads none:
// its commit reports a known id (KnownActionError).
func (s *SQLite) LoadActions(ctx context.Context, userID string) ([]ActionRecord, error) {
	if s.closing.Load() {
		return nil, ErrClosed
	}
	rows, err := s.rs.actions.QueryContext(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("store: load actions %s: %w", userID, err)
	}
	defer rows.Close()
	var out []ActionRecord
	for rows.Next() {
		a := ActionRecord{UserID: userID}
		var at int64
		if err := rows.Scan(&a.ActionID, &a.Result, &at); err != nil {
			return nil, fmt.Errorf("store: load actions %s: %w", userID, err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load actions %s: %w", userID, err)
	}
	return out, nil
}

// LookupAction returns the dedup record of (userID, actionID); ok is false
// if there is none (never recorded, or pruned).
func (s *SQLite) LookupAction(ctx context.Context, userID, actionID string) (ActionRecord, bool, error) {
	if s.closing.Load() {
		return ActionRecord{}, false, ErrClosed
	}
	a := ActionRecord{UserID: userID, ActionID: actionID}
	var at int64
	err := s.rs.action.QueryRowContext(ctx, userID, actionID).Scan(&a.Result, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ActionRecord{}, false, nil
	case err != nil:
		return ActionRecord{}, false, fmt.Errorf("store: lookup action %s/%s: %w", userID, actionID, err)
	}
	a.At = fromNanos(at)
	return a, true, nil
}

// Healthy returns nil while the store can commit: when the writer's most
// recent transaction committed. After a failure (disk full, I/O error,
// the write lock held by another process beyond BusyTimeout) it returns
// that failure until a transaction commits again: the next batch of
// commits, or the probe transaction the writer tries every second while
// unhealthy, so that health comes back by itself (for /readyz, protocol.md
// §11: not ready while it cannot commit). It does no I/O.
func (s *SQLite) Healthy() error {
	if s.closing.Load() {
		return ErrClosed
	}
	return s.health.err()
}

// setHealth records the outcome of the writer's latest transaction.
func (s *SQLite) setHealth(err error) { s.health.set(s.log, err) }

// Ping reports whether the database file can be read (for /readyz,
// protocol.md §11).
func (s *SQLite) Ping(ctx context.Context) error {
	if s.closing.Load() {
		return ErrClosed
	}
	var v int
	if err := s.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops accepting commits, lets the writer commit everything already
// queued (those Commits succeed), stops the writer goroutine and waits for
// it, checkpoints the WAL into the main file (so the file alone is a
// complete backup) and closes the database. It is idempotent: later calls
// wait for the first and return its result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing.Store(true)
		s.mu.Unlock()
		close(s.quit)
		<-s.done
		<-s.ckDone
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// closeDBs closes the readers, checkpoints and closes the writer. It
// tolerates a partly opened store.
func (s *SQLite) closeDBs() error {
	var errs []error
	s.rs.close()
	if s.r != nil {
		// Readers first: an open read transaction would keep the
		// checkpoint from truncating the WAL.
		if err := s.r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close readers: %w", err))
		}
	}
	if s.ck != nil {
		if err := s.ck.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpointer: %w", err))
		}
	}
	s.ws.close()
	if s.w != nil {
		if _, err := checkpoint(s.w, "TRUNCATE"); err != nil {
			errs = append(errs, err)
		}
		if err := s.w.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", s.cfg.Path, err)
	}
	return nil
}

// checkpoints is the checkpointer goroutine: a passive checkpoint every
// CheckpointInterval until Close, and a request to the writer to restart
// the WAL once it holds restartFrames pages.
func (s *SQLite) checkpoints() {
	defer close(s.ckDone)
	t := time.NewTicker(s.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return // Close checkpoints in full after the writer's last commit
		case <-t.C:
			logFrames, err := s.observedCheckpoint(s.ck, "PASSIVE")
			switch {
			case err != nil:
				s.log.Warn("store: checkpoint failed", "error", err)
			case logFrames >= restartFrames:
				s.restart.Store(true)
			}
		}
	}
}

// restartWAL runs on the writer goroutine between batches when the
// checkpointer asked for it.
func (s *SQLite) restartWAL() {
	if !s.restart.Swap(false) {
		return
	}
	if _, err := s.observedCheckpoint(s.w, "RESTART"); err != nil {
		s.log.Warn("store: checkpoint failed", "error", err)
	}
}

// observedCheckpoint runs checkpoint and reports its duration to
// Config.ObserveCheckpoint.
func (s *SQLite) observedCheckpoint(db *sql.DB, mode string) (logFrames int, err error) {
	start := time.Now()
	logFrames, err = checkpoint(db, mode)
	if err == nil && s.cfg.ObserveCheckpoint != nil {
		s.cfg.ObserveCheckpoint(strings.ToLower(mode), time.Since(start))
	}
	return logFrames, err
}

// checkpoint runs a checkpoint of mode (a constant of ours: PASSIVE,
// RESTART, TRUNCATE) on db and returns the WAL's size in pages. A
// checkpoint other than PASSIVE that could not finish is an error.
func checkpoint(db *sql.DB, mode string) (logFrames int, err error) {
	var busy, done int
	err = db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done)
	switch {
	case err != nil:
		return 0, fmt.Errorf("checkpoint %s: %w", mode, err)
	case busy != 0 && mode != "PASSIVE":
		return logFrames, fmt.Errorf("checkpoint %s: blocked by another connection (%d of %d frames copied)", mode, done, logFrames)
	}
	return logFrames, nil
}

func toNanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
