/**
 * Tabs of one browser playing one garden: which tab is which, which are
 * alive, and what each has queued.
 *
 * - {@link claimTab}: a tab's id lives in `sessionStorage`, so it survives
 *   a reload; the tab proves it owns the id by holding the Web Lock
 *   `cosmic.tab.<id>` for its lifetime. A duplicated tab (the browser
 *   copies `sessionStorage`, id and connection session included) finds the
 *   lock held by the original and takes a new id, hence a new session: the
 *   two tabs never resume one session and close each other with 4409.
 * - {@link TabWatcher}: for every other tab it knows of, a live tab queues a
 *   request for that tab's lock; the browser grants it when the tab is gone
 *   (closed, crashed). The watcher then adopts the dead tab's saved queue
 *   into its own with the original ids and `queued_at`, waits until its own
 *   record is durable, and only then deletes the dead tab's record: a tab
 *   dying mid-adoption loses nothing, at worst an id is sent from two
 *   queues, which the server answers from its idempotency record.
 * - {@link TabPeers}: tabs tell each other their pending actions over a
 *   BroadcastChannel, so each draws the others' too.
 *
 * @module
 */

import type { KeyValueStorage } from '../conn/client.js';
import type { PendingAction } from '../core/index.js';
import type { QueueStore, SavedQueue } from './store.js';

/** LockRequestOptions is the part of the Web Locks `LockOptions` used here. */
export interface LockRequestOptions {
  ifAvailable?: boolean;
  signal?: AbortSignal;
}

/**
 * TabLocks is the part of `navigator.locks` (Web Locks) used here: an
 * exclusive lock per name, granted to one holder at a time, released when
 * the callback's promise settles or the holder's page goes away.
 */
export interface TabLocks {
  request(name: string, options: LockRequestOptions, callback: (lock: unknown) => unknown): Promise<unknown>;
}

/** TAB_KEY is the `sessionStorage` key of the tab id. */
export const TAB_KEY = 'cosmic.tab';
/**
 * RELOAD_WAIT_MS: how long a tab whose stored id's lock is held waits for
 * it before deciding it is a duplicate. A reloading page's old document
 * releases its lock a moment after the new one may ask for it.
 */
export const RELOAD_WAIT_MS = 1000;

/** tabLockName is the Web Lock a live tab holds. */
export function tabLockName(tab: string): string {
  return `cosmic.tab.${tab}`;
}

/**
 * holdLock asks for `name` and, if granted, holds it until the page goes
 * away (a promise that never settles). It resolves to whether it got it:
 * false when `ifAvailable` found it held, or `signal` aborted the wait.
 */
export function holdLock(locks: TabLocks, name: string, options: LockRequestOptions): Promise<boolean> {
  return new Promise((resolve) => {
    locks
      .request(name, options, (lock) => {
        if (lock === null) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise<never>(() => {});
      })
      .catch(() => resolve(false)); // AbortError: the wait timed out
  });
}

/** TabClaim is the outcome of {@link claimTab}. */
export interface TabClaim {
  /** This tab's id. */
  id: string;
  /** The stored id belonged to another live tab: this tab is a copy of it (duplicated) and took a new id. */
  duplicate: boolean;
  /** Whether the tab holds its id's Web Lock; false without Web Locks (then duplicates go unnoticed). */
  locked: boolean;
}

/** ClaimOptions configures {@link claimTab}. */
export interface ClaimOptions {
  /** Per-tab storage (`sessionStorage`). */
  storage: KeyValueStorage;
  /** `navigator.locks`, or undefined where Web Locks are missing. */
  locks: TabLocks | undefined;
  /** A fresh random id. */
  newId: () => string;
  /** The signal that ends the wait for a held lock. Default: {@link RELOAD_WAIT_MS}. */
  waitSignal?: () => AbortSignal;
}

/**
 * claimTab returns this tab's id: the one stored in `sessionStorage` if the
 * tab can take its lock (a reload, or the same tab), otherwise a new one
 * (a first visit, or a duplicated tab whose original still holds the lock).
 * Run it once per page, before anything reads per-tab storage.
 */
export async function claimTab(opts: ClaimOptions): Promise<TabClaim> {
  let stored: string | null | undefined;
  try {
    stored = opts.storage.get(TAB_KEY);
  } catch {
    stored = undefined;
  }
  const locks = opts.locks;
  if (locks === undefined) {
    const id = stored || opts.newId();
    opts.storage.set(TAB_KEY, id);
    return { id, duplicate: false, locked: false };
  }
  if (stored) {
    const name = tabLockName(stored);
    const wait = opts.waitSignal ?? (() => AbortSignal.timeout(RELOAD_WAIT_MS));
    if ((await holdLock(locks, name, { ifAvailable: true })) || (await holdLock(locks, name, { signal: wait() }))) {
      return { id: stored, duplicate: false, locked: true };
    }
  }
  const id = opts.newId();
  const locked = await holdLock(locks, tabLockName(id), { ifAvailable: true });
  opts.storage.set(TAB_KEY, id);
  return { id, duplicate: Boolean(stored), locked };
}

/** Adopter is the part of `GameController` a {@link TabWatcher} drives. */
export interface Adopter {
  adoptQueue(rec: SavedQueue): number;
  flush(): Promise<void>;
  setPeerPending(tab: string, pending: readonly PendingAction[]): void;
}

/** TabWatcherOptions configures a {@link TabWatcher}. */
export interface TabWatcherOptions {
  user: string;
  /** This tab's id (never watched). */
  tab: string;
  store: QueueStore;
  locks: TabLocks;
  game: Adopter;
  /** Told after each adoption, with how many actions joined (for a toast). */
  onAdopted?: (tab: string, actions: number) => void;
  /** Told of a failed adoption; the record stays for a later one. */
  onError?: (err: unknown) => void;
}

/**
 * TabWatcher adopts the queues of the user's tabs that are gone. It
 * watches every tab it hears of ({@link TabWatcher.watch}): the records in
 * the store when it starts, and tabs announced on the BroadcastChannel.
 * Each watch is a queued request for the tab's lock, granted when that tab
 * no longer holds it; while the watcher holds it, no other tab adopts the
 * same record. All calls come from the page's event loop.
 */
export class TabWatcher {
  private readonly watched = new Set<string>();
  private readonly abort = new AbortController();

  constructor(private readonly opts: TabWatcherOptions) {}

  /** start watches the tab of every record of the user in the store. */
  async start(): Promise<void> {
    const recs = await this.opts.store.list(this.opts.user);
    for (const r of recs) this.watch(r.tab);
  }

  /** watch adopts `tab`'s queue once `tab` is gone (at once if it is already). */
  watch(tab: string): void {
    if (tab === this.opts.tab || this.watched.has(tab) || this.abort.signal.aborted) return;
    this.watched.add(tab);
    this.opts.locks
      .request(tabLockName(tab), { signal: this.abort.signal }, async () => {
        if (this.abort.signal.aborted) return;
        await this.adopt(tab);
      })
      .catch((err: unknown) => {
        if (!this.abort.signal.aborted) this.opts.onError?.(err);
      })
      .finally(() => {
        // A tab that comes back (a restored tab keeps its id) is watched anew when heard of.
        this.watched.delete(tab);
      });
  }

  /**
   * adopt merges `tab`'s record into this tab's queue, waits until that is
   * durable, then deletes the record. Run while holding `tab`'s lock.
   */
  private async adopt(tab: string): Promise<void> {
    const { store, user, game } = this.opts;
    const rec = await store.load(user, tab);
    // Gone: its actions are no longer its to draw (another tab adopted them, or it had none).
    game.setPeerPending(tab, []);
    if (rec === undefined) return;
    const n = game.adoptQueue(rec);
    await game.flush(); // rejects if our record could not be written: keep theirs
    await store.remove(user, tab);
    this.opts.onAdopted?.(tab, n);
  }

  /** dispose stops watching (logout): waiting requests are withdrawn. */
  dispose(): void {
    this.abort.abort();
  }
}

/**
 * adoptLegacy adopts the queue kept under the old shared `localStorage` key
 * (`store.ts`, {@link readLegacyQueue}) and deletes the key once the
 * adopting tab's own record is durable.
 */
export async function adoptLegacy(game: Adopter, rec: SavedQueue, removeLegacy: () => void): Promise<number> {
  const n = game.adoptQueue(rec);
  await game.flush();
  removeLegacy();
  return n;
}

/** TabMessage is what tabs of one user post on their BroadcastChannel. */
export type TabMessage =
  | { kind: 'hello'; tab: string }
  | { kind: 'pending'; tab: string; pending: PendingAction[] }
  | { kind: 'bye'; tab: string };

/**
 * MessageHandler is declared through a method so its parameter is checked
 * bivariantly: the DOM's handler (taking a `MessageEvent`) fits, and so does
 * a test fake passing plain objects (as `SocketHandler` in `conn/client.ts`).
 */
type MessageHandler = { bivarianceHack(ev: { readonly data: unknown }): void }['bivarianceHack'];

/** ChannelLike is the part of `BroadcastChannel` used here. */
export interface ChannelLike {
  postMessage(message: TabMessage): void;
  onmessage: MessageHandler | null;
  close(): void;
}

/** channelName is the BroadcastChannel of a user's tabs. */
export function channelName(user: string): string {
  return `cosmic.tabs.${user}`;
}

/** PeerGame is the part of `GameController` {@link TabPeers} uses. */
export interface PeerGame {
  readonly snapshot: { readonly pending: readonly PendingAction[] };
  setPeerPending(tab: string, pending: readonly PendingAction[]): void;
  on(type: 'change', handler: (snap: { readonly pending: readonly PendingAction[] }) => void): () => void;
}

/** TabPeersOptions configures {@link TabPeers}. */
export interface TabPeersOptions {
  tab: string;
  channel: ChannelLike;
  game: PeerGame;
  /** Told of every other tab heard of (the watcher watches it). */
  onPeer?: (tab: string) => void;
  /**
   * Forget a tab's actions when it says goodbye. Only without Web Locks:
   * with them the watcher clears a gone tab once it has adopted its queue,
   * so its actions do not blink out in between.
   */
  forgetOnBye: boolean;
}

function isMessage(v: unknown): v is TabMessage {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as { kind?: unknown; tab?: unknown; pending?: unknown };
  if (typeof m.tab !== 'string' || m.tab === '') return false;
  return m.kind === 'hello' || m.kind === 'bye' || (m.kind === 'pending' && Array.isArray(m.pending));
}

/**
 * TabPeers posts this tab's pending actions whenever they change, and
 * hands the other tabs' to the controller, which draws them. A new tab says
 * `hello` and every other tab answers with its pending actions.
 */
export class TabPeers {
  private lastPosted = '';
  private readonly off: () => void;

  constructor(private readonly opts: TabPeersOptions) {
    opts.channel.onmessage = (ev) => this.receive(ev.data);
    this.off = opts.game.on('change', (snap) => this.post(snap.pending, false));
  }

  /** start announces the tab and posts its pending actions. */
  start(): void {
    this.opts.channel.postMessage({ kind: 'hello', tab: this.opts.tab });
    this.post(this.opts.game.snapshot.pending, true);
  }

  /** dispose says goodbye and closes the channel. */
  dispose(): void {
    this.off();
    try {
      this.opts.channel.postMessage({ kind: 'bye', tab: this.opts.tab });
    } catch {
      // Already closed.
    }
    this.opts.channel.onmessage = null;
    this.opts.channel.close();
  }

  private post(pending: readonly PendingAction[], force: boolean): void {
    const key = pending.map((p) => p.id).join('\n');
    if (!force && key === this.lastPosted) return;
    this.lastPosted = key;
    this.opts.channel.postMessage({ kind: 'pending', tab: this.opts.tab, pending: [...pending] });
  }

  private receive(data: unknown): void {
    if (!isMessage(data) || data.tab === this.opts.tab) return;
    this.opts.onPeer?.(data.tab);
    switch (data.kind) {
      case 'hello':
        this.post(this.opts.game.snapshot.pending, true);
        return;
      case 'pending':
        this.opts.game.setPeerPending(data.tab, data.pending);
        return;
      case 'bye':
        if (this.opts.forgetOnBye) this.opts.game.setPeerPending(data.tab, []);
        return;
    }
  }
}
