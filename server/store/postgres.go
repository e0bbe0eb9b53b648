package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// dialTimeout bounds one connection attempt when the URL sets no
// connect_timeout.
const dialTimeout = 5 * time.Second

// Defaults of PostgresConfig used when the matching field is zero.
const (
	DefaultPoolSize         = 16
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 30 * time.Second
)

// PostgresConfig configures OpenPostgres. A zero field means the
// documented default.
type PostgresConfig struct {
	// URL is a postgres:// or postgresql:// connection URL (DATABASE_URL).
	// Required.
	URL string
	// Logger receives failures and recoveries. Nil discards.
	Logger *slog.Logger
	// PoolSize is the most connections open at once. Default 16.
	PoolSize int
	// StatementTimeout bounds every statement on the server
	// (statement_timeout). Default 5s.
	StatementTimeout time.Duration
	// ConnectTimeout is how long OpenPostgres keeps trying to reach the
	// database (with backoff) before giving up: a database that starts
	// with the server is waited for. Default 30s.
	ConnectTimeout time.Duration
	// MaxActionAge, Clock and Observe mean what they mean in Config.
	// Observe is called with a batch size of 1: every commit is its own
	// transaction.
	MaxActionAge time.Duration
	Clock        func() time.Time
	Observe      func(batchSize int, d time.Duration)
}

func (cfg PostgresConfig) withDefaults() (PostgresConfig, error) {
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL may hold a password: never echo it.
		return cfg, errors.New("store: config: URL must be a postgres:// or postgresql:// URL")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	errs := []error{
		orDefault("PoolSize", &cfg.PoolSize, DefaultPoolSize),
		orDefault("StatementTimeout", &cfg.StatementTimeout, DefaultStatementTimeout),
		orDefault("ConnectTimeout", &cfg.ConnectTimeout, DefaultConnectTimeout),
		orDefault("MaxActionAge", &cfg.MaxActionAge, DefaultMaxActionAge),
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if cfg.StatementTimeout < time.Millisecond {
		return cfg, fmt.Errorf("store: config: StatementTimeout %v is under 1ms", cfg.StatementTimeout)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return cfg, nil
}

// Postgres is the store on a PostgreSQL database, for operators who run
// one and for several nodes sharing it. Create it with OpenPostgres; all
// methods are safe for concurrent use. It keeps SQLite's guarantees: a
// Commit is one transaction, committed with synchronous_commit on before
// Commit returns nil; an action id keeps its first record; records are
// kept by age (MaxActionAge) only; conditional commits (Commit.Expect)
// detect another node's write. It owns one maintenance goroutine (the
// sweep of expired records, the health probe), which Close stops.
type Postgres struct {
	cfg  PostgresConfig
	log  *slog.Logger
	pool *pgxpool.Pool

	// mu orders Commit against Close: a Commit registers in inflight under
	// the shared lock, Close sets closing under the exclusive one and then
	// waits for inflight, so no commit is cut off by Close.
	mu       sync.RWMutex
	closing  atomic.Bool
	inflight sync.WaitGroup

	health health // see Healthy

	// stop ends the maintenance goroutine (and its work in flight); done
	// is closed when it has exited.
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// OpenPostgres connects to cfg.URL (retrying for up to ConnectTimeout),
// migrates the schema (refusing a newer one, ErrSchemaTooNew), deletes
// expired action records and starts the maintenance goroutine. ctx bounds
// only the opening work. The caller must Close the store.
func OpenPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, errors.New("store: open postgres: cannot parse the URL") // may hold a password
	}
	pc.MaxConns = int32(min(cfg.PoolSize, 1<<20))
	rp := pc.ConnConfig.RuntimeParams
	// A commit is durable (flushed to the WAL, and to synchronous standbys
	// if the operator has any) when COMMIT returns, whatever the
	// database's default.
	rp["synchronous_commit"] = "on"
	rp["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	rp["application_name"] = "cosmic-server"
	if pc.ConnConfig.ConnectTimeout == 0 { // the URL's connect_timeout wins
		// A database behind a silent network must not hold a commit on
		// a connect forever.
		pc.ConnConfig.ConnectTimeout = dialTimeout
	}
	p := &Postgres{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	if p.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := p.open(ctx); err != nil {
		p.pool.Close()
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	mctx, stop := context.WithCancel(context.Background())
	p.stop = stop
	go p.maintain(mctx)
	return p, nil
}

func (p *Postgres) open(ctx context.Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	if err := p.migrate(ctx); err != nil {
		return err
	}
	for {
		n, err := p.sweep(ctx)
		if err != nil {
			return err
		}
		if n < sweepLimit {
			return nil
		}
	}
}

// connect pings until the database answers or ConnectTimeout passes,
// with capped, jittered backoff.
func (p *Postgres) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		err := p.pool.Ping(ctx)
		if err == nil {
			return nil
		}
		p.log.Warn("store: database unreachable, retrying", "error", err)
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("connect (gave up after %v): %w", p.cfg.ConnectTimeout, err)
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// migrate applies the PostgreSQL migrations under an advisory lock
// (several nodes may start at once) and refuses a newer schema.
func (p *Postgres) migrate(ctx context.Context) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(p.pool)
	defer db.Close()
	if _, err := gooseUp(ctx, goose.DialectPostgres, db, "migrations/postgres", goose.WithSessionLocker(locker)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// maintain is the maintenance goroutine: it sweeps expired records every
// sweepInterval (every sweepBacklogInterval while sweeps find more than
// sweepLimit) and, while commits fail, probes every probeInterval so that
// Healthy recovers without traffic.
func (p *Postgres) maintain(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	probe := time.NewTicker(probeInterval)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-probe.C:
			if p.health.failing() {
				p.setHealth(p.probe(ctx))
			}
		case <-t.C:
			n, err := p.sweep(ctx)
			if err != nil {
				p.log.Warn("store: sweep failed", "error", err)
			}
			if n >= sweepLimit {
				t.Reset(sweepBacklogInterval)
			} else {
				t.Reset(sweepInterval)
			}
		}
	}
}

// probe commits a transaction that takes a transaction id (so COMMIT
// writes and flushes WAL, and fails on a read-only standby) and changes no
// data.
func (p *Postgres) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StatementTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT pg_current_xact_id()")
		return err
	})
}

// sweep deletes up to sweepLimit records of any user older than
// MaxActionAge.
func (p *Postgres) sweep(ctx context.Context) (int64, error) {
	cutoff := toNanos(p.cfg.Clock().Add(-p.cfg.MaxActionAge))
	tag, err := p.pool.Exec(ctx, `DELETE FROM actions WHERE ctid IN (
		SELECT ctid FROM actions WHERE at < $1 ORDER BY at LIMIT $2)`, cutoff, sweepLimit)
	if err != nil {
		return 0, fmt.Errorf("sweep expired actions: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		p.log.Debug("store: swept expired actions", "deleted", n)
	}
	return tag.RowsAffected(), nil
}

// Commit makes c durable in one transaction and returns nil once it has
// committed. A conditional commit (c.Expect) whose condition does not hold
// returns an error wrapping ErrConflict and writes nothing. If ctx ends
// first the transaction is rolled back (or, if COMMIT was sent, its
// outcome is unknown: the error says so and a retry with the same action
// id is answered from the record if it did commit). Commit also gives up
// by itself after dialTimeout + 2 × StatementTimeout (15s by default),
// with the same unknown outcome. After Close has begun Commit returns
// ErrClosed.
func (p *Postgres) Commit(ctx context.Context, c Commit) (err error) {
	if err := c.validate(); err != nil {
		return err
	}
	if !c.hasGarden() && len(c.Actions) == 0 && c.Expect == nil {
		if p.closing.Load() {
			return ErrClosed
		}
		return nil
	}
	p.mu.RLock()
	if p.closing.Load() {
		p.mu.RUnlock()
		return ErrClosed
	}
	p.inflight.Add(1)
	p.mu.RUnlock()
	defer p.inflight.Done()

	start := time.Now()
	conflict := false
	var known *ActionRecord
	// The garden commits with a context that never ends (a client going
	// away must not cut a commit short); bound it here so that a silent
	// network cannot hold an action forever: a connect, the statements
	// (each bounded by statement_timeout on the server) and COMMIT. On
	// this deadline the outcome may be unknown; the caller answers an
	// error and the client's retry with the same id finds the record if
	// it did commit.
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+2*p.cfg.StatementTimeout)
	defer cancel()
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		ok, rec, err := p.write(ctx, tx, &c)
		if err != nil {
			return err
		}
		if rec != nil {
			known = rec
			return errRollback
		}
		if !ok {
			conflict = true
			return errRollback
		}
		return nil
	})
	switch {
	case known != nil:
		return &KnownActionError{Record: *known}
	case conflict:
		return fmt.Errorf("store: commit: %w", ErrConflict)
	case err != nil:
		if caller.Err() == nil { // not the caller giving up: the database failed
			p.setHealth(err)
		}
		return fmt.Errorf("store: commit: %w", err)
	}
	p.setHealth(nil)
	if p.cfg.Observe != nil {
		p.cfg.Observe(1, time.Since(start))
	}
	return nil
}

// errRollback makes pgx.BeginFunc roll back a conflicting commit.
var errRollback = errors.New("rollback")

// write writes c in tx; ok is false when c.Expect does not hold, known is
// the stored record when a conditional commit carries a recorded id (in
// both cases the caller rolls back: nothing is written). A conditional
// commit inserts its records first, so that a known id is found by the
// insert's own uniqueness check (no read for a new action) and wins over
// a conflict.
func (p *Postgres) write(ctx context.Context, tx pgx.Tx, c *Commit) (ok bool, known *ActionRecord, err error) {
	now := p.cfg.Clock()
	nowNS := toNanos(now)
	users := map[string]struct{}{}
	insertActions := func() (*ActionRecord, error) {
		for i := range c.Actions {
			a := &c.Actions[i]
			tag, err := tx.Exec(ctx, `INSERT INTO actions (user_id, action_id, result, at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id, action_id) DO NOTHING`, a.UserID, a.ActionID, a.Result, nanosOr(a.At, nowNS))
			if err != nil {
				return nil, fmt.Errorf("write action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			users[a.UserID] = struct{}{}
			if tag.RowsAffected() == 1 || c.Expect == nil {
				continue
			}
			rec := ActionRecord{UserID: a.UserID, ActionID: a.ActionID}
			var at int64
			if err := tx.QueryRow(ctx, `SELECT result, at FROM actions WHERE user_id = $1 AND action_id = $2`,
				a.UserID, a.ActionID).Scan(&rec.Result, &at); err != nil {
				return nil, fmt.Errorf("read known action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			rec.At = fromNanos(at)
			return &rec, nil
		}
		return nil, nil
	}
	if e := c.Expect; e != nil {
		if known, err := insertActions(); err != nil || known != nil {
			return false, known, err
		}
		var tag pgconn.CommandTag
		switch {
		case !c.hasGarden():
			// FOR SHARE: a concurrent conditional write of this garden
			// waits for us or we for it, so the check holds until COMMIT.
			var v int64
			err := tx.QueryRow(ctx, `SELECT version FROM gardens WHERE user_id = $1 FOR SHARE`, e.UserID).Scan(&v)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				if e.Version != 0 {
					return false, nil, nil
				}
			case err != nil:
				return false, nil, fmt.Errorf("check garden %s: %w", e.UserID, err)
			case uint64(v) != e.Version:
				return false, nil, nil
			}
		case e.Version == 0:
			tag, err = tx.Exec(ctx, `INSERT INTO gardens (user_id, version, state, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (user_id) DO NOTHING`, c.Garden.UserID, int64(c.Garden.Version), c.Garden.State, nanosOr(c.Garden.UpdatedAt, nowNS))
		default:
			tag, err = tx.Exec(ctx, `UPDATE gardens SET version = $2, state = $3, updated_at = $4 WHERE user_id = $1 AND version = $5`,
				c.Garden.UserID, int64(c.Garden.Version), c.Garden.State, nanosOr(c.Garden.UpdatedAt, nowNS), int64(e.Version))
		}
		if err != nil {
			return false, nil, fmt.Errorf("write garden %s: %w", e.UserID, err)
		}
		if c.hasGarden() && tag.RowsAffected() != 1 {
			return false, nil, nil
		}
	} else if c.hasGarden() {
		g := c.Garden
		if _, err := tx.Exec(ctx, `INSERT INTO gardens (user_id, version, state, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, state = excluded.state, updated_at = excluded.updated_at
			WHERE excluded.version > gardens.version`, g.UserID, int64(g.Version), g.State, nanosOr(g.UpdatedAt, nowNS)); err != nil {
			return false, nil, fmt.Errorf("write garden %s: %w", g.UserID, err)
		}
	}
	if c.Expect == nil {
		if _, err := insertActions(); err != nil {
			return false, nil, err
		}
	}
	cutoff := toNanos(now.Add(-p.cfg.MaxActionAge))
	for u := range users {
		if _, err := tx.Exec(ctx, `DELETE FROM actions WHERE user_id = $1 AND at < $2`, u, cutoff); err != nil {
			return false, nil, fmt.Errorf("prune expired actions of %s: %w", u, err)
		}
	}
	return true, nil, nil
}

// LoadGarden returns userID's garden; ok is false if none was ever stored.
func (p *Postgres) LoadGarden(ctx context.Context, userID string) (g Garden, ok bool, err error) {
	if p.closing.Load() {
		return Garden{}, false, ErrClosed
	}
	var version, updated int64
	var state []byte
	err = p.pool.QueryRow(ctx, `SELECT version, state, updated_at FROM gardens WHERE user_id = $1`, userID).Scan(&version, &state, &updated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Garden{}, false, nil
	case err != nil:
		return Garden{}, false, fmt.Errorf("store: load garden %s: %w", userID, err)
	}
	return Garden{UserID: userID, Version: uint64(version), State: state, UpdatedAt: fromNanos(updated)}, true, nil
}

// Versions returns the stored version of each of userIDs that has a
// stored garden (a user without one is absent from the map), in one query
// per versionsChunk ids.
func (p *Postgres) Versions(ctx context.Context, userIDs []string) (map[string]uint64, error) {
	if p.closing.Load() {
		return nil, ErrClosed
	}
	out := make(map[string]uint64, len(userIDs))
	for chunk := range slices.Chunk(userIDs, versionsChunk) {
		rows, err := p.pool.Query(ctx, `SELECT user_id, version FROM gardens WHERE user_id = ANY($1)`, chunk)
		if err != nil {
			return nil, fmt.Errorf("store: versions: %w", err)
		}
		err = scanVersions(rows, out)
		rows.Close()
		if err := errors.Join(err, rows.Err()); err != nil {
			return nil, fmt.Errorf("store: versions: %w", err)
		}
	}
	return out, nil
}

// LoadActions returns all of userID's dedup records, oldest first. For
// tests and tools.
func (p *Postgres) LoadActions(ctx context.Context, userID string) ([]ActionRecord, error) {
	if p.closing.Load() {
		return nil, ErrClosed
	}
	rows, err := p.pool.Query(ctx, `SELECT action_id, result, at FROM actions WHERE user_id = $1 ORDER BY at, seq`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: load actions %s: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ActionRecord, error) {
		a := ActionRecord{UserID: userID}
		var at int64
		err := row.Scan(&a.ActionID, &a.Result, &at)
		a.At = fromNanos(at)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: load actions %s: %w", userID, err)
	}
	return out, nil
}

// LookupAction returns the dedup record of (userID, actionID); ok is false
// if there is none (never recorded, or expired).
func (p *Postgres) LookupAction(ctx context.Context, userID, actionID string) (ActionRecord, bool, error) {
	if p.closing.Load() {
		return ActionRecord{}, false, ErrClosed
	}
	a := ActionRecord{UserID: userID, ActionID: actionID}
	var at int64
	err := p.pool.QueryRow(ctx, `SELECT result, at FROM actions WHERE user_id = $1 AND action_id = $2`, userID, actionID).Scan(&a.Result, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ActionRecord{}, false, nil
	case err != nil:
		return ActionRecord{}, false, fmt.Errorf("store: lookup action %s/%s: %w", userID, actionID, err)
	}
	a.At = fromNanos(at)
	return a, true, nil
}

// Healthy returns nil while the store can commit: when the latest commit
// (or probe) committed. After a failure it returns that failure until a
// transaction commits again: the next commit or the probe the
// maintenance goroutine tries every second meanwhile (/readyz). It does no
// I/O.
func (p *Postgres) Healthy() error {
	if p.closing.Load() {
		return ErrClosed
	}
	return p.health.err()
}

func (p *Postgres) setHealth(err error) { p.health.set(p.log, err) }

// Ping reports whether the database answers (for /readyz).
func (p *Postgres) Ping(ctx context.Context) error {
	if p.closing.Load() {
		return ErrClosed
	}
	if err := p.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops accepting commits, waits for the commits in flight (they
// complete), stops the maintenance goroutine and closes the pool. It is
// idempotent.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closing.Store(true)
		p.mu.Unlock()
		p.inflight.Wait()
		p.stop()
		<-p.done
		p.pool.Close()
	})
	return nil
}
