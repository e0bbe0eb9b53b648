/**
 * Where each tab's offline queue persists: one {@link SavedQueue} per user
 * and tab, behind the small {@link QueueStore} interface, so that the game
 * controller and the adoption of closed tabs' queues (`tabs.ts`) run in
 * node:test against a fake.
 *
 * - {@link IndexedDbQueueStore}: the browser's store for offline data, as
 *   the browsers' own offline apps use it. A write resolves once its
 *   transaction has committed with `durability: 'strict'`.
 * - {@link WebStorageQueueStore}: the synchronous fallback, one
 *   `localStorage` key per tab, where IndexedDB is missing (the page says so).
 * - {@link readLegacyQueue}: the single `localStorage` key every tab shared
 *   before (`cosmic.game.v1.<user>`), read once so its queue is adopted,
 *   not lost.
 *
 * @module
 */

import type { KeyValueStorage } from '../conn/client.js';
import type { JsonText, QueueText } from '../core/index.js';

/** Confirmed is the last state the server sent, as canonical text, with its version and hash (protocol.md §4). */
export interface Confirmed {
  state: JsonText;
  version: number;
  hash: string;
}

/**
 * SavedQueue is what one tab persists after every change of its model: the
 * confirmed state, the core's queue text (with the pending actions, their
 * original ids and `queued_at`), and the successful actions still waiting
 * for the state that holds them (id → version).
 */
export interface SavedQueue {
  v: 2;
  user: string;
  /** The tab that owns the record; its Web Lock says whether it lives (`tabs.ts`). */
  tab: string;
  confirmed: Confirmed | null;
  queue: QueueText;
  awaiting: Record<string, number>;
  /** When the record was written (Unix ms), for people reading storage. */
  savedAt: number;
}

/** StoreKind names the implementation, for the page's note. */
export type StoreKind = 'indexeddb' | 'localstorage';

/**
 * QueueStore persists one {@link SavedQueue} per (user, tab). Every method
 * may reject (quota, private mode, a storage the browser wiped); callers
 * treat persistence as best effort except where they wait for `save` before
 * deleting something else.
 */
export interface QueueStore {
  readonly kind: StoreKind;
  /** load returns the record of (user, tab), or undefined. */
  load(user: string, tab: string): Promise<SavedQueue | undefined>;
  /** list returns every record of `user`, whatever tab wrote it. */
  list(user: string): Promise<SavedQueue[]>;
  /** save replaces the record of (rec.user, rec.tab); it resolves once the write is durable. */
  save(rec: SavedQueue): Promise<void>;
  /** remove deletes the record of (user, tab), if any. */
  remove(user: string, tab: string): Promise<void>;
}

/** LEGACY_PREFIX + user id was the one `localStorage` key all tabs of a browser shared (last writer wins). */
export const LEGACY_PREFIX = 'cosmic.game.v1.';
/** LEGACY_TAB is the tab id under which a legacy record is adopted. */
export const LEGACY_TAB = 'legacy-v1';
/** WEB_STORAGE_PREFIX + `<user>/<tab>` is a record's key in the `localStorage` fallback. */
export const WEB_STORAGE_PREFIX = 'cosmic.queue.v2.';
/** DB_NAME and DB_STORE: the IndexedDB database and object store (key path `[user, tab]`). */
export const DB_NAME = 'cosmic';
export const DB_STORE = 'queues';

/**
 * parseSaved checks that `v` is a {@link SavedQueue} of `user` (from storage
 * another version of the page, or the player, may have written) and
 * returns it, or undefined.
 */
export function parseSaved(v: unknown, user: string): SavedQueue | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<SavedQueue>;
  if (r.v !== 2 || r.user !== user || typeof r.tab !== 'string' || r.tab === '' || typeof r.queue !== 'string') {
    return undefined;
  }
  const c = r.confirmed;
  const confirmed =
    c && typeof c.state === 'string' && typeof c.version === 'number' && typeof c.hash === 'string' ? c : null;
  const awaiting: Record<string, number> = {};
  if (typeof r.awaiting === 'object' && r.awaiting !== null) {
    for (const [id, ver] of Object.entries(r.awaiting)) if (typeof ver === 'number') awaiting[id] = ver;
  }
  return {
    v: 2,
    user,
    tab: r.tab,
    confirmed,
    queue: r.queue,
    awaiting,
    savedAt: typeof r.savedAt === 'number' ? r.savedAt : 0,
  };
}

/**
 * readLegacyQueue returns the record the page kept under the single shared
 * key `cosmic.game.v1.<user>` before queues were per tab, as a record of tab
 * {@link LEGACY_TAB}, or undefined. The caller adopts it like a closed tab's
 * and only then deletes the key ({@link removeLegacyQueue}).
 */
export function readLegacyQueue(storage: KeyValueStorage, user: string): SavedQueue | undefined {
  let raw: string | null | undefined;
  try {
    raw = storage.get(LEGACY_PREFIX + user);
  } catch {
    return undefined;
  }
  if (!raw) return undefined;
  try {
    const old = JSON.parse(raw) as { v?: unknown; user?: unknown; queue?: unknown; confirmed?: unknown; awaiting?: unknown };
    if (old.v !== 1) return undefined;
    return parseSaved({ ...old, v: 2, tab: LEGACY_TAB, savedAt: 0 }, user);
  } catch {
    return undefined;
  }
}

/** removeLegacyQueue deletes the shared legacy key; `remove` is `localStorage.removeItem`. */
export function removeLegacyQueue(remove: (key: string) => void, user: string): void {
  try {
    remove(LEGACY_PREFIX + user);
  } catch {
    // Best effort: a leftover legacy record is adopted again, harmlessly.
  }
}

/** WebStorage is the part of the DOM `Storage` (`localStorage`) the fallback store uses. */
export interface WebStorage {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * WebStorageQueueStore keeps each tab's record under its own
 * `localStorage` key, `cosmic.queue.v2.<user>/<tab>`: the synchronous
 * fallback for browsers without IndexedDB. Writes are synchronous, so a
 * resolved `save` is as durable as `localStorage` gets.
 */
export class WebStorageQueueStore implements QueueStore {
  readonly kind = 'localstorage';

  constructor(private readonly storage: WebStorage) {}

  private static key(user: string, tab: string): string {
    return `${WEB_STORAGE_PREFIX}${user}/${tab}`;
  }

  load(user: string, tab: string): Promise<SavedQueue | undefined> {
    return Promise.resolve().then(() => this.read(WebStorageQueueStore.key(user, tab), user));
  }

  list(user: string): Promise<SavedQueue[]> {
    return Promise.resolve().then(() => {
      const prefix = `${WEB_STORAGE_PREFIX}${user}/`;
      const keys: string[] = [];
      for (let i = 0; i < this.storage.length; i++) {
        const k = this.storage.key(i);
        if (k !== null && k.startsWith(prefix)) keys.push(k);
      }
      return keys.flatMap((k) => this.read(k, user) ?? []);
    });
  }

  save(rec: SavedQueue): Promise<void> {
    return Promise.resolve().then(() => this.storage.setItem(WebStorageQueueStore.key(rec.user, rec.tab), JSON.stringify(rec)));
  }

  remove(user: string, tab: string): Promise<void> {
    return Promise.resolve().then(() => this.storage.removeItem(WebStorageQueueStore.key(user, tab)));
  }

  private read(key: string, user: string): SavedQueue | undefined {
    const raw = this.storage.getItem(key);
    if (raw === null) return undefined;
    try {
      return parseSaved(JSON.parse(raw), user);
    } catch {
      return undefined; // a corrupt record: ignored, overwritten by its tab's next save
    }
  }
}

/** request turns an IDBRequest into a promise. */
function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

/** committed resolves when `tx` has committed, and rejects if it aborts. */
function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
  });
}

/**
 * IndexedDbQueueStore keeps the records in the object store `queues` of the
 * database `cosmic`, keyed by `[user, tab]`. Each call is one transaction;
 * `save` and `remove` resolve when theirs has committed with strict
 * durability (flushed to disk, not just to the OS), which is what lets an
 * adopting tab delete another tab's record only after its own is safe.
 */
export class IndexedDbQueueStore implements QueueStore {
  readonly kind = 'indexeddb';

  private constructor(private readonly db: IDBDatabase) {}

  /** open opens (creating on first use) the database; it rejects where IndexedDB is missing or refused. */
  static async open(factory: IDBFactory | undefined = globalThis.indexedDB): Promise<IndexedDbQueueStore> {
    if (factory === undefined) throw new Error('IndexedDB is not available');
    const req = factory.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(DB_STORE, { keyPath: ['user', 'tab'] });
    };
    const db = await request(req);
    // Another page version upgrading the schema must not wait on this one.
    db.onversionchange = () => db.close();
    return new IndexedDbQueueStore(db);
  }

  async load(user: string, tab: string): Promise<SavedQueue | undefined> {
    const tx = this.db.transaction(DB_STORE, 'readonly');
    const v: unknown = await request(tx.objectStore(DB_STORE).get([user, tab]));
    return parseSaved(v, user);
  }

  async list(user: string): Promise<SavedQueue[]> {
    const tx = this.db.transaction(DB_STORE, 'readonly');
    // Tab ids are non-empty strings: [user, ''] … [user, []] spans them all
    // (arrays sort after strings in IndexedDB's key order).
    const range = IDBKeyRange.bound([user, ''], [user, []]);
    const all: unknown[] = await request(tx.objectStore(DB_STORE).getAll(range));
    return all.flatMap((v) => parseSaved(v, user) ?? []);
  }

  async save(rec: SavedQueue): Promise<void> {
    const tx = this.db.transaction(DB_STORE, 'readwrite', { durability: 'strict' });
    const done = committed(tx);
    tx.objectStore(DB_STORE).put(rec);
    await done;
  }

  async remove(user: string, tab: string): Promise<void> {
    const tx = this.db.transaction(DB_STORE, 'readwrite', { durability: 'strict' });
    const done = committed(tx);
    tx.objectStore(DB_STORE).delete([user, tab]);
    await done;
  }
}
