/**
 * The browser side of the realtime connection: {@link Connection} runs the
 * effects of the state machine in `state.ts` against a WebSocket, timers, the
 * token provider and the browser's network events.
 *
 * @module
 */

import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { isObject } from './guards.js';
import { checkLink, heartbeatInterval } from './heartbeat.js';
import { hasFreshToken, MIN_REFRESH_INTERVAL_MS, refreshDelay } from './refresh.js';
import {
  ACK_INTERVAL_MS,
  decodeSession,
  encodeSession,
  NO_SESSION,
  pendingAck,
  seqStep,
  type SeqInput,
  type SeqStep,
  type SeqTracking,
} from './seqtracker.js';
import type { ClientMessage, ServerMessage, ServerMessageOf, ServerMessageType } from './protocol.js';
import {
  CLIENT_ABORT_CODE,
  INITIAL_STATE,
  transition,
  type ConnEvent,
  type ConnState,
  type Effect,
  type TransitionContext,
} from './state.js';

// ---------------------------------------------------------------------------
// Injectable environment

/**
 * SocketHandler is a WebSocket event handler property. Declared through a
 * method so its parameter is checked bivariantly: the DOM's `WebSocket`
 * (whose handlers take `MessageEvent`/`CloseEvent`) fits, and so does a
 * test fake that passes plain objects.
 */
type SocketHandler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** SocketLike is the part of the DOM `WebSocket` that {@link Connection} uses. */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: SocketHandler<unknown> | null;
  onmessage: SocketHandler<{ readonly data: unknown }> | null;
  onclose: SocketHandler<{ readonly code: number; readonly reason: string }> | null;
  onerror: SocketHandler<unknown> | null;
}

/** SocketConstructor builds a socket for a URL; the global `WebSocket` is one. */
export type SocketConstructor = new (url: string) => SocketLike;

/** TimerHandle is whatever {@link Timers.setTimeout} returns. */
export type TimerHandle = unknown;

/** Timers is the clock of a {@link Connection}; injected so tests run on fake time. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Wall-clock time in ms since the epoch (compared with JWT `exp`). */
  now(): number;
}

/**
 * KeyValueStorage persists the session (for resume after a reload, §5) and
 * the device part of action ids. Adapt `sessionStorage`, not `localStorage`:
 * tabs sharing one session id would resume each other's session and close
 * each other with 4409 (§6).
 */
export interface KeyValueStorage {
  get(key: string): string | null | undefined;
  set(key: string, value: string): void;
}

/** NetworkEvents is where `online`/`offline` events come from (`window` in a browser). */
export interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

/**
 * ConnectionOptions configures a {@link Connection}. Every field but `url`
 * and `tokenProvider` is optional; an omitted field takes the documented
 * default.
 */
export interface ConnectionOptions {
  /**
   * WebSocket URL of `/api/ws` (§1). A relative URL or an `http(s)` URL is
   * resolved against the page and switched to `ws(s)`. The client adds
   * `token`, and `session`/`last_seq` when resuming (§5).
   */
  url: string;
  /**
   * Returns a JWT for `/api/ws`. Called before the first connection, after a
   * 4401, when the cached token is about to expire, and `refreshBeforeMs`
   * before expiry on an open connection. It should return a new token each
   * time it is called: a 4401 right after it fails the connection (`auth`).
   */
  tokenProvider: () => Promise<string>;
  /** Reconnect attempts after a drop before giving up with `failed`. Default 10. */
  maxRetries?: number;
  /** Reconnect delay bounds. Default {@link DEFAULT_BACKOFF}. */
  backoff?: Partial<BackoffOptions>;
  /** Heartbeat interval until `Welcome.heartbeat_ms` replaces it (§5). Default 30 000. */
  heartbeatMs?: number;
  /** How long before the token's `exp` to refresh it on an open connection. Default 60 000. */
  refreshBeforeMs?: number;
  /** How long to wait for `Welcome` after opening a socket. Default 15 000. */
  connectTimeoutMs?: number;
  /** Socket constructor. Default the global `WebSocket`. */
  webSocket?: SocketConstructor;
  /** Clock. Default the global timers and `Date.now`. */
  timers?: Timers;
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Session and device-id persistence. Default: kept in memory only. */
  storage?: KeyValueStorage;
  /**
   * Source of `online`/`offline` events. Default `globalThis` when it has
   * `addEventListener` (a browser window); `null` disables them.
   */
  network?: NetworkEvents | null;
}

// ---------------------------------------------------------------------------
// Events

/** StateChange is the payload of the `state` event. */
export interface StateChange {
  newState: ConnState;
  oldState: ConnState;
}

/**
 * ConnectionEvents maps each event name of {@link Connection.on} to its
 * payload: one per server message type (the whole envelope, so `id` and
 * `seq` are visible), and `state`. `ActionResult` includes the answers to the
 * connection's own `RefreshToken`s (ids from {@link Connection.newActionId});
 * duplicates of an already delivered `seq` are never emitted.
 */
export interface ConnectionEvents {
  Welcome: ServerMessageOf<'Welcome'>;
  StateUpdate: ServerMessageOf<'StateUpdate'>;
  ActionResult: ServerMessageOf<'ActionResult'>;
  Error: ServerMessageOf<'Error'>;
  Heartbeat: ServerMessageOf<'Heartbeat'>;
  state: StateChange;
}

/** ConnectionEventName is a key of {@link ConnectionEvents}. */
export type ConnectionEventName = keyof ConnectionEvents;

// ---------------------------------------------------------------------------
// Constants

// The connection's timing constants and token reading live with the
// modules that use them; re-exported so that `client.js` stays the one
// import of the connection's API.
export { ACK_EVERY_MESSAGES, ACK_INTERVAL_MS } from './seqtracker.js';
export { DEAD_LINK_GRACE_MS } from './heartbeat.js';
export { MIN_REFRESH_INTERVAL_MS, TOKEN_MIN_VALIDITY_MS } from './refresh.js';
export { tokenExpiry } from './jwt.js';

const DEFAULTS = {
  maxRetries: 10,
  heartbeatMs: 30_000,
  refreshBeforeMs: 60_000,
  connectTimeoutMs: 15_000,
} as const;

const SESSION_KEY = 'cosmic.conn.session';
const DEVICE_KEY = 'cosmic.conn.device';

const SERVER_TYPES: ReadonlySet<string> = new Set<ServerMessageType>([
  'Welcome',
  'StateUpdate',
  'ActionResult',
  'Error',
  'Heartbeat',
]);

type TimerName = 'retry' | 'socket' | 'heartbeat' | 'ack' | 'refresh';

// ---------------------------------------------------------------------------
// Helpers

/**
 * parseServerMessage decodes one text frame, or returns undefined for
 * anything that is not a known server message: a client cannot answer the
 * server's errors, and a newer server may add types (unknown fields are
 * ignored, §2). It checks the envelope and the fields the connection itself
 * reads; the rest is the generated types' promise.
 */
function parseServerMessage(text: string): ServerMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v) || typeof v['type'] !== 'string' || !SERVER_TYPES.has(v['type'])) {
    return undefined;
  }
  const seq = v['seq'];
  if (seq !== undefined && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0)) {
    return undefined;
  }
  const data = v['data'];
  switch (v['type']) {
    case 'Heartbeat':
      return v as ServerMessage;
    case 'Welcome':
      if (!isObject(data) || typeof data['session_id'] !== 'string' || data['session_id'] === '') {
        return undefined;
      }
      return v as ServerMessage;
    default:
      return isObject(data) ? (v as ServerMessage) : undefined;
  }
}

function defaultTimers(): Timers {
  return {
    setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
    clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    now: () => Date.now(),
  };
}

function defaultNetwork(): NetworkEvents | null {
  const g = globalThis as { addEventListener?: unknown };
  return typeof g.addEventListener === 'function' ? (globalThis as unknown as NetworkEvents) : null;
}

function browserOnline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: unknown } }).navigator;
  return typeof nav?.onLine === 'boolean' ? nav.onLine : true;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`Connection: ${name} must be > 0, got ${v}`);
  return v;
}

// ---------------------------------------------------------------------------
// Connection

/**
 * Connection keeps one realtime connection to `/api/ws` alive: it
 * authenticates with the token in the URL (§1), resumes its session after a
 * drop (§5), acknowledges `seq` (§3), sends heartbeats and detects a dead
 * link (§5), refreshes the token before it expires (§1), and reconnects
 * according to the close-code table (§6), pausing while the browser is offline.
 *
 * Every state change goes through the pure `transition` of `state.ts` and the
 * one private `setState`, which emits `state`. Events of a socket that was
 * replaced or dropped are ignored (a generation number per socket). Timers
 * exist only in the state they belong to: heartbeat, ack and token refresh
 * while `open`, the Welcome deadline while connecting, the retry timer while
 * `reconnecting`.
 *
 * Nothing happens until {@link Connection.connect}. Not safe to share across
 * workers; all calls come from the page's event loop.
 */
export class Connection {
  private readonly url: string;
  private readonly tokenProvider: () => Promise<string>;
  private readonly maxRetries: number;
  private readonly backoff: BackoffOptions;
  private readonly refreshBeforeMs: number;
  private readonly connectTimeoutMs: number;
  private readonly Socket: SocketConstructor | undefined;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly storage: KeyValueStorage | undefined;
  private readonly network: NetworkEvents | null;
  private readonly clientPrefix: string;

  private current: ConnState = INITIAL_STATE;
  private readonly events = new Emitter<ConnectionEvents>();
  private readonly pending: ConnEvent[] = [];
  private dispatching = false;
  private readonly armed = new Map<TimerName, TimerHandle>();

  private socket: SocketLike | undefined;
  /** Incremented whenever the current socket changes; callbacks of older sockets compare and drop. */
  private generation = 0;
  private token: string | undefined;
  private tokenFetch = 0;
  private heartbeatMs: number;
  private lastReceivedAt = 0;

  private tracking: SeqTracking = NO_SESSION;
  private actionCounter = 0;
  private online: boolean;
  private listening = false;

  private readonly onOnline = (): void => {
    this.online = true;
    this.dispatch({ kind: 'browserOnline' });
  };
  private readonly onOffline = (): void => {
    this.online = false;
    this.dispatch({ kind: 'browserOffline' });
  };

  /**
   * Builds a connection without connecting. Throws a `TypeError` or
   * `RangeError` for an unusable option, so a misconfiguration shows at
   * start-up, not on the first reconnect.
   */
  constructor(options: ConnectionOptions) {
    if (typeof options.url !== 'string' || options.url === '') {
      throw new TypeError('Connection: url is required');
    }
    if (typeof options.tokenProvider !== 'function') {
      throw new TypeError('Connection: tokenProvider is required');
    }
    const maxRetries = options.maxRetries ?? DEFAULTS.maxRetries;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new RangeError(`Connection: maxRetries must be an integer >= 0, got ${maxRetries}`);
    }
    this.url = options.url;
    this.tokenProvider = options.tokenProvider;
    this.maxRetries = maxRetries;
    this.backoff = {
      baseMs: positive('backoff.baseMs', options.backoff?.baseMs, DEFAULT_BACKOFF.baseMs),
      capMs: positive('backoff.capMs', options.backoff?.capMs, DEFAULT_BACKOFF.capMs),
    };
    this.heartbeatMs = positive('heartbeatMs', options.heartbeatMs, DEFAULTS.heartbeatMs);
    this.refreshBeforeMs = options.refreshBeforeMs ?? DEFAULTS.refreshBeforeMs;
    if (!Number.isFinite(this.refreshBeforeMs) || this.refreshBeforeMs < 0) {
      throw new RangeError(`Connection: refreshBeforeMs must be >= 0, got ${this.refreshBeforeMs}`);
    }
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    // Assigned through a typed constant so the compiler checks that the DOM
    // WebSocket really is a SocketConstructor.
    const native: SocketConstructor | undefined = typeof WebSocket === 'function' ? WebSocket : undefined;
    this.Socket = options.webSocket ?? native;
    this.timers = options.timers ?? defaultTimers();
    this.random = options.random ?? Math.random;
    this.storage = options.storage;
    this.network = options.network === undefined ? defaultNetwork() : options.network;
    this.online = this.readOnline();
    this.loadSession();
    this.clientPrefix = `${this.devicePart()}.${this.randomHex(4)}`;
  }

  // -- public API ------------------------------------------------------------

  /** state is the current connection state. */
  get state(): ConnState {
    return this.current;
  }

  /** nextRetryAt is when the next reconnect attempt happens (ms since the epoch), while `reconnecting`; for a countdown. */
  get nextRetryAt(): number | undefined {
    return this.current.kind === 'reconnecting' ? this.current.retryAt : undefined;
  }

  /** sessionId is the session this client resumes on reconnect (§5), if any. */
  get sessionId(): string | undefined {
    return this.tracking.session;
  }

  /** lastSeq is the highest `seq` received in order in this session (§2, §5); 0 before any. */
  get lastSeq(): number {
    return this.tracking.seq;
  }

  /**
   * connect starts connecting, from `closed` or `failed`; otherwise it does
   * nothing. It also starts listening to the browser's network events.
   */
  connect(): void {
    this.online = this.readOnline();
    this.listen(true);
    this.dispatch({ kind: 'start' });
  }

  /**
   * close closes the connection with 1000 and stops reconnecting (state
   * `closed`, reason `app`). It first acknowledges what was received, so the
   * server can trim its resend buffer. The session is kept: a later
   * `connect()` resumes it.
   */
  close(): void {
    if (this.current.kind === 'open') this.flushAck();
    this.listen(false);
    this.dispatch({ kind: 'stop' });
  }

  /**
   * retryNow connects at once: from `reconnecting` (skipping the rest of the
   * delay), `failed` (with a fresh retry budget) or `offline` (the browser
   * may be wrong). Elsewhere it does nothing.
   */
  retryNow(): void {
    this.dispatch({ kind: 'manualRetry' });
  }

  /**
   * send sends `msg` if the connection is `open` and returns true; otherwise
   * it returns false and drops it. Callers that must not lose an action keep
   * it in their offline queue and replay it with the same `id` after the
   * next `Welcome`: the server applies an `id` at most once (§2).
   */
  send(msg: ClientMessage): boolean {
    if (this.current.kind !== 'open') return false;
    return this.write(msg);
  }

  /**
   * on subscribes `handler` to `type` and returns the function that
   * unsubscribes it. A throwing handler does not disturb the connection or
   * other handlers; its error is rethrown asynchronously.
   */
  on<K extends ConnectionEventName>(type: K, handler: (payload: ConnectionEvents[K]) => void): () => void {
    return this.events.on(type, handler);
  }

  /**
   * newActionId returns a fresh `id` for an action (§2): `<device>.<load>-<n>`.
   * The device part is random and persisted in `storage`; the load part is
   * random per `Connection`, because a counter restarting after a reload, or
   * running in two tabs, would repeat ids that the server answers from its
   * idempotency record instead of applying. About 30 bytes, under the 64-byte limit.
   */
  newActionId(): string {
    this.actionCounter += 1;
    return `${this.clientPrefix}-${this.actionCounter}`;
  }

  // -- state -----------------------------------------------------------------

  /** dispatch runs events through `transition` one at a time, even when a handler raises another. */
  private dispatch(event: ConnEvent): void {
    this.pending.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let ev = this.pending.shift(); ev !== undefined; ev = this.pending.shift()) {
        const next = transition(this.current, ev, this.context());
        this.setState(next.state);
        for (const effect of next.effects) this.run(effect);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private context(): TransitionContext {
    const now = this.timers.now();
    return {
      maxRetries: this.maxRetries,
      backoff: this.backoff,
      random: this.random,
      now,
      online: this.online,
      hasFreshToken: hasFreshToken(this.token, now),
    };
  }

  /** setState is the only place the state changes. */
  private setState(next: ConnState): void {
    const prev = this.current;
    if (next === prev) return;
    this.current = next;
    if (next.kind !== prev.kind) {
      // Timers belong to the state that armed them.
      for (const name of [...this.armed.keys()]) this.clearTimer(name);
      if (next.kind === 'open') this.enterOpen();
    }
    this.events.emit('state', { newState: next, oldState: prev });
  }

  private run(effect: Effect): void {
    switch (effect.kind) {
      case 'openSocket':
        this.openSocket();
        return;
      case 'closeSocket':
        this.dropSocket(effect.code, effect.reason);
        return;
      case 'scheduleRetry':
        this.setTimer('retry', effect.delayMs, () => this.dispatch({ kind: 'retryTimer' }));
        return;
      case 'fetchToken':
        this.fetchToken();
        return;
      case 'sendRefreshToken':
        this.write({ type: 'RefreshToken', id: this.newActionId(), data: { token: effect.token } });
        return;
      case 'resetSession':
        this.track({ kind: 'reset' });
        return;
    }
  }

  // -- socket ----------------------------------------------------------------

  private openSocket(): void {
    this.dropSocket(CLIENT_ABORT_CODE, 'replaced');
    const gen = ++this.generation;
    let socket: SocketLike;
    try {
      if (this.Socket === undefined) throw new Error('no WebSocket implementation');
      socket = new this.Socket(this.socketUrl());
    } catch {
      // A bad URL or a missing WebSocket fails like an unreachable server.
      this.generation++;
      this.dispatch({ kind: 'socketClosed', code: 1006, reason: 'socket construction failed' });
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => {
      if (gen === this.generation) this.receive(ev.data);
    };
    socket.onclose = (ev) => {
      if (gen !== this.generation) return;
      this.forgetSocket();
      this.dispatch({ kind: 'socketClosed', code: ev.code, reason: ev.reason });
    };
    // onopen and onerror stay unset: `Welcome`, not the WebSocket open event,
    // opens the connection, and an error is always followed by close.
    this.setTimer('socket', this.connectTimeoutMs, () => this.abort('connect timeout'));
  }

  private socketUrl(): string {
    const base = (globalThis as { location?: { href?: unknown } }).location?.href;
    const u = new URL(this.url, typeof base === 'string' ? base : undefined);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    else if (u.protocol === 'https:') u.protocol = 'wss:';
    // Browsers cannot set headers on a WebSocket, so the token rides in the query (§1).
    u.searchParams.set('token', this.token ?? '');
    if (this.tracking.session !== undefined) {
      u.searchParams.set('session', this.tracking.session);
      u.searchParams.set('last_seq', String(this.tracking.seq));
    } else {
      u.searchParams.delete('session');
      u.searchParams.delete('last_seq');
    }
    return u.toString();
  }

  /** forgetSocket detaches the current socket so that its later events are stale. */
  private forgetSocket(): SocketLike | undefined {
    const socket = this.socket;
    this.socket = undefined;
    this.generation++;
    this.clearTimer('socket');
    if (socket !== undefined) {
      socket.onmessage = null;
      socket.onclose = null;
    }
    return socket;
  }

  private dropSocket(code: number, reason: string): void {
    const socket = this.forgetSocket();
    try {
      socket?.close(code, reason);
    } catch {
      // Already closing; nothing to do.
    }
  }

  /** abort drops a socket that the client judged dead and reports it like an abnormal close. */
  private abort(reason: string): void {
    this.dropSocket(CLIENT_ABORT_CODE, reason);
    this.dispatch({ kind: 'socketClosed', code: CLIENT_ABORT_CODE, reason });
  }

  private write(msg: ClientMessage): boolean {
    if (this.socket === undefined) return false;
    try {
      this.socket.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  private receive(data: unknown): void {
    this.lastReceivedAt = this.timers.now();
    if (typeof data !== 'string') return; // text frames only (§1)
    const msg = parseServerMessage(data);
    if (msg === undefined) return;
    if (msg.type === 'Welcome') {
      this.welcome(msg.data.session_id, msg.data.resumed, msg.data.heartbeat_ms);
    } else if (msg.type !== 'Heartbeat' && msg.seq !== undefined) {
      const step = this.track({ kind: 'received', seq: msg.seq });
      if (!step.deliver) return; // a duplicate (seqtracker.ts)
      this.ackLater(step.ack);
    }
    this.emitMessage(msg);
  }

  private welcome(sessionId: string, resumed: boolean, heartbeatMs: number): void {
    this.heartbeatMs = heartbeatInterval(this.heartbeatMs, heartbeatMs);
    this.track({ kind: 'welcome', sessionId, resumed });
    this.dispatch({ kind: 'socketOpen', sessionId });
  }

  /** track runs one input through the pure `seqStep` and persists when it says so. */
  private track(input: SeqInput): SeqStep {
    const step = seqStep(this.tracking, input);
    this.tracking = step.tracking;
    if (step.persist) this.saveSession();
    return step;
  }

  /** emitMessage emits a message as the event its type names; parseServerMessage admits only those types. */
  private emitMessage(msg: ServerMessage): void {
    this.events.emit(msg.type, msg);
  }

  // -- open-state timers -----------------------------------------------------

  private enterOpen(): void {
    this.lastReceivedAt = this.timers.now();
    this.armHeartbeat();
    this.armDeadLink();
    this.armRefresh(0);
    if (pendingAck(this.tracking) !== undefined) this.flushAck();
  }

  private armHeartbeat(): void {
    this.setTimer('heartbeat', this.heartbeatMs, () => {
      this.write({ type: 'Heartbeat' });
      this.armHeartbeat();
    });
  }

  /** armDeadLink checks the link now and again when it could next be dead (heartbeat.ts, §5). */
  private armDeadLink(): void {
    const check = checkLink(this.lastReceivedAt, this.timers.now(), this.heartbeatMs);
    if (check.kind === 'dead') this.abort('heartbeat timeout');
    else this.setTimer('socket', check.checkInMs, () => this.armDeadLink());
  }

  /** ackLater acts on a step's `ack` while open; `enterOpen` flushes what arrived before. */
  private ackLater(ack: SeqStep['ack']): void {
    if (ack === 'none' || this.current.kind !== 'open') return;
    if (ack === 'now') this.flushAck();
    else if (!this.armed.has('ack')) this.setTimer('ack', ACK_INTERVAL_MS, () => this.flushAck());
  }

  private flushAck(): void {
    this.clearTimer('ack');
    const seq = pendingAck(this.tracking);
    if (seq === undefined || this.current.kind !== 'open') return;
    if (!this.write({ type: 'Ack', data: { seq } })) return;
    this.track({ kind: 'acked' });
  }

  /** armRefresh raises `tokenExpiring` when refresh.ts says, but not sooner than `minDelayMs`. */
  private armRefresh(minDelayMs: number): void {
    if (this.current.kind !== 'open') return;
    const delay = refreshDelay(this.token, this.timers.now(), this.refreshBeforeMs, minDelayMs);
    if (delay === undefined) return;
    this.setTimer('refresh', delay, () => this.dispatch({ kind: 'tokenExpiring' }));
  }

  private fetchToken(): void {
    const id = ++this.tokenFetch;
    let p: Promise<string>;
    try {
      p = Promise.resolve(this.tokenProvider());
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (token) => {
        if (id !== this.tokenFetch) return;
        if (typeof token !== 'string' || token === '') {
          this.dispatch({ kind: 'tokenFailed' });
        } else {
          this.token = token;
          this.dispatch({ kind: 'tokenRefreshed', token });
        }
        this.armRefresh(MIN_REFRESH_INTERVAL_MS);
      },
      () => {
        if (id !== this.tokenFetch) return;
        this.dispatch({ kind: 'tokenFailed' });
        this.armRefresh(MIN_REFRESH_INTERVAL_MS);
      },
    );
  }

  // -- timers ----------------------------------------------------------------

  private setTimer(name: TimerName, ms: number, fn: () => void): void {
    this.clearTimer(name);
    const handle = this.timers.setTimeout(() => {
      if (this.armed.get(name) !== handle) return;
      this.armed.delete(name);
      fn();
    }, ms);
    this.armed.set(name, handle);
  }

  private clearTimer(name: TimerName): void {
    if (!this.armed.has(name)) return;
    this.timers.clearTimeout(this.armed.get(name));
    this.armed.delete(name);
  }

  // -- environment -----------------------------------------------------------

  /** Without network events an `offline` state could never end, so then the client assumes online. */
  private readOnline(): boolean {
    return this.network === null ? true : browserOnline();
  }

  private listen(on: boolean): void {
    if (this.network === null || on === this.listening) return;
    this.listening = on;
    if (on) {
      this.network.addEventListener('online', this.onOnline);
      this.network.addEventListener('offline', this.onOffline);
    } else {
      this.network.removeEventListener('online', this.onOnline);
      this.network.removeEventListener('offline', this.onOffline);
    }
  }

  private loadSession(): void {
    this.tracking = decodeSession(this.storageGet(SESSION_KEY)); // a corrupt entry starts a new session
  }

  private saveSession(): void {
    this.storageSet(SESSION_KEY, encodeSession(this.tracking));
  }

  private devicePart(): string {
    const stored = this.storageGet(DEVICE_KEY);
    if (stored && /^[0-9a-f]{8,32}$/.test(stored)) return stored;
    const fresh = this.randomHex(6);
    this.storageSet(DEVICE_KEY, fresh);
    return fresh;
  }

  private randomHex(bytes: number): string {
    const buf = new Uint8Array(bytes);
    const crypto = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
    if (typeof crypto?.getRandomValues === 'function') {
      crypto.getRandomValues(buf);
    } else {
      for (let i = 0; i < bytes; i++) buf[i] = Math.floor(this.random() * 256) & 0xff;
    }
    let s = '';
    for (const b of buf) s += b.toString(16).padStart(2, '0');
    return s;
  }

  // Storage may throw (Safari private mode, quota); persistence is best effort.
  private storageGet(key: string): string | null | undefined {
    try {
      return this.storage?.get(key);
    } catch {
      return undefined;
    }
  }

  private storageSet(key: string, value: string): void {
    try {
      this.storage?.set(key, value);
    } catch {
      // Best effort.
    }
  }
}
