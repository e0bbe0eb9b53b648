import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { unwrap, type Core } from '../src/core/index.js';
import {
  GameController,
  MAX_ACTION_AGE_MS,
  MAX_INTERNAL_RETRIES,
  RATE_LIMITED_RESEND_MS,
  WebStorageQueueStore,
  type GameControllerOptions,
  type QueueStore,
  type Toast,
} from '../src/game/index.js';
import { MemoryWebStorage } from './fakes.js';
import { FakeConn, FakeServer, garden } from './game.js';
import { testCore } from './wasm.js';

let core: Core;
before(async () => {
  core = await testCore();
});

const T0 = 1_700_000_000_000;

interface Harness {
  game: GameController;
  conn: FakeConn;
  server: FakeServer;
  store: QueueStore;
  toasts: Toast[];
  clock: { now: number };
  timers: (() => void)[];
}

function setup(over: Partial<GameControllerOptions> & { server?: FakeServer; prefix?: string } = {}): Harness {
  const clock = { now: T0 };
  const conn = (over.conn as FakeConn | undefined) ?? new FakeConn(over.prefix);
  const store = over.store ?? new WebStorageQueueStore(new MemoryWebStorage());
  const server = over.server ?? new FakeServer(core, garden('alice', T0));
  const timers: (() => void)[] = [];
  const game = new GameController({
    core,
    conn,
    store,
    tab: 'tab-1',
    userId: 'alice',
    now: () => clock.now,
    setTimeout: (fn) => timers.push(fn),
    ...over,
  });
  const toasts: Toast[] = [];
  game.on('toast', (t) => toasts.push(t));
  return { game, conn, server, store, toasts, clock, timers };
}

/** connect opens the connection and delivers the server's full state, as for a new session. */
function connect(h: Harness): void {
  h.conn.open();
  h.conn.deliver(h.server.full());
}

/** serve lets the server answer every action sent so far: results first, then the state updates. */
function serve(h: Harness, order: 'results-first' | 'state-first' = 'state-first'): void {
  const answers = h.conn.take().flatMap((m) =>
    m.type === 'CreateCelestialBody' || m.type === 'Research' || m.type === 'SaveGame'
      ? [h.server.apply(m, h.clock.now)]
      : [],
  );
  const results = answers.map((a) => a.result);
  const updates = answers.flatMap((a) => (a.update ? [a.update] : []));
  const msgs = order === 'results-first' ? [...results, ...updates] : [...updates, ...results];
  for (const m of msgs) h.conn.deliver(m);
}

const bodyIds = (h: Harness): string[] => Object.keys(h.game.snapshot.predicted?.bodies ?? {}).sort();
const pendingIds = (h: Harness): string[] => h.game.snapshot.pending.map((p) => p.id);

describe('GameController: server state', () => {
  it('adopts a full state: confirmed version and hash are the server\'s, and it is predicted as is', () => {
    const h = setup();
    const changes: number[] = [];
    h.game.on('change', (s) => changes.push(s.confirmed?.version ?? -1));
    connect(h);
    assert.deepEqual(changes, [1]);
    const s = h.game.snapshot;
    assert.equal(s.confirmed?.version, 1);
    assert.equal(s.confirmed?.hash, h.server.hash);
    assert.equal(s.predictedText, h.server.state);
    assert.equal(s.stats.hashMismatches, 0);
  });

  it('applies patches and checks each against the server hash', () => {
    const h = setup();
    connect(h);
    const next = { ...h.server.parsed, research: { stellar_fusion: 1 } };
    h.conn.deliver(h.server.replace(next));
    assert.equal(h.game.snapshot.confirmed?.version, 2);
    assert.equal(h.game.snapshot.confirmed?.hash, h.server.hash);
    assert.deepEqual(h.game.snapshot.predicted?.research, { stellar_fusion: 1 });
    assert.equal(h.game.snapshot.stats.hashMismatches, 0);
    assert.equal(h.conn.sent.length, 0, 'no GetState');
  });

  it('a patch whose result does not hash to the server\'s hash is counted, not adopted, and GetState is sent once', () => {
    const h = setup();
    connect(h);
    const good = h.server.replace({ ...h.server.parsed, research: { stellar_fusion: 1 } });
    assert.ok(!good.data.full);
    const bad = { ...good, data: { full: false as const, data: { ...good.data.data, hash: '0'.repeat(64) } } };
    h.conn.deliver(bad);
    assert.equal(h.game.snapshot.stats.hashMismatches, 1);
    assert.equal(h.game.snapshot.confirmed?.version, 1, 'the bad result is not adopted');
    assert.deepEqual(h.conn.take(), [{ type: 'GetState' }]);
    assert.equal(h.game.snapshot.stats.resyncs, 1);

    // Another bad patch while the GetState is in flight: counted, not re-asked.
    h.conn.deliver(bad);
    assert.equal(h.game.snapshot.stats.hashMismatches, 2);
    assert.deepEqual(h.conn.take(), []);

    // The full answer repairs it.
    h.conn.deliver(h.server.full());
    assert.equal(h.game.snapshot.confirmed?.version, 2);
    assert.equal(h.game.snapshot.confirmed?.hash, h.server.hash);
  });

  it('a gap in versions asks for the whole state; stale and duplicate patches are ignored', () => {
    const h = setup();
    connect(h);
    const u2 = h.server.replace({ ...h.server.parsed, research: { stellar_fusion: 1 } });
    const u3 = h.server.replace({ ...h.server.parsed, research: { stellar_fusion: 2 } });
    h.conn.deliver(u3); // base 2, we hold 1
    assert.deepEqual(h.conn.take(), [{ type: 'GetState' }]);
    assert.equal(h.game.snapshot.confirmed?.version, 1);
    h.conn.deliver(u2);
    h.conn.deliver(u3);
    assert.equal(h.game.snapshot.confirmed?.version, 3);
    h.conn.deliver(u2); // stale
    h.conn.deliver(u3); // duplicate
    assert.equal(h.game.snapshot.confirmed?.version, 3);
    assert.equal(h.game.snapshot.stats.hashMismatches, 0);
    assert.deepEqual(h.conn.take(), []);
  });
});

describe('GameController: actions', () => {
  it('sends an action at once when open, with an id from the connection', () => {
    const h = setup({ prefix: 'dev.x' });
    connect(h);
    const a = h.game.createBody('asteroid', { x: 10, y: -20, z: 0 });
    assert.ok(a.ok && a.sent);
    assert.equal(a.id, 'dev.x-1');
    assert.deepEqual(h.conn.sent, [
      { type: 'CreateCelestialBody', id: 'dev.x-1', data: { body_type: 'asteroid', position: { x: 10, y: -20, z: 0 } } },
    ]);
    assert.deepEqual(bodyIds(h), ['b-dev.x-1'], 'predicted at once');
    serve(h);
    assert.deepEqual(pendingIds(h), []);
    assert.equal(h.game.snapshot.confirmed?.hash, h.server.hash);
    assert.deepEqual(bodyIds(h), ['b-dev.x-1']);
    assert.deepEqual(
      h.toasts.map((t) => t.kind),
      ['success'],
    );
  });

  it('a local rule refusal is an error toast at once; nothing is queued or sent', async () => {
    const h = setup();
    connect(h);
    await h.game.flush();
    const before = await h.store.load('alice', 'tab-1');
    assert.ok(before !== undefined);
    const r = h.game.createBody('black_hole', { x: 0, y: 0, z: 0 });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.code === 'rejected');
    const far = h.game.createBody('asteroid', { x: 1e7, y: 0, z: 0 });
    assert.equal(far.ok, false);
    assert.equal(h.toasts.length, 2);
    assert.ok(h.toasts.every((t) => t.kind === 'error'));
    assert.match(h.toasts[0]?.message ?? '', /requires research/);
    assert.deepEqual(h.conn.sent, []);
    assert.deepEqual(pendingIds(h), []);
    await h.game.flush();
    assert.deepEqual(await h.store.load('alice', 'tab-1'), before);
  });

  it('before the first state there is nothing to predict on: an error toast, nothing queued', () => {
    const h = setup();
    const r = h.game.research('stellar_fusion');
    assert.ok(!r.ok && r.code === 'no_state');
    assert.equal(h.toasts[0]?.kind, 'error');
  });

  it('offline pushes persist and replay, in order and with their original ids, after a reload', async () => {
    const store = new WebStorageQueueStore(new MemoryWebStorage());
    const server = new FakeServer(core, garden('alice', T0));
    const first = setup({ store, server, prefix: 'dev.tab1' });
    connect(first);
    first.conn.drop();
    first.clock.now += 5000;
    const a = first.game.createBody('asteroid', { x: 1, y: 2, z: 0 });
    const b = first.game.research('stellar_fusion');
    const c = first.game.createBody('planet', { x: -300, y: 400, z: 0 });
    assert.ok(a.ok && b.ok && c.ok);
    assert.ok(!a.sent && !b.sent && !c.sent);
    assert.deepEqual(first.conn.sent, [], 'nothing sent while offline');
    const ids = [a.id, b.id, c.id];
    assert.deepEqual(pendingIds(first), ids);
    assert.deepEqual(bodyIds(first), [`b-${a.id}`, `b-${c.id}`]);
    assert.equal(first.game.snapshot.predicted?.research['stellar_fusion'], 1);

    // Reload: a new page, a new connection (new id prefix), the same storage.
    first.game.dispose();
    await first.game.flush();
    const saved = await store.load('alice', 'tab-1');
    assert.ok(saved !== undefined);
    const second = setup({ store, server, prefix: 'dev.tab1b', saved });
    assert.deepEqual(pendingIds(second), ids, 'the queue survived the reload');
    assert.deepEqual(bodyIds(second), [`b-${a.id}`, `b-${c.id}`]);
    assert.equal(second.game.snapshot.confirmed?.hash, server.hash);

    second.conn.open(true);
    assert.deepEqual(
      second.conn.actions().map((m) => [m.type, m.id]),
      [
        ['CreateCelestialBody', a.id],
        ['Research', b.id],
        ['CreateCelestialBody', c.id],
      ],
      'replayed in order with the original ids',
    );
    assert.equal(second.game.snapshot.stats.replayed, 3);
    serve(second);
    assert.deepEqual(pendingIds(second), []);
    assert.equal(second.game.snapshot.confirmed?.hash, server.hash);
    assert.equal(second.game.snapshot.predictedText, server.state);
    assert.equal(Object.keys(server.parsed.bodies).length, 2);
    assert.deepEqual(
      second.toasts.map((t) => t.kind),
      ['success', 'success', 'success'],
    );

    // Nothing left to replay on the next connection.
    second.conn.drop();
    second.conn.open(true);
    assert.deepEqual(second.conn.actions(), []);
  });

  it('replays an unanswered action after every reconnect; the server applies it once', () => {
    const h = setup();
    connect(h);
    const a = h.game.createBody('moon', { x: 5, y: 5, z: 0 });
    assert.ok(a.ok && a.sent);
    const sent = h.conn.take();
    h.server.apply(sent[0]!, h.clock.now); // applied, but the answer is lost with the connection
    h.conn.drop();
    h.conn.open(true);
    assert.deepEqual(
      h.conn.actions().map((m) => m.id),
      [a.id],
    );
    h.conn.drop();
    h.conn.open(true);
    assert.deepEqual(
      h.conn.actions().map((m) => m.id),
      [a.id, a.id],
    );
    const answers = h.conn.take().map((m) => h.server.apply(m, h.clock.now));
    assert.ok(answers.every((x) => x.update === undefined), 'a repeated id changes nothing');
    assert.equal(Object.keys(h.server.parsed.bodies).length, 1);
  });

  it('a server refusal shows an error toast and the optimistic change rolls back', () => {
    const h = setup();
    connect(h);
    h.conn.drop();
    const star = h.game.createBody('star', { x: 0, y: 0, z: 0 });
    assert.ok(star.ok);
    assert.deepEqual(bodyIds(h), [`b-${star.id}`], 'shown at once');
    // Meanwhile another device spent everything.
    const poor = { ...h.server.parsed, resources: { energy: 0, stardust: 0 } };
    const update = h.server.replace(poor);
    h.conn.open(true);
    h.conn.deliver(update);
    assert.equal(h.game.snapshot.skipped[0]?.id, star.id, 'the prediction now refuses it too');
    serve(h);
    const err = h.toasts.find((t) => t.kind === 'error');
    assert.ok(err, JSON.stringify(h.toasts));
    assert.match(err.message, /resources/);
    assert.equal(err.actionId, star.id);
    assert.deepEqual(pendingIds(h), []);
    assert.deepEqual(bodyIds(h), [], 'rolled back');
    assert.equal(h.game.snapshot.predictedText, h.server.state);
  });

  it('a success answered before its state keeps the change predicted until the state arrives', () => {
    const h = setup();
    connect(h);
    const r = h.game.research('asteroid_mining');
    assert.ok(r.ok);
    const answer = h.server.apply(h.conn.take()[0]!, h.clock.now);
    h.conn.deliver(answer.result);
    assert.equal(h.toasts[0]?.kind, 'success');
    assert.deepEqual(pendingIds(h), [r.id], 'kept until the state holds it');
    assert.equal(h.game.snapshot.predicted?.research['asteroid_mining'], 1);
    assert.ok(answer.update);
    h.conn.deliver(answer.update);
    assert.deepEqual(pendingIds(h), []);
    assert.equal(h.game.snapshot.predicted?.research['asteroid_mining'], 1, 'not applied twice');
    assert.equal(h.game.snapshot.predictedText, h.server.state);
  });

  it('with nothing pending the prediction is the confirmed garden, without a queuePredict per update', () => {
    let predicts = 0;
    const counting = new Proxy(core, {
      get(target, prop, receiver) {
        if (prop === 'queuePredict') predicts++;
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const h = setup({ core: counting });
    connect(h);
    predicts = 0;
    // Another device adds bodies: patches, nothing pending here.
    for (let i = 0; i < 3; i++) {
      const next = h.server.parsed;
      next.bodies[`b-other-${i}`] = { id: `b-other-${i}`, type: 'asteroid', position: { x: i, y: 1, z: 0 }, created_at: T0 };
      h.conn.deliver(h.server.replace(next));
      assert.equal(h.game.snapshot.confirmed?.hash, h.server.hash);
      assert.equal(h.game.snapshot.predictedText, h.server.state);
      assert.equal(h.game.snapshot.predictedText, unwrap(core.queuePredict(unwrap(core.queueRebase('', h.server.version, h.server.state)).queue)).predicted);
      assert.deepEqual(h.game.snapshot.skipped, []);
    }
    assert.equal(predicts, 0);
    // With an action pending the core predicts.
    const r = h.game.research('asteroid_mining');
    assert.ok(r.ok);
    assert.ok(predicts > 0);
    assert.equal(h.game.snapshot.predicted?.research['asteroid_mining'], 1);
  });

  it('answers in either order converge on the server state', () => {
    const h = setup();
    connect(h);
    for (let i = 0; i < 5; i++) h.game.createBody('comet', { x: i * 10, y: 0, z: 0 });
    h.game.research('gravity_wells');
    serve(h, 'results-first');
    assert.deepEqual(pendingIds(h), []);
    assert.equal(h.game.snapshot.predictedText, h.server.state);
    assert.equal(h.game.snapshot.confirmed?.hash, h.server.hash);
  });

  it('Error invalid_data drops the action with an error toast; Error rate_limited sends it again later', () => {
    const h = setup();
    connect(h);
    const a = h.game.createBody('asteroid', { x: 1, y: 1, z: 0 });
    const b = h.game.createBody('asteroid', { x: 2, y: 2, z: 0 });
    assert.ok(a.ok && b.ok);
    h.conn.take();
    h.conn.deliver({ type: 'Error', id: b.id, data: { code: 'rate_limited', message: 'slow down' } });
    assert.equal(h.timers.length, 1);
    h.conn.deliver({ type: 'Error', id: a.id, seq: 9, data: { code: 'invalid_data', message: 'data.position: bad' } });
    assert.deepEqual(pendingIds(h), [b.id]);
    assert.equal(h.toasts.at(-1)?.kind, 'error');
    h.timers[0]!();
    assert.deepEqual(
      h.conn.actions().map((m) => m.id),
      [b.id],
    );
    assert.ok(RATE_LIMITED_RESEND_MS > 0);
  });

  it('Error internal resends with the same id a few times, then gives up', () => {
    const h = setup();
    connect(h);
    const a = h.game.research('stellar_fusion');
    assert.ok(a.ok);
    h.conn.take();
    for (let i = 0; i < MAX_INTERNAL_RETRIES; i++) {
      h.conn.deliver({ type: 'Error', id: a.id, seq: 10 + i, data: { code: 'internal', message: 'oops' } });
      assert.equal(h.timers.length, i + 1);
      h.timers[i]!();
      assert.deepEqual(
        h.conn.take().map((m) => (m.type === 'Research' ? m.id : m.type)),
        [a.id],
      );
    }
    h.conn.deliver({ type: 'Error', id: a.id, seq: 20, data: { code: 'internal', message: 'oops' } });
    assert.deepEqual(pendingIds(h), []);
    assert.equal(h.toasts.at(-1)?.kind, 'error');
  });

  it('ignores results for ids it does not know (a RefreshToken\'s answer)', () => {
    const h = setup();
    connect(h);
    h.conn.deliver({ type: 'ActionResult', id: 'dev.aaaa-99', seq: 5, data: { success: true, message: 'token refreshed' } });
    assert.deepEqual(h.toasts, []);
  });

  it('ignores a corrupt or foreign storage entry', async () => {
    const mem = new MemoryWebStorage();
    const store = new WebStorageQueueStore(mem);
    mem.setItem('cosmic.queue.v2.alice/tab-1', '{not json');
    assert.equal(await store.load('alice', 'tab-1'), undefined);
    mem.setItem('cosmic.queue.v2.alice/tab-1', JSON.stringify({ v: 2, user: 'mallory', tab: 'tab-1', confirmed: null, queue: '', awaiting: {} }));
    assert.equal(await store.load('alice', 'tab-1'), undefined);
    // A record the core cannot read is not restored either.
    const h = setup({ saved: { v: 2, user: 'alice', tab: 'tab-1', confirmed: null, queue: '{"pending":7}', awaiting: {}, savedAt: 0 } });
    assert.equal(h.game.snapshot.predicted, null);
    assert.deepEqual(h.game.snapshot.pending, []);
  });

  it('projects resources with growth for display, without changing the model', () => {
    const h = setup();
    connect(h);
    const before = h.game.snapshot.predictedText;
    const r = h.game.projected(T0 + 60_000);
    assert.ok(r !== undefined && r.stardust > 2000 && r.energy > 1000, JSON.stringify(r));
    assert.equal(h.game.snapshot.predictedText, before);
    const p = h.game.preview('CreateCelestialBody', { body_type: 'star', position: { x: 0, y: 0, z: 0 } });
    assert.ok(p.ok);
  });
});

describe('GameController: the 30-day bound on replays', () => {
  it('is 30 days, the server\'s idempotency window (docs/protocol.md §2)', () => {
    assert.equal(MAX_ACTION_AGE_MS, 30 * 24 * 60 * 60 * 1000);
  });

  it('drops, with one error toast, queued actions older than 30 days instead of replaying them', () => {
    const h = setup();
    connect(h);
    h.conn.drop();
    const old = h.game.createBody('asteroid', { x: 1, y: 1, z: 0 });
    h.clock.now += 1000;
    const fresh = h.game.research('stellar_fusion');
    assert.ok(old.ok && fresh.ok);
    // Exactly 30 days after the first: still within the bound.
    h.clock.now = T0 + MAX_ACTION_AGE_MS;
    h.conn.open(true);
    assert.deepEqual(h.conn.actions().map((m) => m.id), [old.id, fresh.id]);
    h.conn.take();
    h.conn.drop();
    // One millisecond later the first is past it; the second is not.
    h.clock.now += 1;
    h.conn.open(true);
    assert.deepEqual(h.conn.actions().map((m) => m.id), [fresh.id], 'the old one is not sent');
    assert.deepEqual(pendingIds(h), [fresh.id]);
    assert.deepEqual(bodyIds(h), [], 'and no longer drawn');
    const toast = h.toasts.at(-1);
    assert.equal(toast?.kind, 'error');
    assert.match(toast?.message ?? '', /older than 30 days was dropped/);
  });

  it('drops expired actions of a restored or adopted queue at once (the page calls dropExpired after a reload)', async () => {
    const store = new WebStorageQueueStore(new MemoryWebStorage());
    const first = setup({ store });
    connect(first);
    first.conn.drop();
    const ids = [first.game.createBody('moon', { x: 0, y: 0, z: 0 }), first.game.createBody('moon', { x: 9, y: 0, z: 0 })].map((r) => (r.ok ? r.id : ''));
    await first.game.flush();
    const saved = await store.load('alice', 'tab-1');
    assert.ok(saved !== undefined);

    const later = setup({ store, saved, tab: 'tab-2' });
    later.clock.now = T0 + MAX_ACTION_AGE_MS + 1;
    assert.equal(later.game.dropExpired(), 2);
    assert.deepEqual(pendingIds(later), []);
    assert.match(later.toasts[0]?.message ?? '', /^2 offline actions older than 30 days were dropped/);

    const adopter = setup({ tab: 'tab-3' });
    connect(adopter);
    adopter.clock.now = T0 + MAX_ACTION_AGE_MS + 1;
    assert.equal(adopter.game.adoptQueue(saved), 0, 'joined, then dropped as expired');
    assert.deepEqual(pendingIds(adopter), []);
    assert.deepEqual(adopter.conn.actions(), [], 'never sent');
    assert.equal(ids.length, 2);
  });
});

describe('GameController: other tabs\' queues', () => {
  it('adoptQueue keeps ids and times, sends at once when open, and never takes an id twice', async () => {
    const store = new WebStorageQueueStore(new MemoryWebStorage());
    const other = setup({ store, tab: 'tab-2', prefix: 'dev.other' });
    connect(other);
    other.conn.drop();
    other.clock.now += 7000;
    const r = other.game.createBody('star', { x: 0, y: 0, z: 0 });
    assert.ok(r.ok);
    await other.game.flush();
    const rec = await store.load('alice', 'tab-2');
    assert.ok(rec !== undefined);

    const h = setup({ store });
    connect(h);
    // A poorer garden here: the rules would refuse the star, but adopting keeps it (the server decides).
    h.conn.deliver(h.server.replace({ ...h.server.parsed, resources: { energy: 0, stardust: 0 } }));
    assert.equal(h.game.adoptQueue(rec), 1);
    assert.deepEqual(h.game.snapshot.pending.map((p) => [p.id, p.queued_at]), [[r.id, T0 + 7000]]);
    assert.deepEqual(h.game.snapshot.skipped.map((s) => s.id), [r.id], 'drawn as likely refused');
    assert.deepEqual(h.conn.actions().map((m) => m.id), [r.id], 'sent at once');
    assert.equal(h.game.adoptQueue(rec), 0, 'a second adoption adds nothing');
    assert.deepEqual(pendingIds(h), [r.id]);
  });

  it('setPeerPending draws another tab\'s actions without queueing, persisting or sending them', async () => {
    const h = setup();
    connect(h);
    const other = setup({ tab: 'tab-2', prefix: 'dev.other' });
    connect(other);
    other.conn.drop();
    const r = other.game.createBody('planet', { x: 50, y: 50, z: 0 });
    assert.ok(r.ok);
    h.game.setPeerPending('tab-2', other.game.snapshot.pending);
    assert.deepEqual(bodyIds(h), [`b-${r.id}`]);
    assert.equal(h.game.snapshot.peerPending, 1);
    assert.deepEqual(pendingIds(h), []);
    h.conn.drop();
    h.conn.open(true);
    assert.deepEqual(h.conn.actions(), []);
    await h.game.flush();
    const saved = await h.store.load('alice', 'tab-1');
    assert.deepEqual(saved?.queue === '' ? [] : unwrap(core.queuePending(saved?.queue ?? '')), []);
    h.game.setPeerPending('tab-2', []);
    assert.deepEqual(bodyIds(h), []);
  });
});
