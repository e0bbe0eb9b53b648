/**
 * {@link GameController}: the client's model of one garden. It keeps the
 * state the server confirmed, the offline queue of actions the server has
 * not answered yet, and the predicted state the page draws; the rules, the
 * patches and the queue itself are the WASM core's (STYLE §7).
 *
 * @module
 */

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
import type { KeyValueStorage } from '../conn/client.js';
import type {
  ActionOutcome,
  Core,
  CoreResult,
  JsonText,
  PendingAction,
  QueueText,
  Skipped,
} from '../core/index.js';

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

/** Confirmed is the last state the server sent, as canonical text, with its version and hash (CONTRACT §4). */
export interface Confirmed {
  state: JsonText;
  version: number;
  hash: string;
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
  /** Pending actions in order (sent or not). */
  pending: readonly PendingAction[];
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
  /** Where the confirmed state and the queue persist (`localStorage`): a reload loses nothing. */
  storage: KeyValueStorage;
  /** The user (JWT `sub`) whose garden this is; part of the storage key. */
  userId: string;
  /** Wall clock, Unix ms. Default `Date.now`. */
  now?: () => number;
  /** Timer for resending rate-limited actions. Default the global `setTimeout`. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
}

/** STORAGE_PREFIX + user id is the storage key of a garden. */
export const STORAGE_PREFIX = 'cosmic.game.v1.';
/** RESYNC_RETRY_MS: a `GetState` still unanswered after this long may be sent again. */
export const RESYNC_RETRY_MS = 5000;
/** RATE_LIMITED_RESEND_MS: an action refused with `Error rate_limited` is sent again after this long (§5.6). */
export const RATE_LIMITED_RESEND_MS = 1500;
/** MAX_INTERNAL_RETRIES: an action answered `Error internal` is resent this many times before it is dropped. */
export const MAX_INTERNAL_RETRIES = 3;

interface Persisted {
  v: 1;
  user: string;
  confirmed: Confirmed | null;
  queue: QueueText;
  /** Successful actions waiting for the state that holds them: id → version. */
  awaiting: Record<string, number>;
}

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
 *   an id at most once, CONTRACT §2).
 * - `Error` naming a queued action: `rate_limited` and `internal` resend it
 *   later with the same id; any other code drops it with an error toast.
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
  private readonly storage: KeyValueStorage;
  private readonly key: string;
  private readonly userId: string;
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
  private snap: GameSnapshot;
  private readonly handlers = new Map<keyof GameEvents, Set<(p: never) => void>>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(opts: GameControllerOptions) {
    if (opts.userId === '') throw new TypeError('GameController: userId is required');
    this.core = opts.core;
    this.conn = opts.conn;
    this.storage = opts.storage;
    this.userId = opts.userId;
    this.key = STORAGE_PREFIX + opts.userId;
    this.now = opts.now ?? (() => Date.now());
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.restore();
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

  /** user is the owner of the garden. */
  get user(): string {
    return this.userId;
  }

  /** on subscribes to an event and returns the unsubscribe function. */
  on<K extends keyof GameEvents>(type: K, handler: (payload: GameEvents[K]) => void): () => void {
    let set = this.handlers.get(type);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(type, set);
    }
    const h = handler as (p: never) => void;
    set.add(h);
    return () => {
      this.handlers.get(type)?.delete(h);
    };
  }

  // -- actions ---------------------------------------------------------------

  /** createBody places a body of `bodyType` at `position` (CONTRACT §3). */
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
   * (CONTRACT §3).
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
      // Not applied: send it again a little later with the same id (§5.6;
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
    for (const p of this.snap.pending) {
      const pushed = this.core.queuePush(q, p);
      if (pushed.ok) q = pushed.value.queue;
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

  private predict(): GameSnapshot {
    let pending: PendingAction[] = [];
    if (this.queue !== '') {
      const r = this.core.queuePending(this.queue);
      if (r.ok) pending = r.value;
    }
    const p = this.core.queuePredict(this.queue);
    const predictedText = p.ok ? p.value.predicted : null;
    return {
      confirmed: this.confirmed,
      predicted: predictedText === null ? null : (JSON.parse(predictedText) as GameState),
      predictedText,
      pending,
      skipped: p.ok ? p.value.skipped : [],
      stats: this.stats,
    };
  }

  private persist(): void {
    const rec: Persisted = {
      v: 1,
      user: this.userId,
      confirmed: this.confirmed ?? null,
      queue: this.queue,
      awaiting: Object.fromEntries(this.awaiting),
    };
    try {
      this.storage.set(this.key, JSON.stringify(rec));
    } catch {
      // Quota or private mode: play on; only a reload would lose the queue.
    }
  }

  private restore(): void {
    let raw: string | null | undefined;
    try {
      raw = this.storage.get(this.key);
    } catch {
      raw = undefined;
    }
    if (!raw) return;
    try {
      const rec = JSON.parse(raw) as Partial<Persisted>;
      if (rec.v !== 1 || rec.user !== this.userId || typeof rec.queue !== 'string') return;
      // Take the queue only if the core can read it.
      if (rec.queue !== '' && !this.core.queuePredict(rec.queue).ok) return;
      this.queue = rec.queue;
      const c = rec.confirmed;
      if (c && typeof c.state === 'string' && typeof c.version === 'number' && typeof c.hash === 'string') {
        const h = this.core.hash(c.state);
        if (h.ok && h.value === c.hash) this.confirmed = c;
      }
      for (const [id, v] of Object.entries(rec.awaiting ?? {})) {
        if (typeof v !== 'number') continue;
        if (this.confirmed !== undefined && v <= this.confirmed.version) {
          const q = this.core.queueResolve(this.queue, id);
          if (q.ok) this.queue = q.value.queue;
        } else {
          this.awaiting.set(id, v);
        }
      }
    } catch {
      // A corrupt entry: start from the server's state.
    }
  }

  private toast(t: Toast): void {
    this.emit('toast', t);
  }

  private emit<K extends keyof GameEvents>(type: K, payload: GameEvents[K]): void {
    const set = this.handlers.get(type);
    if (set === undefined) return;
    for (const h of [...set]) {
      try {
        (h as (p: GameEvents[K]) => void)(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
