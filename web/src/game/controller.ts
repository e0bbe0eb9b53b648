/**
 * {@link GameController}: the client's model of one garden. It keeps the
 * state the server confirmed, the offline queue of actions the server has
 * not answered yet, and the predicted state the page draws; the rules, the
 * patches and the queue itself are the WASM core's (STYLE §7).
 *
 * @module
 */

import { Emitter } from '../conn/emitter.js';
import type { ConnState } from '../conn/state.js';
import type {
  ActionType,
  ClientMessage,
  ClientMessageData,
  GameState,
  Resources,
  ServerMessageOf,
  Vec3,
} from '../conn/protocol.js';
import type {
  ActionOutcome,
  Core,
  CoreResult,
  JsonText,
  PendingAction,
  QueueText,
  Skipped,
} from '../core/index.js';
import type { Confirmed, QueueStore, SavedQueue } from './store.js';

export type { Confirmed } from './store.js';

/**
 * GameConnection is the part of `Connection` the controller uses; tests
 * pass a fake.
 */
export interface GameConnection {
  readonly state: ConnState;
  send(msg: ClientMessage): boolean;
  newActionId(): string;
  on(type: 'Welcome', handler: (m: ServerMessageOf<'Welcome'>) => void): () => void;
  on(type: 'StateUpdate', handler: (m: ServerMessageOf<'StateUpdate'>) => void): () => void;
  on(type: 'ActionResult', handler: (m: ServerMessageOf<'ActionResult'>) => void): () => void;
  on(type: 'Error', handler: (m: ServerMessageOf<'Error'>) => void): () => void;
}

/** ToastKind: `success` for accepted actions, `error` for refusals, `info` for the rest. */
export type ToastKind = 'success' | 'error' | 'info';

/** Toast is a message for the player. `actionId` names the action it is about, if any. */
export interface Toast {
  kind: ToastKind;
  message: string;
  actionId?: string;
}

/** GameStats counts what a tester or an operator wants to see. */
export interface GameStats {
  /** Patches whose result did not hash to the server's `hash`, and full states that did not. */
  hashMismatches: number;
  /** `GetState` requests sent to resynchronise. */
  resyncs: number;
  /** Actions (re)sent, replays included. */
  sent: number;
  /** Actions replayed after a `Welcome`. */
  replayed: number;
}

/** GameSnapshot is everything the page draws, as of the last change. */
export interface GameSnapshot {
  confirmed: Confirmed | undefined;
  /** The confirmed state with every pending action applied; null before the first state. */
  predicted: GameState | null;
  predictedText: JsonText | null;
  /** This tab's pending actions in order (sent or not): what it replays. */
  pending: readonly PendingAction[];
  /** Other tabs' pending actions drawn in `predicted` too ({@link GameController.setPeerPending}); never sent from here. */
  peerPending: number;
  /** Pending actions the rules refuse on the predicted state; the server will most likely refuse them too. */
  skipped: readonly Skipped[];
  /** Live counters (the same object across snapshots). */
  stats: Readonly<GameStats>;
}

/** GameEvents maps event names of {@link GameController.on} to payloads. */
export interface GameEvents {
  change: GameSnapshot;
  toast: Toast;
}

/** ActionAttempt is the local result of an action: queued (and sent if open), or refused at once. */
export type ActionAttempt =
  | { ok: true; id: string; outcome: ActionOutcome; sent: boolean }
  | { ok: false; code: string; message: string };

/** GameControllerOptions configures a {@link GameController}. */
export interface GameControllerOptions {
  core: Core;
  conn: GameConnection;
  /** Where this tab's confirmed state and queue persist after every change: a reload loses nothing. */
  store: QueueStore;
  /** This tab's id (`tabs.ts`): its record's key in `store`, with the user. */
  tab: string;
  /** The record this tab saved before (a reload), loaded from `store` by the caller; validated here. */
  saved?: SavedQueue;
  /** The user (JWT `sub`) whose garden this is; part of the storage key. */
  userId: string;
  /** Queued actions older than this (ms since `queued_at`) are dropped, not sent. Default {@link MAX_ACTION_AGE_MS}. */
  maxActionAgeMs?: number;
  /** Wall clock, Unix ms. Default `Date.now`. */
  now?: () => number;
  /** Timer for resending rate-limited actions. Default the global `setTimeout`. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

/**
 * MAX_ACTION_AGE_MS is 30 days: the server answers a replayed action id
 * from its idempotency record for at least that long after applying it (31
 * days: a day of grace for clocks that run behind), and no longer (docs/protocol.md §10, "Age bound": the client does not replay
 * an action older than that). Past it, a replay of an action the server did apply
 * could be applied again, so the client drops it instead. The age counts
 * from `queued_at`, when the player acted on this device.
 */
export const MAX_ACTION_AGE_MS = 30 * 24 * 60 * 60 * 1000;
/** RESYNC_RETRY_MS: a `GetState` still unanswered after this long may be sent again. */
export const RESYNC_RETRY_MS = 5000;
/** RATE_LIMITED_RESEND_MS: an action refused with `Error rate_limited` is sent again after this long (§5). */
export const RATE_LIMITED_RESEND_MS = 1500;
/** MAX_INTERNAL_RETRIES: an action answered `Error internal` is resent this many times before it is dropped. */
export const MAX_INTERNAL_RETRIES = 3;

/**
 * GameController follows the server's state and queues the player's
 * actions so that the garden stays playable offline:
 *
 * - `StateUpdate` full → adopt; patch → `applyPatch` on the confirmed state,
 *   compare the result's hash with the server's, and on a mismatch (or a gap
 *   in versions) count it and ask for the whole state with `GetState`. Then
 *   `queueRebase`, then `queuePredict`: the predicted state is drawn.
 * - An action gets its id from `Connection.newActionId()` and goes through
 *   `queuePush`: a rule refusal is a toast at once and nothing is sent.
 *   Otherwise it is persisted, sent if the connection is open, and replayed
 *   in order with its original id after every `Welcome` (the server applies
 *   an id at most once, protocol.md §2).
 * - `Error` naming a queued action: `rate_limited` and `internal` resend it
 *   later with the same id; any other code drops it with an error toast.
 * - Actions queued more than {@link MAX_ACTION_AGE_MS} ago are dropped
 *   with a toast before any replay, never sent.
 * - Other tabs: {@link GameController.adoptQueue} takes over a closed
 *   tab's queue, {@link GameController.setPeerPending} draws a live tab's
 *   pending actions (`tabs.ts` drives both).
 * - `ActionResult` resolves the action: success is a toast (the action
 *   leaves the queue once the state holding it is confirmed, so nothing
 *   flickers); failure is an error toast and the optimistic change rolls
 *   back, since the re-predicted state no longer has it.
 *
 * All calls come from the page's event loop; not safe to share across
 * workers.
 */
export class GameController {
  private readonly core: Core;
  private readonly conn: GameConnection;
  private readonly store: QueueStore;
  private readonly tab: string;
  private readonly userId: string;
  private readonly maxActionAgeMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;

  private confirmed: Confirmed | undefined;
  private queue: QueueText = '';
  private awaiting = new Map<string, number>();
  /** Ids this client queued and has not seen answered, for the result toast. */
  private readonly ours = new Set<string>();
  /** Resends after `Error internal`, by action id. */
  private readonly retries = new Map<string, number>();
  private resyncSentAt: number | undefined;
  private readonly stats: GameStats = { hashMismatches: 0, resyncs: 0, sent: 0, replayed: 0 };
  /** Other tabs' pending actions, by tab, drawn but never sent. */
  private readonly peers = new Map<string, readonly PendingAction[]>();
  /** The chain of store writes: one at a time, in order; {@link flush} waits for it. */
  private writing: Promise<void> = Promise.resolve();
  private writeQueued = false;
  private writeError: unknown;
  private snap: GameSnapshot;
  private readonly events = new Emitter<GameEvents>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(opts: GameControllerOptions) {
    if (opts.userId === '') throw new TypeError('GameController: userId is required');
    this.core = opts.core;
    this.conn = opts.conn;
    if (opts.tab === '') throw new TypeError('GameController: tab is required');
    this.store = opts.store;
    this.tab = opts.tab;
    this.userId = opts.userId;
    this.maxActionAgeMs = opts.maxActionAgeMs ?? MAX_ACTION_AGE_MS;
    this.now = opts.now ?? (() => Date.now());
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    if (opts.saved !== undefined) this.restore(opts.saved);
    this.snap = this.predict();
    for (const p of this.snap.pending) this.ours.add(p.id);
    this.unsubscribe.push(
      this.conn.on('Welcome', () => this.onWelcome()),
      this.conn.on('StateUpdate', (m) => this.onStateUpdate(m)),
      this.conn.on('ActionResult', (m) => this.onActionResult(m)),
      this.conn.on('Error', (m) => this.onError(m)),
    );
    // Already open (the controller was built late): replay now.
    if (this.conn.state.kind === 'open') this.onWelcome();
  }

  /** dispose stops listening to the connection. */
  dispose(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** snapshot is the current model. */
  get snapshot(): GameSnapshot {
    return this.snap;
  }

  /**
   * flush resolves once every change so far is durably in the store, and
   * rejects if the last write failed: what an adopting tab waits for before
   * it deletes the adopted record.
   */
  flush(): Promise<void> {
    return this.writing.then(() => {
      if (this.writeError !== undefined) throw this.writeError;
    });
  }

  /**
   * adoptQueue merges another tab's saved queue into this one: each pending
   * action with its original id and `queued_at` (an id already queued here
   * is skipped, so this tab never sends one twice), the successes it was
   * waiting on, and its confirmed state if newer. The actions are sent at
   * once when open; the server answers ids it already applied from its
   * idempotency record (protocol.md §2), so adopting a queue twice is
   * harmless. Returns how many actions joined. The caller deletes the
   * adopted record only after {@link flush}.
   */
  adoptQueue(rec: SavedQueue): number {
    const c = rec.confirmed;
    if (c !== null && (this.confirmed === undefined || c.version > this.confirmed.version)) {
      const h = this.core.hash(c.state);
      if (h.ok && h.value === c.hash) this.adopt(c, false);
    }
    const joined: PendingAction[] = [];
    const theirs = rec.queue === '' ? undefined : this.core.queuePending(rec.queue);
    for (const p of theirs?.ok ? theirs.value : []) {
      const r = this.core.queueAdopt(this.queue, p);
      if (!r.ok || !r.value.adopted) continue;
      this.queue = r.value.queue;
      this.ours.add(p.id);
      joined.push(p);
      const v = rec.awaiting[p.id];
      if (v !== undefined) this.awaiting.set(p.id, v);
    }
    this.peers.delete(rec.tab);
    this.dropExpired();
    this.changed();
    // Expired ones left again at once: they are not sent, nor counted.
    const kept = joined.filter((p) => this.snap.pending.some((x) => x.id === p.id));
    for (const p of kept) this.sendPending(p);
    return kept.length;
  }

  /**
   * setPeerPending tells the controller what another tab of this browser
   * has queued (BroadcastChannel, `tabs.ts`), so the drawn garden includes
   * it: a tab must not show a garden another has already changed. Those
   * actions are predicted, never sent or persisted from here; an empty list
   * forgets the tab.
   */
  setPeerPending(tab: string, pending: readonly PendingAction[]): void {
    if (tab === this.tab) return;
    if (pending.length === 0 && !this.peers.has(tab)) return;
    if (pending.length === 0) this.peers.delete(tab);
    else this.peers.set(tab, pending);
    this.snap = this.predict();
    this.emit('change', this.snap);
  }

  /**
   * dropExpired removes, with one error toast, the queued actions older than
   * `maxActionAgeMs` ({@link MAX_ACTION_AGE_MS}) instead of ever sending
   * them. It runs before every replay and adoption; the page also calls it
   * once it listens for toasts.
   */
  dropExpired(): number {
    const now = this.now();
    const old = this.pendingOf(this.queue).filter((p) => now - p.queued_at > this.maxActionAgeMs);
    for (const p of old) {
      const r = this.core.queueResolve(this.queue, p.id);
      if (r.ok) this.queue = r.value.queue;
      this.awaiting.delete(p.id);
      this.ours.delete(p.id);
      this.retries.delete(p.id);
    }
    if (old.length > 0) {
      const days = Math.round(this.maxActionAgeMs / 86_400_000);
      this.toast({
        kind: 'error',
        message:
          `${old.length === 1 ? 'An offline action' : `${old.length} offline actions`} older than ${days} days ` +
          `${old.length === 1 ? 'was' : 'were'} dropped, not sent: the server no longer remembers actions that old, so it could apply ${old.length === 1 ? 'it' : 'them'} twice.`,
      });
      this.changed();
    }
    return old.length;
  }

  /** user is the owner of the garden. */
  get user(): string {
    return this.userId;
  }

  /** on subscribes to an event and returns the unsubscribe function. */
  on<K extends keyof GameEvents>(type: K, handler: (payload: GameEvents[K]) => void): () => void {
    return this.events.on(type, handler);
  }

  // -- actions ---------------------------------------------------------------

  /** createBody places a body of `bodyType` at `position` (protocol.md §3). */
  createBody(bodyType: string, position: Vec3): ActionAttempt {
    return this.act('CreateCelestialBody', { body_type: bodyType, position });
  }

  /** research raises `topic` by one level. */
  research(topic: string): ActionAttempt {
    return this.act('Research', { topic });
  }

  /** save asks the server to store the garden durably (a plain `SaveGame`, no state). */
  save(): ActionAttempt {
    return this.act('SaveGame', {});
  }

  /** requestState asks for a full state (`GetState`), e.g. from a "resync" button. */
  requestState(): boolean {
    return this.resync(true);
  }

  /**
   * preview applies an action to the predicted state at `now` without
   * queueing it: what the rules would say, for the UI (affordability, a
   * refusal's reason).
   */
  preview<T extends ActionType>(type: T, data: ClientMessageData[T], at = this.now()): CoreResult<ActionOutcome> {
    if (this.snap.predictedText === null) return { ok: false, code: 'no_state', message: 'the garden has not loaded yet' };
    return this.core.applyAction(this.snap.predictedText, { type, id: 'preview', data } as PendingAction, at);
  }

  /**
   * projected returns the predicted resources with growth settled up to
   * `now`, for display only: the garden itself changes only through actions
   * (protocol.md §3).
   */
  projected(now = this.now()): Resources | undefined {
    if (this.snap.predictedText === null) return undefined;
    const r = this.core.settleResources(this.snap.predictedText, now);
    return r.ok ? r.value : undefined;
  }

  private act<T extends ActionType>(type: T, data: ClientMessageData[T]): ActionAttempt {
    const id = this.conn.newActionId();
    const pending = { id, type, data, queued_at: this.now() } as PendingAction;
    const r = this.core.queuePush(this.queue, pending);
    if (!r.ok) {
      const message =
        r.code === 'rejected'
          ? r.message
          : r.code === 'no_state'
            ? 'The garden has not loaded yet: connect once to download it.'
            : r.code === 'queue_full'
              ? 'Too many actions are waiting to be sent; reconnect first.'
              : `${r.code}: ${r.message}`;
      this.toast({ kind: 'error', message });
      return { ok: false, code: r.code, message };
    }
    this.queue = r.value.queue;
    this.ours.add(id);
    this.changed();
    const sent = this.sendPending(pending);
    return { ok: true, id, outcome: r.value.outcome, sent };
  }

  private sendPending(p: PendingAction): boolean {
    if (this.conn.state.kind !== 'open') return false;
    const msg = { type: p.type, id: p.id, data: p.data ?? {} } as ClientMessage;
    const ok = this.conn.send(msg);
    if (ok) this.stats.sent++;
    return ok;
  }

  // -- server messages -------------------------------------------------------

  private onWelcome(): void {
    // A new connection: any GetState in flight died with the old one.
    this.resyncSentAt = undefined;
    this.dropExpired();
    // Replay every pending action in order with its original id. The
    // server answers ids it already applied from its idempotency record.
    for (const p of this.snap.pending) {
      if (this.sendPending(p)) this.stats.replayed++;
    }
  }

  private onStateUpdate(msg: ServerMessageOf<'StateUpdate'>): void {
    const u = msg.data;
    if (u.full) {
      const text = this.core.canonical(JSON.stringify(u.data.state));
      if (!text.ok) {
        this.toast({ kind: 'error', message: `The server sent a state the core cannot read: ${text.message}` });
        return;
      }
      const h = this.core.hash(text.value);
      if (!h.ok || h.value !== u.data.hash) this.stats.hashMismatches++;
      // The server is the authority: adopt its state even if our hash
      // disagrees (asking again would loop); the counter shows the bug.
      this.resyncSentAt = undefined;
      this.adopt({ state: text.value, version: u.data.version, hash: u.data.hash }, true);
      return;
    }
    const c = this.confirmed;
    if (c !== undefined && u.data.version <= c.version) return; // already have it
    if (c === undefined || u.data.base !== c.version) {
      this.resync(false); // a gap: only a full state helps
      return;
    }
    const r = this.core.applyPatch(c.state, JSON.stringify(u.data.patch));
    if (!r.ok || r.value.hash !== u.data.hash) {
      this.stats.hashMismatches++;
      this.resync(false);
      return;
    }
    this.adopt({ state: r.value.doc, version: u.data.version, hash: r.value.hash }, false);
  }

  private onActionResult(msg: ServerMessageOf<'ActionResult'>): void {
    const id = msg.id;
    if (id === undefined || id === '') return;
    const mine = this.ours.delete(id);
    const queued = this.snap.pending.some((p) => p.id === id);
    if (!mine && !queued) return; // e.g. RefreshToken's answer
    const res = msg.data;
    if (res.success) {
      if (res.message !== '') this.toast({ kind: 'success', message: res.message, actionId: id });
      const version = res.version ?? 0;
      if (queued && this.confirmed !== undefined && version > this.confirmed.version) {
        // Keep predicting it until the state that holds it arrives, so the
        // change does not blink out and back in.
        this.awaiting.set(id, version);
        this.persist();
        return;
      }
    } else {
      this.toast({ kind: 'error', message: res.message || 'The server refused the action.', actionId: id });
    }
    if (queued) this.resolve(id);
  }

  private onError(msg: ServerMessageOf<'Error'>): void {
    const id = msg.id;
    if (id === undefined || id === '') return;
    const p = this.snap.pending.find((x) => x.id === id);
    if (p === undefined) return;
    const retries = this.retries.get(id) ?? 0;
    if (msg.data.code === 'rate_limited' || (msg.data.code === 'internal' && retries < MAX_INTERNAL_RETRIES)) {
      // Not applied: send it again a little later with the same id (§5;
      // docs/protocol.md §6 says an `internal` failure may be retried).
      if (msg.data.code === 'internal') this.retries.set(id, retries + 1);
      this.setTimer(() => {
        if (this.snap.pending.some((x) => x.id === id)) this.sendPending(p);
      }, RATE_LIMITED_RESEND_MS * (retries + 1));
      return;
    }
    this.retries.delete(id);
    // The server will never apply it: drop it, roll back, and say why.
    this.ours.delete(id);
    this.toast({ kind: 'error', message: `The server refused the action: ${msg.data.message}`, actionId: id });
    this.resolve(id);
  }

  // -- model -----------------------------------------------------------------

  private adopt(next: Confirmed, full: boolean): void {
    let r = this.core.queueRebase(this.queue, next.version, next.state);
    if (r.ok && !r.value.rebased && full) {
      // A full state older than ours (the server lost data, e.g. restored
      // from a backup): it is still the truth. Rebuild the queue on it.
      r = this.rebuildQueue(next);
    }
    if (!r.ok) {
      this.toast({ kind: 'error', message: `Could not update the offline queue: ${r.message}` });
      return;
    }
    if (!r.value.rebased) return;
    this.queue = r.value.queue;
    this.confirmed = next;
    for (const [id, version] of this.awaiting) {
      if (version <= next.version) {
        this.awaiting.delete(id);
        const q = this.core.queueResolve(this.queue, id);
        if (q.ok) this.queue = q.value.queue;
      }
    }
    this.changed();
  }

  private rebuildQueue(next: Confirmed): CoreResult<{ queue: QueueText; rebased: boolean }> {
    const r = this.core.queueRebase('', next.version, next.state);
    if (!r.ok) return r;
    let q = r.value.queue;
    // Adopt, not push: an action the rules refuse on the restored state
    // stays queued (and drawn as skipped) until the server answers it.
    for (const p of this.snap.pending) {
      const adopted = this.core.queueAdopt(q, p);
      if (adopted.ok) q = adopted.value.queue;
    }
    return { ok: true, value: { queue: q, rebased: true } };
  }

  private resolve(id: string): void {
    this.awaiting.delete(id);
    const r = this.core.queueResolve(this.queue, id);
    if (!r.ok) return;
    this.queue = r.value.queue;
    this.changed();
  }

  private resync(force: boolean): boolean {
    const t = this.now();
    if (!force && this.resyncSentAt !== undefined && t - this.resyncSentAt < RESYNC_RETRY_MS) return false;
    if (!this.conn.send({ type: 'GetState' })) return false;
    this.resyncSentAt = t;
    this.stats.resyncs++;
    return true;
  }

  /** changed persists, re-predicts and tells the page. */
  private changed(): void {
    this.persist();
    this.snap = this.predict();
    this.emit('change', this.snap);
  }

  private pendingOf(queue: QueueText): PendingAction[] {
    if (queue === '') return [];
    const r = this.core.queuePending(queue);
    return r.ok ? r.value : [];
  }

  private predict(): GameSnapshot {
    const pending = this.pendingOf(this.queue);
    const { queue, peerPending } = this.withPeers();
    let predictedText: JsonText | null;
    let skipped: readonly Skipped[];
    if (pending.length === 0 && peerPending === 0 && this.confirmed !== undefined) {
      // Nothing pending, here or in another tab: the prediction is the
      // confirmed garden the queue was rebased on, byte for byte. Asking
      // the core would copy a large garden's text out of the module once
      // more on every StateUpdate (docs/performance.md, "Issue 13").
      predictedText = this.confirmed.state;
      skipped = [];
    } else {
      const p = this.core.queuePredict(queue);
      predictedText = p.ok ? p.value.predicted : null;
      skipped = p.ok ? p.value.skipped : [];
    }
    return {
      confirmed: this.confirmed,
      predicted: predictedText === null ? null : (JSON.parse(predictedText) as GameState),
      predictedText,
      pending,
      peerPending,
      skipped,
      stats: this.stats,
    };
  }

  /**
   * withPeers is this tab's queue with the other tabs' pending actions
   * appended (the core adopts them without a rule check, skipping ids this
   * tab holds), then rebased on the confirmed state, which drops the
   * creations the server already applied. Display only.
   */
  private withPeers(): { queue: QueueText; peerPending: number } {
    if (this.peers.size === 0) return { queue: this.queue, peerPending: 0 };
    let q = this.queue;
    for (const list of this.peers.values()) {
      for (const p of list) {
        const r = this.core.queueAdopt(q, p);
        if (r.ok && r.value.adopted) q = r.value.queue;
      }
    }
    if (this.confirmed !== undefined) {
      const r = this.core.queueRebase(q, this.confirmed.version, this.confirmed.state);
      if (r.ok) q = r.value.queue;
    }
    return { queue: q, peerPending: this.pendingOf(q).length - this.pendingOf(this.queue).length };
  }

  /**
   * persist writes this tab's record. Writes are chained, one at a time and
   * in order; changes made while one is in flight are coalesced into the
   * next, which always carries the latest model.
   */
  private persist(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    this.writing = this.writing.then(async () => {
      this.writeQueued = false;
      try {
        await this.store.save(this.record());
        this.writeError = undefined;
      } catch (err) {
        // Quota or private mode: play on; only a reload would lose the queue.
        this.writeError = err;
      }
    });
  }

  private record(): SavedQueue {
    return {
      v: 2,
      user: this.userId,
      tab: this.tab,
      confirmed: this.confirmed ?? null,
      queue: this.queue,
      awaiting: Object.fromEntries(this.awaiting),
      savedAt: this.now(),
    };
  }

  private restore(rec: SavedQueue): void {
    if (rec.user !== this.userId) return;
    // Take the queue only if the core can read it.
    if (rec.queue !== '' && !this.core.queuePredict(rec.queue).ok) return;
    this.queue = rec.queue;
    const c = rec.confirmed;
    if (c !== null) {
      const h = this.core.hash(c.state);
      if (h.ok && h.value === c.hash) this.confirmed = c;
    }
    for (const [id, v] of Object.entries(rec.awaiting)) {
      if (this.confirmed !== undefined && v <= this.confirmed.version) {
        const q = this.core.queueResolve(this.queue, id);
        if (q.ok) this.queue = q.value.queue;
      } else {
        this.awaiting.set(id, v);
      }
    }
  }

  private toast(t: Toast): void {
    this.emit('toast', t);
  }

  /** emit delivers an event; a throwing handler is reported, not propagated (conn/emitter.ts). */
  private emit<K extends keyof GameEvents>(type: K, payload: GameEvents[K]): void {
    this.events.emit(type, payload);
  }
}
