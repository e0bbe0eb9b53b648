package garden

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cosmic-gardener/realtime/server/sendq"
	"github.com/cosmic-gardener/realtime/server/store"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
	"github.com/cosmic-gardener/realtime/shared/protocol"
	"github.com/cosmic-gardener/realtime/shared/rules"
)

// Store is what the garden manager needs of the durable store.
type Store interface {
	LoadGarden(ctx context.Context, userID string) (store.Garden, bool, error)
	// Commit makes a commit durable. Do's commits are conditional
	// (store.Expect) and carry the action's record: an id already
	// recorded (until its record expires, protocol.md §2: after at least
	// 30 days) writes nothing and fails with a *store.KnownActionError
	// holding the stored record, whatever the garden's version.
	Commit(ctx context.Context, c store.Commit) error
}

// Observer receives measurements; every method must be cheap and safe for
// concurrent use. A nil Observer in Config records nothing.
type Observer interface {
	// ActionDone reports an applied, rejected or replayed action.
	ActionDone(actionType string, outcome string, d time.Duration)
	// PatchBuilt reports a patch computed for one version step, with the
	// size of the full state it replaces (full is true when the full
	// state was chosen because the patch was not smaller).
	PatchBuilt(patchBytes, stateBytes int, full bool)
	// StoreConflict reports a commit refused because another writer (a
	// process sharing the database) changed the garden first; Do reloads
	// and applies the action again.
	StoreConflict()
	// StepShown reports a version step shown to a garden's subscribers:
	// versions is how many versions it spans (more than 1 when changes
	// were coalesced into one step), deferred whether it waited for the
	// garden's next tick instead of going out at once.
	StepShown(versions uint64, deferred bool)
}

// MaxConflictRetries is how many times Do reloads and applies an action
// again after a store conflict (store.ErrConflict) before it gives up
// with the conflict error (the action is then not applied and may be
// retried with the same id).
const MaxConflictRetries = 5

// Subscriber is told when a garden has a new durable version. Changed is
// called with no garden lock held and must not block.
type Subscriber interface {
	Changed(s *Snapshot, origin Subscriber)
}

// Config configures a Manager. Zero fields take the documented defaults.
type Config struct {
	Store  Store            // required
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default discards
	// History is how many of the versions handed out (shown to the
	// subscribers, or sent in full) each garden keeps as patch bases,
	// default 64: with one step per update interval, 6.4 s at 10 updates
	// a second, however fast the garden changes. A session further
	// behind gets the full state.
	History int
	// DiffCache is how many encoded patches each garden keeps, default 64.
	DiffCache int
	// MaxDedup is how many recent action results each garden keeps in
	// memory, default 1000, so that a retry of a recent action is answered
	// without the store. An older id is found by the commit, whose record
	// insert meets the stored record (the store keeps every record for 30
	// days); a new id costs no read.
	MaxDedup int
	// FlushInterval is the pace of the version steps shown to a garden's
	// subscribers, default 100ms: the per-connection update cap
	// (sendq.Config.UpdatesPerSecond, 10 by default) as an interval, kept
	// by the same rules (a sendq.Queue). A change after a quiet interval
	// is shown at once; while changes keep coming, they are coalesced
	// into one step per interval, so that every current subscriber asks
	// for the same patch, computed once (docs/performance.md, "Issue 13").
	FlushInterval time.Duration
	Observer      Observer
}

// Manager loads gardens on demand, shares one *Garden per user among that
// user's sessions, and unloads it when the last reference is released.
// Safe for concurrent use.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	gardens map[string]*entry

	remote atomic.Pointer[Remote] // set by StartRemote; nil on a single node
}

type entry struct {
	ready chan struct{} // closed when g or err is set
	g     *Garden
	err   error
	refs  int
}

// New returns a Manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("garden: Config.Store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.History <= 0 {
		cfg.History = 64
	}
	if cfg.DiffCache <= 0 {
		cfg.DiffCache = 64
	}
	if cfg.MaxDedup <= 0 {
		cfg.MaxDedup = 1000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Manager{cfg: cfg, gardens: map[string]*entry{}}, nil
}

// Loaded returns how many gardens are in memory.
func (m *Manager) Loaded() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.gardens)
}

// Acquire returns userID's garden, loading it from the store or creating
// it. Every successful Acquire must be paired with a Release.
func (m *Manager) Acquire(ctx context.Context, userID string) (*Garden, error) {
	m.mu.Lock()
	e, ok := m.gardens[userID]
	if !ok {
		e = &entry{ready: make(chan struct{})}
		m.gardens[userID] = e
	}
	e.refs++
	m.mu.Unlock()

	if !ok {
		m.watch(userID) // remote.go: before the load's read
		e.g, e.err = m.load(ctx, userID)
		close(e.ready)
	} else {
		select {
		case <-e.ready:
		case <-ctx.Done():
			m.release(userID, e)
			return nil, fmt.Errorf("acquire garden %s: %w", userID, ctx.Err())
		}
	}
	if e.err != nil {
		m.release(userID, e)
		return nil, e.err
	}
	if ok {
		m.freshen(ctx, e.g) // remote.go
	}
	return e.g, nil
}

// Release drops a reference taken by Acquire.
func (m *Manager) Release(g *Garden) {
	m.mu.Lock()
	e := m.gardens[g.userID]
	m.mu.Unlock()
	if e != nil {
		m.release(g.userID, e)
	}
}

func (m *Manager) release(userID string, e *entry) {
	m.mu.Lock()
	e.refs--
	unload := e.refs <= 0 && m.gardens[userID] == e
	if unload {
		delete(m.gardens, userID)
		if e.g != nil {
			e.g.close()
		}
	}
	m.mu.Unlock()
	if unload {
		m.unwatch(userID) // remote.go
	}
}

// read returns userID's stored garden, or a new one (found false) if none
// is stored.
func (m *Manager) read(ctx context.Context, userID string) (*Snapshot, bool, error) {
	stored, found, err := m.cfg.Store.LoadGarden(ctx, userID)
	if err != nil {
		return nil, false, fmt.Errorf("load garden %s: %w", userID, err)
	}
	if found {
		snap, err := storedSnapshot(stored)
		if err != nil {
			return nil, false, fmt.Errorf("load garden %s: %w", userID, err)
		}
		return snap, true, nil
	}
	// On a single node a new garden is stored with its first change, not
	// now: a visit that changes nothing costs no write. Until then a
	// restart may hand out a different version 1 (another creation time);
	// clients lose their sessions in a restart anyway and resync in full.
	snap, err := newSnapshot(1, rules.New(userID, m.cfg.Clock().UnixMilli()))
	if err != nil {
		return nil, false, fmt.Errorf("create garden %s: %w", userID, err)
	}
	return snap, false, nil
}

// storedSnapshot decodes a garden read from the store.
func storedSnapshot(stored store.Garden) (*Snapshot, error) {
	s, err := game.Decode(stored.State)
	if err != nil {
		return nil, err
	}
	return newSnapshot(stored.Version, s)
}

func (m *Manager) load(ctx context.Context, userID string) (*Garden, error) {
	g := &Garden{
		userID: userID,
		cfg:    &m.cfg,
		remote: m.remote.Load(),
		// diffs and dedup start empty: most gardens held by idle
		// connections never need them. Dedup records are not preloaded:
		// an id missing from the cache is found by the commit, so a
		// preload would only speed up rare replays, at the cost of
		// reading up to 30 days of records per load.
		diffs: map[diffKey]cachedDiff{},
		dedup: map[string][]byte{},
	}
	snap, found, err := m.read(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !found && g.remote != nil {
		// With several nodes a new garden is stored at once, so that
		// every node hands out the same version 1: each would otherwise
		// create its own (another creation time), and devices of one
		// player on two nodes would hold two different gardens until the
		// first change. The insert is conditional: if another node
		// created it first, its garden is read instead.
		c := store.Commit{Garden: &store.Garden{UserID: userID, Version: snap.Version, State: snap.Encoded, UpdatedAt: m.cfg.Clock()},
			Expect: &store.Expect{UserID: userID}}
		switch err := m.cfg.Store.Commit(context.WithoutCancel(ctx), c); {
		case errors.Is(err, store.ErrConflict):
			if snap, found, err = m.read(ctx, userID); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, fmt.Errorf("create garden %s: %w", userID, err)
		default:
			found = true
		}
	}
	g.setCurrent(snap)
	g.shown = snap
	g.stored = found
	return g, nil
}

// Garden is one user's authoritative garden. Safe for concurrent use.
//
// Locking. Two mutexes, always taken in this order:
//   - actMu serialises actions: Do holds it from the replay check through
//     commit and publish. Versions and idempotency records therefore reach
//     the store in order.
//   - mu guards the in-memory fields below (current snapshot, history,
//     patch cache, recent results, subscribers, the flush schedule). It
//     is held only for short, non-blocking work: never across store I/O,
//     never while a Subscriber is called.
//
// Flush. Subscribers are told of shown, not of every version: a change
// after a quiet interval is shown at once, later ones wait for the
// garden's next tick and go out together, at the pace each connection
// keeps (schedule). Update answers up to shown, so
// every subscriber that is current asks for the same step and the patch
// is computed once per tick, whatever the change rate and however many
// devices watch.
type Garden struct {
	userID string
	cfg    *Config
	remote *Remote // nil on a single node; see remote.go

	actMu sync.Mutex // serialises actions; see Locking above
	// stored is whether cur is the version the store holds (false for a
	// new garden until its first commit). Guarded by actMu.
	stored bool

	mu      sync.Mutex   // guards the fields below
	cur     *Snapshot    // the newest durable version
	shown   *Snapshot    // the newest version subscribers were told of; see Flush above
	pace    *sendq.Queue // the steps' rate limit (see schedule); nil until the first change
	tick    *time.Timer
	ticking bool // tick is armed to show cur
	closed  bool // unloaded: no more ticks
	// history holds the patch bases: the newest Config.History versions
	// handed out (shown to subscribers, or sent in full), the only ones a
	// client can hold. A ring once full; it grows from empty because most
	// gardens held by idle connections never change.
	history    []*Snapshot
	histNext   int // the ring's oldest entry, overwritten next, once full
	diffs      map[diffKey]cachedDiff
	diffOrder  []diffKey // FIFO eviction
	dedup      map[string][]byte
	dedupOrder []string // FIFO eviction
	// subs is copy-on-write: replaced, never changed in place, so Do
	// notifies from a snapshot of it without copying.
	subs []Subscriber
}

type diffKey struct{ from, to uint64 }

type cachedDiff struct {
	data []byte // inner StateUpdate data
	full bool
}

// UserID returns the owner.
func (g *Garden) UserID() string { return g.userID }

// Current returns the newest durable snapshot.
func (g *Garden) Current() *Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cur
}

// Subscribe registers s for change notifications.
func (g *Garden) Subscribe(s Subscriber) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !slices.Contains(g.subs, s) {
		g.subs = append(slices.Clip(g.subs), s)
	}
}

// Unsubscribe removes s.
func (g *Garden) Unsubscribe(s Subscriber) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.subs, s); i >= 0 {
		g.subs = slices.Delete(slices.Clone(g.subs), i, i+1)
	}
}

// Update returns the inner data of the StateUpdate that takes a client
// holding version from to the version shown to subscribers: a patch when
// the base is still known and the patch is smaller than the state, the
// full state otherwise. A client with no version (from 0: a new session,
// a GetState) gets the full newest state. ok is false when the client is
// already current, or ahead of what is shown (it got the full newest
// state; the next tick brings the rest). Patches are computed once per
// step and shared by every caller.
func (g *Garden) Update(from uint64) (data []byte, full bool, to *Snapshot, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if from == 0 {
		g.keep(g.cur)
		return g.cur.FullData(), true, g.cur, true
	}
	to = g.shown
	switch {
	case from == to.Version:
		return nil, false, to, false
	case from > to.Version && from <= g.cur.Version:
		return nil, false, to, false
	}
	key := diffKey{from, to.Version}
	if c, hit := g.diffs[key]; hit {
		return c.data, c.full, to, true
	}
	base := g.handedOut(from)
	if base == nil || from > to.Version {
		return to.FullData(), true, to, true
	}
	c := cachedDiff{data: to.FullData(), full: true}
	if p, err := patch.DiffStates(base.State, to.State); err != nil {
		g.cfg.Logger.Error("diff states", "user_id", g.userID, "from", from, "to", to.Version, "err", err)
	} else if d := patchData(from, to, p); len(d) < len(c.data) {
		c = cachedDiff{data: d}
	}
	g.cfg.Observer.PatchBuilt(len(c.data), len(to.Encoded), c.full)
	if len(g.diffOrder) >= g.cfg.DiffCache {
		delete(g.diffs, g.diffOrder[0])
		g.diffOrder = g.diffOrder[1:]
	}
	g.diffs[key] = c
	g.diffOrder = append(g.diffOrder, key)
	return c.data, c.full, to, true
}

// Result is the answer to an action.
type Result struct {
	// Data is the encoded ActionResult data, the same bytes for the first
	// answer and every replay.
	Data []byte
	// Replayed is true when the id had been seen and Data is the original.
	Replayed bool
}

// Do applies action act with idempotency key actionID. A replayed id gets
// the original result and changes nothing: it is found in the garden's
// cache of recent results or, failing that, by the commit, which inserts
// the record first and writes nothing when the store already holds the id
// (it keeps every record for at least 30 days, protocol.md §2); the store
// answers with the original result. The returned Result is
// durable: a change is committed before Do returns and before subscribers
// hear of it; origin is notified first (its own change goes ahead). An
// error means the action was not applied and may be retried with the same
// id.
//
// Do runs named steps under actMu: replay (the cache), apply (pure),
// commit (the store; it may answer a replay), publish (local subscribers).
func (g *Garden) Do(ctx context.Context, actionID string, act protocol.Action, origin Subscriber) (Result, error) {
	start := g.cfg.Clock()
	g.actMu.Lock()
	defer g.actMu.Unlock()

	for attempt := 0; ; attempt++ {
		if prev, seen := g.replay(actionID); seen {
			g.cfg.Observer.ActionDone(act.Type(), "replayed", g.cfg.Clock().Sub(start))
			return Result{Data: prev, Replayed: true}, nil
		}
		cur := g.Current()
		out, err := apply(g.userID, cur, act, actionID, g.cfg.Clock())
		if err != nil {
			return Result{}, err
		}
		err = g.commit(ctx, out, g.base(cur))
		var known *store.KnownActionError
		if errors.As(err, &known) {
			// The id was recorded before (evicted from the cache, or
			// applied by another process): nothing was written, the
			// stored result is the answer and nothing is published.
			g.mu.Lock()
			g.remember(actionID, known.Record.Result)
			g.mu.Unlock()
			g.cfg.Observer.ActionDone(act.Type(), "replayed", g.cfg.Clock().Sub(start))
			return Result{Data: known.Record.Result, Replayed: true}, nil
		}
		if errors.Is(err, store.ErrConflict) {
			// Another process wrote this garden first: take its version
			// and run the steps again. Apply may now refuse the action,
			// which is an answer too. (Had the other process recorded
			// this id, the commit would have said so instead.)
			g.cfg.Observer.StoreConflict()
			if attempt >= MaxConflictRetries {
				return Result{}, err
			}
			if err := g.reload(ctx); err != nil {
				return Result{}, err
			}
			continue
		}
		if err != nil {
			return Result{}, err
		}
		g.publish(out, origin)
		if out.snap != nil {
			g.announce(cur, out.snap) // remote.go: the other nodes
		}
		g.cfg.Observer.ActionDone(act.Type(), out.label(), g.cfg.Clock().Sub(start))
		return Result{Data: out.data}, nil
	}
}

// base is the stored version that a commit computed from cur is
// conditional on: cur's, or 0 when the garden is not stored yet. actMu
// must be held.
func (g *Garden) base(cur *Snapshot) uint64 {
	if !g.stored {
		return 0
	}
	return cur.Version
}

// reload replaces the current version by the store's after a conflict and
// tells the subscribers (origin nil: the change came from elsewhere).
// actMu must be held.
func (g *Garden) reload(ctx context.Context) error {
	stored, found, err := g.cfg.Store.LoadGarden(ctx, g.userID)
	if err != nil {
		return fmt.Errorf("reload garden %s: %w", g.userID, err)
	}
	if !found {
		g.stored = false
		return nil
	}
	snap, err := storedSnapshot(stored)
	if err != nil {
		return fmt.Errorf("reload garden %s: %w", g.userID, err)
	}
	g.mu.Lock()
	if !g.stored || snap.Version <= g.cur.Version {
		// The version clients hold may name another state than the
		// store's (ours was never committed): no patch from it is
		// trustworthy, every client gets the full state.
		g.forgetBases()
	}
	g.setCurrent(snap)
	// A correction is shown at once, outside the tick: the version shown
	// before may name another state than the store's.
	g.showNow()
	subs := g.subs
	g.mu.Unlock()
	g.stored = true
	for _, sub := range subs {
		sub.Changed(snap, nil)
	}
	return nil
}

// replay returns the recorded result of actionID if it is in the cache of
// recent results. An id missing there is not read from the store: the
// commit finds it (store.KnownActionError).
func (g *Garden) replay(actionID string) (data []byte, seen bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	data, seen = g.dedup[actionID]
	return data, seen
}

// outcome is what applying one action produces: the result to record and
// answer, the next snapshot if the garden changed, and the store commit
// that makes both durable.
type outcome struct {
	actType  string
	actionID string
	success  bool
	data     []byte    // the encoded ActionResult: the idempotency record
	snap     *Snapshot // the next version; nil when the garden is unchanged
	commit   store.Commit
}

// label is the outcome as Observer.ActionDone reports it.
func (o *outcome) label() string {
	if o.success {
		return "applied"
	}
	return "rejected"
}

// apply runs the rules on cur and builds the outcome: the result, the next
// snapshot and the commit. It is pure (no locks, no I/O; now is an
// argument), so a conflict retry can run it again on a newer cur. A
// rejection is an outcome (recorded like any result), not an error; an
// error means the action cannot be applied at all.
func apply(userID string, cur *Snapshot, act protocol.Action, actionID string, now time.Time) (outcome, error) {
	out, err := rules.Apply(cur.State, act, actionID, now.UnixMilli())
	var rej *rules.Rejection
	var res protocol.ActionResult
	var snap *Snapshot
	saveCurrent := false // write the unchanged garden: a plain SaveGame
	switch {
	case errors.As(err, &rej):
		res = protocol.ActionResult{Success: false, Message: rej.Message, Reason: rej.Code}
	case err != nil:
		return outcome{}, fmt.Errorf("apply %s to garden %s: %w", act.Type(), userID, err)
	case out.State == cur.State:
		// Nothing changed; SaveGame still promises the state is durable,
		// which a garden never changed since its creation is not yet.
		res = protocol.ActionResult{Success: true, Message: out.Message, Version: cur.Version}
		_, saveCurrent = act.(protocol.SaveGame)
	default:
		if snap, err = cur.derive(cur.Version+1, out.State); err != nil {
			return outcome{}, fmt.Errorf("apply %s to garden %s: %w", act.Type(), userID, err)
		}
		res = protocol.ActionResult{Success: true, Message: out.Message, BodyID: out.BodyID, Version: snap.Version}
	}
	data := protocol.AppendResultData(make([]byte, 0, 64+len(res.Message)+len(res.BodyID)), res)
	c := store.Commit{Actions: []store.ActionRecord{{UserID: userID, ActionID: actionID, Result: data, At: now}}}
	switch {
	case snap != nil:
		c.Garden = &store.Garden{UserID: userID, Version: snap.Version, State: snap.Encoded, UpdatedAt: now}
	case saveCurrent:
		// The store ignores a write that is not newer than what it holds.
		c.Garden = &store.Garden{UserID: userID, Version: cur.Version, State: cur.Encoded, UpdatedAt: now}
	}
	return outcome{actType: act.Type(), actionID: actionID, success: res.Success, data: data, snap: snap, commit: c}, nil
}

// commit makes out durable: the idempotency record and, if any, the new
// version, in one store transaction. It is the one step where the store can
// refuse the outcome: a known action id (store.KnownActionError, with the
// original result) or, with several nodes, a version conflict, answered by
// reloading and applying again. actMu must be held. Nothing in memory
// changes here; on error the garden is as before.
func (g *Garden) commit(ctx context.Context, out outcome, base uint64) error {
	// Conditional on the version out was computed from: with several
	// processes on one database, another may have written first
	// (store.ErrConflict; Do reloads and applies again).
	c := out.commit
	c.Expect = &store.Expect{UserID: g.userID, Version: base}
	// The commit must not be abandoned half-way because one client went
	// away: other devices and the idempotency record depend on it.
	if err := g.cfg.Store.Commit(context.WithoutCancel(ctx), c); err != nil {
		return fmt.Errorf("commit %s to garden %s: %w", out.actType, g.userID, err)
	}
	if c.Garden != nil {
		g.stored = true
	}
	return nil
}

// publish makes a committed outcome visible: its result to replays and,
// if the garden changed, the new version to Current, in one critical
// section. If the garden was quiet for a FlushInterval the version is
// shown at once and the subscribers are told, with no lock but actMu
// held: the device whose action it was first (its own change goes ahead),
// then the others. Otherwise the garden's tick shows it, together with
// whatever else changed meanwhile. These are this node's subscribers; a
// cross-node bus is a second publisher here.
func (g *Garden) publish(out outcome, origin Subscriber) {
	g.mu.Lock()
	g.remember(out.actionID, out.data)
	var subs []Subscriber
	if out.snap != nil {
		g.setCurrent(out.snap)
		if g.schedule(time.Now()) {
			subs = g.subs
		}
	}
	g.mu.Unlock()

	if subs == nil {
		return
	}
	if origin != nil && slices.Contains(subs, origin) {
		origin.Changed(out.snap, origin)
	}
	for _, s := range subs {
		if s != origin {
			s.Changed(out.snap, origin)
		}
	}
}

// schedule shows cur at once if the garden's pace allows a step now and
// reports true: the caller tells the subscribers. Otherwise it arms the
// tick, which shows cur and tells them later, and reports false.
//
// The pace is a state-only sendq.Queue at the connections' rate: the
// garden's steps keep exactly the spacing and the per-second window that
// each connection's queue keeps, so a connection that follows its garden
// is never held back by its own limit, and every current connection takes
// the same step. g.mu must be held.
func (g *Garden) schedule(now time.Time) bool {
	if g.cur == g.shown || g.ticking || g.closed {
		return false
	}
	if g.pace == nil {
		// Made on the first change: most gardens never change.
		g.pace = sendq.New(sendq.Config{UpdatesPerSecond: float64(time.Second) / float64(g.cfg.FlushInterval)})
	}
	g.pace.MarkState(false)
	return g.step(now)
}

// step shows cur if the pace allows it now (true), or arms the tick for
// when it will. g.mu must be held and cur be newer than shown.
func (g *Garden) step(now time.Time) bool {
	kind, _, wait := g.pace.Next(now)
	if kind == sendq.Wait {
		g.ticking = true
		if g.tick == nil {
			g.tick = time.AfterFunc(wait, g.flush)
		} else {
			g.tick.Reset(wait)
		}
		return false
	}
	g.showNow()
	g.pace.SentState(now, 1)
	return true
}

// showNow makes cur the version subscribers are told of. g.mu must be
// held.
func (g *Garden) showNow() {
	if g.shown != nil && g.cur.Version > g.shown.Version {
		g.cfg.Observer.StepShown(g.cur.Version-g.shown.Version, g.ticking)
	}
	g.shown = g.cur
	g.keep(g.cur)
}

// flush is the garden's tick: it shows every version committed since the
// last step as one step and tells the subscribers. It runs on the tick's
// own goroutine; close stops it.
func (g *Garden) flush() {
	g.mu.Lock()
	if g.closed || g.cur == g.shown {
		g.ticking = false
		g.mu.Unlock()
		return
	}
	if !g.step(time.Now()) { // the timer fired early: armed again
		g.mu.Unlock()
		return
	}
	g.ticking = false
	snap, subs := g.shown, g.subs
	g.mu.Unlock()
	for _, s := range subs {
		s.Changed(snap, nil)
	}
}

// close stops the tick of a garden being unloaded (its last reference
// released). A version committed but not yet shown needs no showing: no
// subscriber is left, and the store holds it.
func (g *Garden) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.tick != nil {
		g.tick.Stop()
	}
}

// forgetBases drops the current version, every patch base and every
// cached patch, so that the next version is sent in full. g.mu must be
// held.
func (g *Garden) forgetBases() {
	g.cur, g.history, g.histNext = nil, nil, 0
	clear(g.diffs)
	g.diffOrder = nil
}

// setCurrent publishes snap as the newest version. g.mu and actMu must be
// held (or g not yet shared).
func (g *Garden) setCurrent(snap *Snapshot) {
	if g.cur != nil && g.cur != snap {
		g.cur.enc = nil // only the current version is derived from
	}
	g.cur = snap
}

// keep records s as handed out: a client may hold it and ask for a patch
// from it. g.mu must be held.
func (g *Garden) keep(s *Snapshot) {
	if g.handedOut(s.Version) != nil {
		return
	}
	if len(g.history) < g.cfg.History {
		g.history = append(g.history, s)
		return
	}
	g.history[g.histNext] = s
	g.histNext = (g.histNext + 1) % len(g.history)
}

// handedOut returns the kept snapshot of version v, or nil. g.mu must be
// held.
func (g *Garden) handedOut(v uint64) *Snapshot {
	for _, s := range g.history {
		if s.Version == v {
			return s
		}
	}
	return nil
}

// remember records an action result, evicting the oldest beyond MaxDedup.
// g.mu must be held (or g not yet shared).
func (g *Garden) remember(actionID string, data []byte) {
	if _, ok := g.dedup[actionID]; ok {
		return
	}
	if len(g.dedupOrder) >= g.cfg.MaxDedup {
		delete(g.dedup, g.dedupOrder[0])
		g.dedupOrder = g.dedupOrder[1:]
	}
	g.dedup[actionID] = data
	g.dedupOrder = append(g.dedupOrder, actionID)
}

type nopObserver struct{}

func (nopObserver) ActionDone(string, string, time.Duration) {}
func (nopObserver) PatchBuilt(int, int, bool)                {}
func (nopObserver) StoreConflict()                           {}
func (nopObserver) StepShown(uint64, bool)                   {}
