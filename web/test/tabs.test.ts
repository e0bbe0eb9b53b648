// Tabs of one browser: tab ids and duplicates (claimTab), adoption of a
// closed tab's queue (TabWatcher), and the pending actions tabs show each
// other (TabPeers). Web Locks, BroadcastChannel and storage are fakes; the
// controllers and the core are real.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { Core } from '../src/core/index.js';
import {
  GameController,
  TAB_KEY,
  TabPeers,
  TabWatcher,
  WebStorageQueueStore,
  adoptLegacy,
  claimTab,
  readLegacyQueue,
  tabLockName,
  type QueueStore,
  type SavedQueue,
  type Toast,
} from '../src/game/index.js';
import { ChannelHub, LockHub, MemoryStorage, MemoryWebStorage, settle, type FakeLocks } from './fakes.js';
import { FakeConn, FakeServer, garden } from './game.js';
import { testCore } from './wasm.js';

let core: Core;
before(async () => {
  core = await testCore();
});

const T0 = 1_700_000_000_000;

describe('claimTab', () => {
  const ids = (): (() => string) => {
    let n = 0;
    return () => `t${++n}`;
  };

  it('a first visit takes a new id and holds its lock', async () => {
    const hub = new LockHub();
    const storage = new MemoryStorage();
    const claim = await claimTab({ storage, locks: hub.client(), newId: ids() });
    assert.deepEqual(claim, { id: 't1', duplicate: false, locked: true });
    assert.equal(storage.get(TAB_KEY), 't1');
    assert.ok(hub.held.has(tabLockName('t1')));
  });

  it('a reload keeps its id, even when the old page releases the lock only after the new one asks', async () => {
    const hub = new LockHub();
    const storage = new MemoryStorage();
    const oldPage = hub.client();
    await claimTab({ storage, locks: oldPage, newId: ids() });
    const newPage = hub.client();
    const claiming = claimTab({ storage, locks: newPage, newId: () => 'fresh', waitSignal: () => new AbortController().signal });
    await settle();
    oldPage.close(); // the old document goes away a moment later
    assert.deepEqual(await claiming, { id: 't1', duplicate: false, locked: true });
  });

  it('a duplicated tab (a copy of sessionStorage, the original alive) takes a new id', async () => {
    const hub = new LockHub();
    const original = new MemoryStorage();
    await claimTab({ storage: original, locks: hub.client(), newId: () => 'orig' });
    const copy = new MemoryStorage();
    for (const [k, v] of original.map) copy.set(k, v);
    const claim = await claimTab({ storage: copy, locks: hub.client(), newId: () => 'dup', waitSignal: () => AbortSignal.abort() });
    assert.deepEqual(claim, { id: 'dup', duplicate: true, locked: true });
    assert.equal(copy.get(TAB_KEY), 'dup');
    assert.equal(original.get(TAB_KEY), 'orig', 'the original keeps its id');
  });

  it('without Web Locks the stored id is kept (duplicates cannot be told)', async () => {
    const storage = new MemoryStorage();
    storage.set(TAB_KEY, 'old');
    assert.deepEqual(await claimTab({ storage, locks: undefined, newId: () => 'new' }), { id: 'old', duplicate: false, locked: false });
  });
});

/** A tab: its locks, a controller over a shared store and server, its watcher and peers. */
interface Tab {
  id: string;
  locks: FakeLocks;
  conn: FakeConn;
  game: GameController;
  watcher: TabWatcher;
  peers: TabPeers;
  toasts: Toast[];
  adopted: number[];
}

interface World {
  hub: LockHub;
  channels: ChannelHub;
  store: QueueStore;
  server: FakeServer;
  clock: { now: number };
}

function world(store?: QueueStore): World {
  return {
    hub: new LockHub(),
    channels: new ChannelHub(),
    store: store ?? new WebStorageQueueStore(new MemoryWebStorage()),
    server: new FakeServer(core, garden('alice', T0)),
    clock: { now: T0 },
  };
}

async function openTab(w: World, id: string): Promise<Tab> {
  const locks = w.hub.client();
  await claimTab({ storage: new MemoryStorage(), locks, newId: () => id });
  const conn = new FakeConn(`dev.${id}`);
  const saved = await w.store.load('alice', id);
  const game = new GameController({
    core,
    conn,
    store: w.store,
    tab: id,
    userId: 'alice',
    now: () => w.clock.now,
    setTimeout: () => undefined,
    ...(saved ? { saved } : {}),
  });
  const toasts: Toast[] = [];
  game.on('toast', (t) => toasts.push(t));
  const adopted: number[] = [];
  const watcher = new TabWatcher({ user: 'alice', tab: id, store: w.store, locks, game, onAdopted: (_t, n) => adopted.push(n) });
  await watcher.start();
  const peers = new TabPeers({ tab: id, channel: w.channels.channel(), game, onPeer: (p) => watcher.watch(p), forgetOnBye: false });
  peers.start();
  return { id, locks, conn, game, watcher, peers, toasts, adopted };
}

/** online connects a tab and serves its full state. */
function online(w: World, t: Tab): void {
  t.conn.open();
  t.conn.deliver(w.server.full());
}

/** offlineActions places n asteroids while offline and returns their ids. */
function offlineActions(t: Tab, n: number, y: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = t.game.createBody('asteroid', { x: 10 * i, y, z: 0 });
    assert.ok(r.ok && !r.sent, JSON.stringify(r));
    ids.push(r.id);
  }
  return ids;
}

/** closeTab is the page going away: no goodbye, its locks released. */
function closeTab(t: Tab): void {
  t.game.dispose();
  t.locks.close();
}

const pendingIds = (t: Tab): string[] => t.game.snapshot.pending.map((p) => p.id);

describe('TabWatcher: a closed tab\'s queue is adopted', () => {
  it('two tabs offline, three actions each, one closed: the other sends all six, with their original ids, once', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    const b = await openTab(w, 'b');
    online(w, a);
    online(w, b);
    a.conn.drop();
    b.conn.drop();
    w.clock.now += 1000;
    const mine = offlineActions(a, 3, 100);
    const theirs = offlineActions(b, 3, -100);
    const theirTimes = b.game.snapshot.pending.map((p) => p.queued_at);
    await settle();
    // Each tab draws the other's actions, but queues only its own.
    assert.equal(a.game.snapshot.peerPending, 3);
    assert.equal(Object.keys(a.game.snapshot.predicted?.bodies ?? {}).length, 6);
    assert.deepEqual(pendingIds(a), mine);

    await b.game.flush();
    closeTab(b);
    await settle();
    assert.deepEqual(pendingIds(a), [...mine, ...theirs], 'adopted in order, with the original ids');
    assert.deepEqual(
      a.game.snapshot.pending.slice(3).map((p) => p.queued_at),
      theirTimes,
      'and the original queued_at',
    );
    assert.equal(a.game.snapshot.peerPending, 0, 'no longer drawn as another tab\'s');
    assert.deepEqual(a.adopted, [3]);
    assert.equal(await w.store.load('alice', 'b'), undefined, 'the closed tab\'s record is gone');
    const aRec = await w.store.load('alice', 'a');
    assert.ok(aRec !== undefined);
    assert.deepEqual(unwrapPending(aRec).map((p) => p.id), [...mine, ...theirs], 'durably in a\'s record');

    a.conn.open(true);
    const sent = a.conn.actions().map((m) => m.id);
    assert.deepEqual(sent, [...mine, ...theirs], 'each id sent once');
    for (const m of a.conn.take()) {
      const ans = w.server.apply(m, w.clock.now);
      a.conn.deliver(ans.result);
      if (ans.update) a.conn.deliver(ans.update);
    }
    assert.equal(Object.keys(w.server.parsed.bodies).length, 6);
    assert.deepEqual(pendingIds(a), []);
  });

  it('the closed tab\'s record is deleted only after the adopting tab\'s own record holds its actions', async () => {
    const log: string[] = [];
    const inner = new WebStorageQueueStore(new MemoryWebStorage());
    const store: QueueStore = {
      kind: inner.kind,
      load: (u, t) => inner.load(u, t),
      list: (u) => inner.list(u),
      save: async (rec: SavedQueue) => {
        await inner.save(rec);
        log.push(`save ${rec.tab} ${(unwrapPending(rec).length)}`);
      },
      remove: async (u, t) => {
        await inner.remove(u, t);
        log.push(`remove ${t}`);
      },
    };
    const w = world(store);
    const a = await openTab(w, 'a');
    const b = await openTab(w, 'b');
    online(w, a);
    online(w, b);
    b.conn.drop();
    offlineActions(b, 2, 0);
    await b.game.flush();
    log.length = 0;
    closeTab(b);
    await settle();
    assert.deepEqual(log, ['save a 2', 'remove b']);
  });

  it('if the adopting tab cannot write its record, the closed tab\'s record stays', async () => {
    const inner = new WebStorageQueueStore(new MemoryWebStorage());
    let failA = false;
    const store: QueueStore = {
      kind: inner.kind,
      load: (u, t) => inner.load(u, t),
      list: (u) => inner.list(u),
      save: (rec) => (failA && rec.tab === 'a' ? Promise.reject(new Error('quota')) : inner.save(rec)),
      remove: (u, t) => inner.remove(u, t),
    };
    const w = world(store);
    const a = await openTab(w, 'a');
    const b = await openTab(w, 'b');
    online(w, a);
    online(w, b);
    b.conn.drop();
    const ids = offlineActions(b, 2, 0);
    await b.game.flush();
    failA = true;
    closeTab(b);
    await settle();
    const kept = await inner.load('alice', 'b');
    assert.ok(kept !== undefined, 'kept for a later adoption');
    assert.deepEqual(unwrapPending(kept).map((p) => p.id), ids);
  });

  it('two live tabs watching one closed tab: exactly one adopts it', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    const c = await openTab(w, 'c');
    const b = await openTab(w, 'b');
    for (const t of [a, b, c]) online(w, t);
    b.conn.drop();
    const ids = offlineActions(b, 2, 0);
    await b.game.flush();
    closeTab(b);
    await settle();
    const holders = [a, c].filter((t) => ids.every((id) => pendingIds(t).includes(id)));
    assert.equal(holders.length, 1, `adopted by ${holders.map((t) => t.id).join(',')}`);
    for (const t of [a, c]) {
      // The other one draws them as the adopter's: once each, none lost.
      assert.equal(Object.keys(t.game.snapshot.predicted?.bodies ?? {}).length, 2, t.id);
    }
  });

  it('a tab started after another closed adopts its saved record at start', async () => {
    const w = world();
    const b = await openTab(w, 'b');
    online(w, b);
    b.conn.drop();
    const ids = offlineActions(b, 2, 0);
    await b.game.flush();
    closeTab(b);
    const a = await openTab(w, 'a');
    await settle();
    assert.deepEqual(pendingIds(a), ids);
  });

  it('the queue under the old shared localStorage key is adopted, then the key is removed', async () => {
    const w = world();
    // What the previous page version wrote (cosmic.game.v1.<user>).
    const oldTab = await openTab(w, 'old');
    online(w, oldTab);
    oldTab.conn.drop();
    const ids = offlineActions(oldTab, 2, 0);
    await oldTab.game.flush();
    const rec = await w.store.load('alice', 'old');
    assert.ok(rec);
    const legacy = new MemoryStorage();
    legacy.set('cosmic.game.v1.alice', JSON.stringify({ v: 1, user: 'alice', confirmed: rec.confirmed, queue: rec.queue, awaiting: {} }));
    await w.store.remove('alice', 'old');
    closeTab(oldTab);

    const a = await openTab(w, 'a');
    const found = readLegacyQueue(legacy, 'alice');
    assert.ok(found !== undefined);
    const n = await adoptLegacy(a.game, found, () => legacy.map.delete('cosmic.game.v1.alice'));
    assert.equal(n, 2);
    assert.deepEqual(pendingIds(a), ids);
    assert.equal(a.game.snapshot.confirmed?.hash, rec.confirmed?.hash, 'its garden too, for a tab that starts offline');
    assert.equal(legacy.get('cosmic.game.v1.alice'), undefined);
    assert.deepEqual(unwrapPending((await w.store.load('alice', 'a'))!).map((p) => p.id), ids, 'durably ours before the key went');
  });
});

describe('TabWatcher.dispose', () => {
  it('a disposed watcher (logout) adopts nothing', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    const b = await openTab(w, 'b');
    online(w, a);
    online(w, b);
    b.conn.drop();
    const ids = offlineActions(b, 1, 0);
    await b.game.flush();
    a.watcher.dispose();
    closeTab(b);
    await settle();
    assert.deepEqual(pendingIds(a), []);
    assert.deepEqual(unwrapPending((await w.store.load('alice', 'b'))!).map((p) => p.id), ids, 'left for another tab');
  });
});

describe('TabPeers: tabs draw each other\'s pending actions', () => {
  it('an action queued in one tab is drawn, not queued, in the other; it leaves both once the server applied it', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    const b = await openTab(w, 'b');
    online(w, a);
    online(w, b);
    a.conn.drop();
    const [id] = offlineActions(a, 1, 0);
    assert.equal(b.game.snapshot.peerPending, 1);
    assert.ok(b.game.snapshot.predicted?.bodies[`b-${id}`] !== undefined, 'drawn in b');
    assert.deepEqual(pendingIds(b), [], 'never queued in b');

    // a comes back online and the server applies it: both converge.
    a.conn.open(true);
    const ans = w.server.apply(a.conn.take()[0]!, w.clock.now);
    for (const t of [a, b]) {
      if (ans.update) t.conn.deliver(ans.update);
    }
    a.conn.deliver(ans.result);
    assert.deepEqual(pendingIds(a), []);
    assert.equal(b.game.snapshot.peerPending, 0);
    assert.equal(b.game.snapshot.predictedText, w.server.state);
    assert.deepEqual(b.conn.actions(), [], 'b never sent a\'s action');
  });

  it('without Web Locks a goodbye forgets the tab\'s actions (nobody will adopt them)', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    online(w, a);
    const channel = w.channels.channel();
    const peers = new TabPeers({ tab: 'a2', channel, game: a.game, forgetOnBye: true });
    peers.start();
    const other = w.channels.channel();
    const p = { id: 'x.y-1', type: 'Research' as const, data: { topic: 'stellar_fusion' }, queued_at: T0 };
    other.postMessage({ kind: 'pending', tab: 'z', pending: [p] });
    assert.equal(a.game.snapshot.peerPending, 1);
    other.postMessage({ kind: 'bye', tab: 'z' });
    assert.equal(a.game.snapshot.peerPending, 0);
    other.postMessage({ kind: 'pending', tab: 'z', pending: 'nonsense' });
    assert.equal(a.game.snapshot.peerPending, 0, 'malformed messages are ignored');
    peers.dispose();
  });

  it('a tab that starts later hears the others\' pending actions (hello)', async () => {
    const w = world();
    const a = await openTab(w, 'a');
    online(w, a);
    a.conn.drop();
    offlineActions(a, 2, 0);
    const b = await openTab(w, 'b');
    online(w, b);
    assert.equal(b.game.snapshot.peerPending, 2);
  });
});

function unwrapPending(rec: SavedQueue): { id: string }[] {
  if (rec.queue === '') return [];
  const r = core.queuePending(rec.queue);
  assert.ok(r.ok);
  return r.value;
}
