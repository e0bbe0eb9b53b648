// The localStorage fallback of the per-tab queue store, and reading the
// legacy shared key. (IndexedDbQueueStore runs in the browser suite:
// e2e/tabs_test.go.)

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { LEGACY_TAB, WebStorageQueueStore, parseSaved, readLegacyQueue, type SavedQueue } from '../src/game/index.js';
import { MemoryStorage, MemoryWebStorage } from './fakes.js';

const rec = (user: string, tab: string, queue = ''): SavedQueue => ({
  v: 2,
  user,
  tab,
  confirmed: null,
  queue,
  awaiting: { x: 3 },
  savedAt: 1,
});

describe('WebStorageQueueStore', () => {
  it('keeps one key per tab: two tabs never overwrite each other', async () => {
    const mem = new MemoryWebStorage();
    const store = new WebStorageQueueStore(mem);
    await store.save(rec('alice', 't1', 'q1'));
    await store.save(rec('alice', 't2', 'q2'));
    await store.save(rec('alice.b', 't3', 'q3')); // a user whose name extends alice's
    assert.deepEqual([...mem.map.keys()].sort(), ['cosmic.queue.v2.alice.b/t3', 'cosmic.queue.v2.alice/t1', 'cosmic.queue.v2.alice/t2']);
    assert.deepEqual((await store.load('alice', 't1'))?.queue, 'q1');
    assert.deepEqual(
      (await store.list('alice')).map((r) => [r.tab, r.queue]).sort(),
      [
        ['t1', 'q1'],
        ['t2', 'q2'],
      ],
    );
    await store.remove('alice', 't1');
    assert.equal(await store.load('alice', 't1'), undefined);
    assert.deepEqual((await store.list('alice')).map((r) => r.tab), ['t2']);
  });

  it('skips records it cannot read', async () => {
    const mem = new MemoryWebStorage();
    const store = new WebStorageQueueStore(mem);
    mem.setItem('cosmic.queue.v2.alice/bad', '{');
    mem.setItem('cosmic.queue.v2.alice/old', JSON.stringify({ v: 1, user: 'alice', tab: 'old', queue: '' }));
    await store.save(rec('alice', 'ok'));
    assert.deepEqual((await store.list('alice')).map((r) => r.tab), ['ok']);
  });
});

describe('parseSaved and readLegacyQueue', () => {
  it('parseSaved keeps only well-formed fields', () => {
    assert.equal(parseSaved({ ...rec('alice', 't'), user: 'bob' }, 'alice'), undefined);
    assert.equal(parseSaved({ ...rec('alice', 't'), tab: '' }, 'alice'), undefined);
    const r = parseSaved({ ...rec('alice', 't'), awaiting: { a: 1, b: 'x' }, confirmed: { state: 1 } }, 'alice');
    assert.deepEqual(r?.awaiting, { a: 1 });
    assert.equal(r?.confirmed, null);
  });

  it('reads the old single key as a record of the legacy tab', () => {
    const kv = new MemoryStorage();
    assert.equal(readLegacyQueue(kv, 'alice'), undefined);
    kv.set('cosmic.game.v1.alice', JSON.stringify({ v: 1, user: 'alice', confirmed: null, queue: 'Q', awaiting: { id: 4 } }));
    assert.deepEqual(readLegacyQueue(kv, 'alice'), {
      v: 2,
      user: 'alice',
      tab: LEGACY_TAB,
      confirmed: null,
      queue: 'Q',
      awaiting: { id: 4 },
      savedAt: 0,
    });
    kv.set('cosmic.game.v1.alice', '{broken');
    assert.equal(readLegacyQueue(kv, 'alice'), undefined);
  });
});
