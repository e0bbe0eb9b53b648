package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Request states. A request moves from queued to taken (by the writer) or
// to abandoned (by its Commit, when ctx ends first), never both: the
// compare-and-swap decides who owns the outcome.
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// request is one Commit waiting for the writer.
type request struct {
	c     Commit
	state atomic.Int32
	done  chan error // buffered 1; receives the outcome once
	// conflict is set by writeTx (writer goroutine only) when c.Expect did
	// not hold: nothing of c was written, and c's answer is ErrConflict
	// once the transaction commits.
	conflict bool
	// known is set by writeTx (writer goroutine only) when a conditional
	// commit carried a recorded action id: nothing of c was written, and
	// c's answer is a *KnownActionError with this record.
	known *ActionRecord
}

// outcome is what r's caller hears after its transaction committed.
func (r *request) outcome() error {
	switch {
	case r.known != nil:
		return &KnownActionError{Record: *r.known}
	case r.conflict:
		return fmt.Errorf("store: commit: %w", ErrConflict)
	}
	return nil
}

// take claims r for the current batch; false if its Commit gave up.
func (r *request) take() bool { return r.state.CompareAndSwap(reqQueued, reqTaken) }

// answer delivers the outcome without blocking (a request is answered once;
// a second answer, after a recovered panic, is dropped).
func (r *request) answer(err error) {
	select {
	case r.done <- err:
	default:
	}
}

// batcher is the writer goroutine's state, reused across batches. Open
// uses it before starting the writer; afterwards only the writer does.
type batcher struct {
	batch  []*request
	latest map[string]*Garden  // per user, the newest garden of the batch
	added  map[string]struct{} // users that got records in this transaction
}

func newBatcher(maxBatch int) *batcher {
	return &batcher{
		batch:  make([]*request, 0, maxBatch),
		latest: make(map[string]*Garden),
		added:  make(map[string]struct{}),
	}
}

// run is the writer goroutine. It owns s.w and s.ws, group-commits
// requests until s.quit is closed, then commits everything still queued and
// closes s.done. It sweeps expired records every sweepInterval and, while
// its last transaction failed, tries a probe every probeInterval.
func (s *SQLite) run() {
	defer close(s.done)
	b := s.b
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	probe := time.NewTicker(probeInterval)
	defer probe.Stop()
	for {
		select {
		case r := <-s.reqs:
			s.flush(b, r)
			s.restartWAL()
		case <-probe.C:
			if s.health.failing() {
				s.setHealth(s.probeTx())
			}
		case <-t.C:
			n, err := s.sweep(context.Background())
			switch {
			case err != nil:
				s.log.Warn("store: sweep failed", "error", err)
			case n > 0:
				s.log.Debug("store: swept expired actions", "deleted", n)
			}
			// A full sweep leaves more behind: come back in a second
			// rather than a minute, so that records expiring faster than
			// sweepLimit a minute do not pile up.
			if n >= sweepLimit {
				t.Reset(sweepBacklogInterval)
			} else {
				t.Reset(sweepInterval)
			}
		case <-s.quit:
			// Close holds no more senders (see SQLite.mu), so reqs only
			// shrinks from here on.
			for {
				select {
				case r := <-s.reqs:
					s.flush(b, r)
				default:
					return
				}
			}
		}
	}
}

// flush collects first and whatever else is queued, up to MaxBatch live
// requests, and commits them.
func (s *SQLite) flush(b *batcher, first *request) {
	batch := b.batch[:0]
	if first.take() {
		batch = append(batch, first)
	}
collect:
	for len(batch) < s.cfg.MaxBatch {
		select {
		case r := <-s.reqs:
			if r.take() {
				batch = append(batch, r)
			}
		default:
			break collect
		}
	}
	if len(batch) > 0 {
		s.commitBatch(b, batch)
	}
	clear(batch) // drop references to committed data
	b.batch = batch[:0]
}

// commitBatch writes batch in one transaction and answers every request.
//
// Failure handling: Commit validates requests before queueing them, so a
// statement should fail only for a database-wide reason (I/O error, disk
// full, the write lock held by another process). Such a failure fails the
// whole batch at once. Any other failure of the batch transaction rolls it
// back and retries every request alone, in order, in its own transaction,
// so one bad commit fails only its own caller.
func (s *SQLite) commitBatch(b *batcher, batch []*request) {
	defer func() {
		// A panic must not leave callers waiting forever.
		if p := recover(); p != nil {
			s.log.Error("store: writer panic", "panic", p)
			for _, r := range batch {
				r.answer(fmt.Errorf("store: commit: internal error: %v", p))
			}
		}
	}()
	start := time.Now()
	err := s.writeTx(b, batch)
	s.setHealth(err)
	if err == nil {
		// Observed before anyone is answered, so that a caller who got
		// its answer finds its transaction in the metrics.
		s.observe(len(batch), time.Since(start))
		for _, r := range batch {
			r.answer(r.outcome())
		}
		return
	}
	if len(batch) == 1 {
		batch[0].answer(fmt.Errorf("store: commit: %w", err))
		return
	}
	if databaseWide(err) {
		// Each commit alone would fail the same way, after one more
		// BusyTimeout each: with the lock held elsewhere the last of 256
		// callers would hear after 21 minutes.
		for _, r := range batch {
			r.answer(fmt.Errorf("store: commit: %w", err))
		}
		return
	}
	s.log.Warn("store: batch failed, retrying commits one by one", "batch_size", len(batch), "error", err)
	for i, r := range batch {
		start := time.Now()
		err := s.writeTx(b, batch[i:i+1])
		s.setHealth(err)
		if err != nil {
			r.answer(fmt.Errorf("store: commit: %w", err))
			continue
		}
		s.observe(1, time.Since(start))
		r.answer(r.outcome())
	}
}

func (s *SQLite) observe(n int, d time.Duration) {
	if s.cfg.Observe != nil {
		s.cfg.Observe(n, d)
	}
}

// writeTx writes batch in one transaction: per user only the newest garden
// (the others are superseded within the same transaction), every action
// record, then the expired records of the users that got new ones. The
// work is bounded by the batch: at most one upsert per garden, one insert
// per record and one delete per touched user, which finds nothing to
// delete in one index seek unless records expired.
func (s *SQLite) writeTx(b *batcher, batch []*request) (err error) {
	ctx := context.Background()
	now := s.cfg.Clock()
	nowNS := toNanos(now)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()

	// Conditional commits first, in queue order, each checked and written
	// alone: its records first (a known id is found by the insert's own
	// uniqueness check, no read before), then its garden; a known id or a
	// conflict is found per statement (a row count, a version read)
	// without failing the transaction, so it fails only its own commit.
	clear(b.added)
	for _, r := range batch {
		r.conflict, r.known = false, nil
		if r.c.Expect != nil {
			if err := s.writeConditional(ctx, tx, r, nowNS); err != nil {
				return err
			}
			if !r.conflict && r.known == nil {
				for i := range r.c.Actions {
					b.added[r.c.Actions[i].UserID] = struct{}{}
				}
			}
		}
	}

	// Strictly greater: of equal versions the first stays, as it would
	// across separate transactions.
	clear(b.latest)
	for _, r := range batch {
		if !r.c.hasGarden() || r.c.Expect != nil {
			continue
		}
		g := r.c.Garden
		if cur, ok := b.latest[g.UserID]; !ok || g.Version > cur.Version {
			b.latest[g.UserID] = g
		}
	}
	if len(b.latest) > 0 {
		upsert := tx.StmtContext(ctx, s.ws.upsertGarden)
		for _, g := range b.latest {
			if _, err := upsert.ExecContext(ctx, g.UserID, int64(g.Version), g.State, nanosOr(g.UpdatedAt, nowNS)); err != nil {
				return fmt.Errorf("write garden %s: %w", g.UserID, err)
			}
		}
		clear(b.latest)
	}

	var insert *sql.Stmt
	for _, r := range batch {
		if r.c.Expect != nil {
			continue // written (or refused) above
		}
		for i := range r.c.Actions {
			a := &r.c.Actions[i]
			if insert == nil {
				insert = tx.StmtContext(ctx, s.ws.insertAction)
			}
			if _, err := insert.ExecContext(ctx, a.UserID, a.ActionID, a.Result, nanosOr(a.At, nowNS)); err != nil {
				return fmt.Errorf("write action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			b.added[a.UserID] = struct{}{}
		}
	}
	if len(b.added) > 0 {
		cutoff := toNanos(now.Add(-s.cfg.MaxActionAge))
		prune := tx.StmtContext(ctx, s.ws.pruneAge)
		for u := range b.added {
			if _, err := prune.ExecContext(ctx, u, cutoff); err != nil {
				return fmt.Errorf("prune expired actions of %s: %w", u, err)
			}
		}
		clear(b.added)
	}

	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// writeConditional writes r's conditional commit inside tx: first its
// action records, each inserted unless its id is known; if one is known,
// its stored record goes to r.known and nothing of the commit stays (the
// records inserted before it are deleted again). Otherwise it checks
// r.c.Expect and writes the garden (if any); on a conflict r.conflict is
// set and the records are deleted again. A known id thus wins over a
// conflict, and a new action costs no read.
func (s *SQLite) writeConditional(ctx context.Context, tx *sql.Tx, r *request, nowNS int64) error {
	c := &r.c
	inserted := 0
	if len(c.Actions) > 0 {
		insert := tx.StmtContext(ctx, s.ws.insertAction)
		for i := range c.Actions {
			a := &c.Actions[i]
			res, err := insert.ExecContext(ctx, a.UserID, a.ActionID, a.Result, nanosOr(a.At, nowNS))
			if err != nil {
				return fmt.Errorf("write action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("write action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			if n == 1 {
				inserted++
				continue
			}
			rec := ActionRecord{UserID: a.UserID, ActionID: a.ActionID}
			var at int64
			if err := tx.StmtContext(ctx, s.ws.readAction).QueryRowContext(ctx, a.UserID, a.ActionID).Scan(&rec.Result, &at); err != nil {
				return fmt.Errorf("read known action %s/%s: %w", a.UserID, a.ActionID, err)
			}
			rec.At = fromNanos(at)
			r.known = &rec
			return s.unwriteActions(ctx, tx, c.Actions[:inserted])
		}
	}
	ok, err := s.checkAndWriteGarden(ctx, tx, c, nowNS)
	if err != nil {
		return err
	}
	if !ok {
		r.conflict = true
		return s.unwriteActions(ctx, tx, c.Actions[:inserted])
	}
	return nil
}

// unwriteActions deletes records this transaction inserted for a commit
// that is then refused (rare).
func (s *SQLite) unwriteActions(ctx context.Context, tx *sql.Tx, acts []ActionRecord) error {
	if len(acts) == 0 {
		return nil
	}
	del := tx.StmtContext(ctx, s.ws.deleteAction)
	for i := range acts {
		if _, err := del.ExecContext(ctx, acts[i].UserID, acts[i].ActionID); err != nil {
			return fmt.Errorf("undo action %s/%s: %w", acts[i].UserID, acts[i].ActionID, err)
		}
	}
	return nil
}

// checkAndWriteGarden checks c.Expect inside tx and, if it holds, writes
// c's garden (if any); ok is false on a conflict, with no garden written.
func (s *SQLite) checkAndWriteGarden(ctx context.Context, tx *sql.Tx, c *Commit, nowNS int64) (ok bool, err error) {
	e := c.Expect
	if !c.hasGarden() {
		var v int64
		err := tx.StmtContext(ctx, s.ws.gardenVersion).QueryRowContext(ctx, e.UserID).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return e.Version == 0, nil
		case err != nil:
			return false, fmt.Errorf("check garden %s: %w", e.UserID, err)
		}
		return uint64(v) == e.Version, nil
	}
	g := c.Garden
	var res sql.Result
	if e.Version == 0 {
		res, err = tx.StmtContext(ctx, s.ws.insertGarden).ExecContext(ctx, g.UserID, int64(g.Version), g.State, nanosOr(g.UpdatedAt, nowNS))
	} else {
		res, err = tx.StmtContext(ctx, s.ws.updateGardenIf).ExecContext(ctx, g.UserID, int64(g.Version), g.State, nanosOr(g.UpdatedAt, nowNS), int64(e.Version))
	}
	if err != nil {
		return false, fmt.Errorf("write garden %s: %w", g.UserID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("write garden %s: %w", g.UserID, err)
	}
	return n == 1, nil
}

// databaseWide reports whether err is a failure of the database rather than
// of one commit's data: the write lock held elsewhere, a full disk, an I/O
// error, a read-only, corrupt or vanished file.
func databaseWide(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
		sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_NOMEM:
		return true
	}
	return false
}

// probeTx writes a garden row for the empty user id, which no Commit can
// name (validate refuses it), and deletes it again, in one transaction: it
// takes the write lock and appends to the WAL like a real commit, and
// leaves the data as it was.
func (s *SQLite) probeTx() (err error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("probe: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.StmtContext(ctx, s.ws.upsertGarden).ExecContext(ctx, "", 0, []byte("{}"), 0); err != nil {
		return fmt.Errorf("probe: write: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM gardens WHERE user_id = ''`); err != nil {
		return fmt.Errorf("probe: delete: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("probe: commit: %w", err)
	}
	return nil
}

// sweep deletes up to sweepLimit action records of any user older than
// MaxActionAge: those of users who stopped playing, whom per-batch pruning
// never visits. Open calls it, then the writer goroutine every
// sweepInterval.
func (s *SQLite) sweep(ctx context.Context) (n int64, err error) {
	cutoff := toNanos(s.cfg.Clock().Add(-s.cfg.MaxActionAge))
	res, err := s.ws.sweep.ExecContext(ctx, cutoff, sweepLimit)
	if err != nil {
		return 0, fmt.Errorf("sweep expired actions: %w", err)
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("sweep expired actions: %w", err)
	}
	return n, nil
}

// nanosOr returns t in Unix nanoseconds, or def if t is zero.
func nanosOr(t time.Time, def int64) int64 {
	if t.IsZero() {
		return def
	}
	return toNanos(t)
}
