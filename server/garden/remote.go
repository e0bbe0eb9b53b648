package garden

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cosmic-gardener/realtime/server/bus"
	"github.com/cosmic-gardener/realtime/shared/game"
	"github.com/cosmic-gardener/realtime/shared/patch"
)

// This file is the garden's side of the cross-node bus: Do announces each
// committed version (announce), the Manager watches the gardens it holds
// (watch, unwatch), and a Remote adopts the versions other nodes commit,
// from the bus when the message applies, from the store when it does not.
//
// The bus delivers at most once, so nothing here trusts it to be
// complete: a message that cannot be applied (a gap, no patch, a hash
// mismatch) makes the garden be read from the store, and a reconciliation
// pass (one batched version query for every garden held) runs every
// ReconcileInterval, at once after a NATS reconnect and after a slow
// consumer notice. A version committed elsewhere therefore reaches this
// node's subscribers at most ReconcileInterval plus one pass (a version
// query and a garden read) after its commit, also when its message is
// lost; normally it arrives with the message, within milliseconds.

// Bus is what the Manager needs of the cross-node bus (*bus.Bus).
type Bus interface {
	Publish(userID string, m bus.Message)
	Watch(userID string) error
	Unwatch(userID string)
}

// VersionStore answers the reconciliation's one question: the stored
// version of many gardens at once (store.SQLite and store.Postgres).
type VersionStore interface {
	Versions(ctx context.Context, userIDs []string) (map[string]uint64, error)
}

// RemoteObserver receives the Remote's measurements; every method must be
// cheap and safe for concurrent use. A nil one records nothing.
type RemoteObserver interface {
	// GardenReread counts a garden read from the store because the bus
	// did not bring its newest version: "gap" (the message's base is not
	// ours), "no_patch" (too large to send), "hash_mismatch", "busy" (a
	// local action held the garden), or the reason of a reconciliation
	// pass that found it behind: "reconcile", "connect", "reconnect",
	// "slow_consumer".
	GardenReread(reason string)
	// PatchHashMismatch counts a bus patch whose result did not have the
	// announced hash (or did not apply).
	PatchHashMismatch()
}

// RemoteConfig configures a Remote. Zero fields take the defaults.
type RemoteConfig struct {
	Bus      Bus          // required
	Store    VersionStore // required; the Manager's Store must be the same database
	Observer RemoteObserver
	// ReconcileInterval is the pause between reconciliation passes,
	// default 2s: the staleness bound when a bus message is lost.
	ReconcileInterval time.Duration
}

// Remote keeps a Manager's gardens current with the versions other nodes
// commit. Create with Manager.StartRemote, stop with Close. It implements
// bus.Receiver.
type Remote struct {
	m   *Manager
	cfg RemoteConfig

	kick chan string // a reconciliation pass is due now, for this reason
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]string // user id → reason: gardens to read from the store

	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// StartRemote connects m to a bus: from now on m watches each garden it
// loads and announces each version it commits, and the returned Remote,
// to be given to the bus as its Receiver, adopts other nodes' versions.
// Call it before the first Acquire. The Remote runs one goroutine, for
// store reads and reconciliation, until Close.
func (m *Manager) StartRemote(cfg RemoteConfig) (*Remote, error) {
	if cfg.Bus == nil || cfg.Store == nil {
		return nil, errors.New("garden: RemoteConfig.Bus and Store are required")
	}
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 2 * time.Second
	}
	if cfg.Observer == nil {
		cfg.Observer = nopRemoteObserver{}
	}
	r := &Remote{
		m: m, cfg: cfg, kick: make(chan string, 1), wake: make(chan struct{}, 1),
		pending: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if !m.remote.CompareAndSwap(nil, r) {
		return nil, errors.New("garden: StartRemote called twice")
	}
	go r.run()
	return r, nil
}

// Close stops the Remote's goroutine and waits for it. Messages received
// afterwards are ignored. Idempotent.
func (r *Remote) Close() {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		close(r.stop)
		<-r.done
	})
}

// Resync asks for a reconciliation pass now (bus.Receiver): messages were
// probably lost. It does not block.
func (r *Remote) Resync(reason string) {
	select {
	case r.kick <- reason:
	default: // a pass is due already
	}
}

// Received adopts a version another node committed (bus.Receiver). It
// runs on the bus's delivery goroutine, so it never waits: a garden whose
// action lock is taken, or that the message cannot bring up to date, is
// queued for a store read instead.
func (r *Remote) Received(userID string, m bus.Message) {
	if r.closed.Load() {
		return
	}
	g := r.m.loaded(userID)
	if g == nil {
		return // not held (any more), or still loading: its load reads the store
	}
	if !g.actMu.TryLock() {
		// A local action is running; its commit may conflict with this
		// very version. The store read after it settles either way.
		r.reread(userID, "busy")
		return
	}
	defer g.actMu.Unlock()
	cur := g.Current()
	switch {
	case g.stored && m.Version <= cur.Version:
		// Old news (or our own version heard through a reload).
	case !g.stored || m.Base != cur.Version:
		// A gap: a message lost, or this garden was loaded before the
		// base was committed; or ours was never stored and names
		// another state.
		r.reread(userID, "gap")
	case m.Patch == nil:
		r.reread(userID, "no_patch")
	default:
		snap, err := applyRemote(cur, m)
		if err != nil {
			r.cfg.Observer.PatchHashMismatch()
			r.m.cfg.Logger.Warn("bus: a patch did not give the announced state; reading the store",
				"user_id", userID, "from", m.Base, "to", m.Version, "node", m.Node, "err", err)
			r.reread(userID, "hash_mismatch")
			return
		}
		g.adopt(snap, false)
	}
}

// applyRemote applies a bus message's patch to cur and checks the result
// against the announced hash.
func applyRemote(cur *Snapshot, m bus.Message) (*Snapshot, error) {
	next, ok := patch.ApplyState(cur.State, m.Patch)
	if !ok {
		// Not the kind DiffStates emits: the general path (and its
		// errors) decides.
		doc, err := patch.Apply(cur.Encoded, m.Patch)
		if err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		if next, err = game.Decode(doc); err != nil {
			return nil, fmt.Errorf("decode: %w", err)
		}
	}
	snap, err := newSnapshot(m.Version, next)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if snap.Hash != m.Hash {
		return nil, fmt.Errorf("hash %s, announced %s", snap.Hash, m.Hash)
	}
	return snap, nil
}

// reread queues userID's garden for a store read on the Remote's goroutine.
func (r *Remote) reread(userID, reason string) {
	r.mu.Lock()
	if _, ok := r.pending[userID]; !ok {
		r.pending[userID] = reason
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Remote) run() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with run: cancels store reads in flight at Close
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(r.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.wake:
			r.readPending(ctx)
		case reason := <-r.kick:
			r.reconcile(ctx, reason)
		case <-t.C:
			r.reconcile(ctx, "reconcile")
		}
	}
}

func (r *Remote) readPending(ctx context.Context) {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]string{}
	r.mu.Unlock()
	for userID, reason := range pending {
		if ctx.Err() != nil {
			return
		}
		r.refresh(ctx, userID, reason)
	}
}

// reconcile asks the store for the version of every garden held, in one
// query, and reads those that are behind.
func (r *Remote) reconcile(ctx context.Context, reason string) {
	ids, gardens := r.m.served()
	if len(ids) == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	versions, err := r.cfg.Store.Versions(qctx, ids)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.m.cfg.Logger.Warn("bus: reconciliation: version query failed", "err", err)
		}
		return
	}
	for i, id := range ids {
		v, ok := versions[id]
		if !ok {
			continue // never stored: nothing committed anywhere yet
		}
		g := gardens[i]
		g.actMu.Lock()
		behind := !g.stored || v > g.Current().Version
		g.actMu.Unlock()
		if behind {
			r.refresh(ctx, id, reason)
		}
	}
}

// refresh reads userID's garden from the store and adopts it if newer.
func (r *Remote) refresh(ctx context.Context, userID, reason string) {
	g := r.m.loaded(userID)
	if g == nil {
		return
	}
	r.cfg.Observer.GardenReread(reason)
	g.actMu.Lock()
	defer g.actMu.Unlock()
	if err := g.refresh(ctx); err != nil && ctx.Err() == nil {
		r.m.cfg.Logger.Warn("bus: read garden from the store", "user_id", userID, "reason", reason, "err", err)
	}
}

// freshen brings g, a garden already held, up to the store's version for
// a device arriving on this node (with a bus only; on a single node the
// garden is the store's). A device that moved here from another node (its
// node died or drained) may hold a version this node has not heard of yet
// (the bus delivers in milliseconds, reconciliation in seconds): the full
// state it gets first must not be older than what it held. One store read
// per arriving device; a failed read is logged and the device gets the
// version held (it catches up with the next message or pass).
func (m *Manager) freshen(ctx context.Context, g *Garden) {
	r := m.remote.Load()
	if r == nil || r.closed.Load() {
		return
	}
	g.actMu.Lock()
	defer g.actMu.Unlock()
	if err := g.refresh(ctx); err != nil && ctx.Err() == nil {
		m.cfg.Logger.Warn("bus: read garden for an arriving device", "user_id", g.userID, "err", err)
	}
}

// refresh adopts the store's version when it is newer than the current
// one, or when the current one was never stored. actMu must be held.
func (g *Garden) refresh(ctx context.Context) error {
	stored, found, err := g.cfg.Store.LoadGarden(ctx, g.userID)
	if err != nil {
		return fmt.Errorf("refresh garden %s: %w", g.userID, err)
	}
	cur := g.Current()
	if !found || (g.stored && stored.Version <= cur.Version) {
		return nil
	}
	snap, err := storedSnapshot(stored)
	if err != nil {
		return fmt.Errorf("refresh garden %s: %w", g.userID, err)
	}
	// A version never stored may name another state than the store's:
	// no patch from it is trustworthy (as in reload).
	reset := !g.stored || snap.Version <= cur.Version
	g.stored = true
	g.adopt(snap, reset)
	return nil
}

// adopt makes snap, a version committed elsewhere, the current one and
// tells the subscribers (origin nil: the change came from elsewhere).
// reset drops every patch base first, so that clients get the full state.
// actMu must be held, g.mu not.
func (g *Garden) adopt(snap *Snapshot, reset bool) {
	g.mu.Lock()
	var subs []Subscriber
	if reset {
		// Shown at once, outside the pace, like a reload: the version
		// clients hold may name another state.
		g.forgetBases()
		g.setCurrent(snap)
		g.showNow()
		subs = g.subs
	} else {
		// The same flush as a local change: shown at once after a quiet
		// interval, else with the garden's next tick.
		g.setCurrent(snap)
		if g.schedule(time.Now()) {
			subs = g.subs
		}
	}
	g.mu.Unlock()
	for _, sub := range subs {
		sub.Changed(snap, nil)
	}
}

// announce publishes a version this node committed, with the patch from
// base, for the other nodes serving the garden. actMu must be held (the
// order of announcements is the order of versions).
func (g *Garden) announce(base, snap *Snapshot) {
	if g.remote == nil {
		return
	}
	m := bus.Message{Version: snap.Version, Base: base.Version, Hash: snap.Hash}
	if p, err := patch.DiffStates(base.State, snap.State); err == nil {
		m.Patch = p
	} // else: without a patch, receivers read the store
	g.remote.cfg.Bus.Publish(g.userID, m)
}

// loaded returns userID's garden if it is held and loaded, without taking
// a reference (a garden released meanwhile stays valid, just unheard).
func (m *Manager) loaded(userID string) *Garden {
	m.mu.Lock()
	e := m.gardens[userID]
	m.mu.Unlock()
	if e == nil {
		return nil
	}
	select {
	case <-e.ready:
	default:
		return nil
	}
	if e.err != nil {
		return nil
	}
	return e.g
}

// served returns the loaded gardens and their users' ids.
func (m *Manager) served() ([]string, []*Garden) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.gardens))
	gs := make([]*Garden, 0, len(m.gardens))
	for id, e := range m.gardens {
		select {
		case <-e.ready:
			if e.err == nil {
				ids, gs = append(ids, id), append(gs, e.g)
			}
		default:
		}
	}
	return ids, gs
}

// watch subscribes the bus to userID's garden before it is loaded: the
// bus confirms the subscription first (while NATS is up), so no version
// committed after the load's read goes unheard; while NATS is down the
// reconnect's pass covers it.
func (m *Manager) watch(userID string) {
	if r := m.remote.Load(); r != nil {
		if err := r.cfg.Bus.Watch(userID); err != nil {
			m.cfg.Logger.Warn("bus: watch garden", "user_id", userID, "err", err)
		}
	}
}

// unwatch ends watch after the garden is unloaded.
func (m *Manager) unwatch(userID string) {
	if r := m.remote.Load(); r != nil {
		r.cfg.Bus.Unwatch(userID)
	}
}

type nopRemoteObserver struct{}

func (nopRemoteObserver) GardenReread(string) {}
func (nopRemoteObserver) PatchHashMismatch()  {}
