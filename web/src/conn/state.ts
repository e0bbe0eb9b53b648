/**
 * The connection state machine, as one pure function.
 *
 * {@link transition} takes a state, an event and a context (time, randomness,
 * whether the browser is online, whether a usable token is cached) and
 * returns the next state plus the effects to carry out, as data. It performs
 * no I/O and reads no clock, so every decision, in particular the close-code
 * table of protocol.md §6, is tested without sockets or timers. `client.ts` runs
 * the effects and turns socket, timer and browser callbacks into events.
 *
 * All the machine's memory is in the state object: no booleans beside it
 * (STYLE §7).
 *
 * @module
 */

import { backoffDelay, type BackoffOptions } from './backoff.js';
import { CloseCode } from './protocol.js';

/**
 * CLIENT_ABORT_CODE is the close code this client uses when it drops a socket
 * itself (dead link, connect timeout, browser offline). Browsers only let
 * scripts close with 1000 or 3000–4999; 4000 is outside the server's table
 * (§6), so logs tell a client abort from a server close. The machine treats it
 * as an abnormal close: reconnect.
 */
export const CLIENT_ABORT_CODE = 4000;

/**
 * RATE_LIMITED_MIN_DELAY_MS is added to the backoff after a 4429 (§5,
 * §6): reconnecting within a second would only hit the limit again.
 */
export const RATE_LIMITED_MIN_DELAY_MS = 5000;

/**
 * MAX_AUTH_FAILURES is how many 4401 closes in a row, without a `Welcome` in
 * between, the client accepts before it gives up with `failed` / `auth`: the
 * first means "get a new token" (§1); a second right after a fresh token
 * means the provider cannot produce one the server accepts, and looping
 * would only hammer both.
 */
export const MAX_AUTH_FAILURES = 2;

/**
 * ConnectingState: a connection attempt is under way.
 *
 * - `attempt` counts the failed attempts since the last `open` (0 for the
 *   first connection), so the next failure knows its backoff.
 * - `authFailures` counts consecutive 4401 closes since the last `open`.
 * - `step` is `token` while waiting for the token provider (no socket
 *   exists), `socket` once the socket is opening; `open` follows `Welcome`.
 */
export interface ConnectingState {
  kind: 'connecting';
  attempt: number;
  authFailures: number;
  step: 'token' | 'socket';
}

/** OpenState: `Welcome` received (§5); `send` works. */
export interface OpenState {
  kind: 'open';
  sessionId: string;
}

/**
 * ReconnectingState: waiting `delayMs` before attempt number `attempt`
 * (1-based). `retryAt` is the wall-clock time (ms) of that attempt, for a
 * countdown in the UI.
 */
export interface ReconnectingState {
  kind: 'reconnecting';
  attempt: number;
  delayMs: number;
  retryAt: number;
}

/**
 * OfflineState: the browser reports no network. No attempt is made and none
 * is counted until it reports `online` again, then the client connects at once.
 */
export interface OfflineState {
  kind: 'offline';
}

/**
 * FailReason says why the client stopped retrying:
 * - `retries_exhausted`: `maxRetries` reconnects failed;
 * - `auth`: the token provider failed after a 4401, or a fresh token was
 *   refused again (§1);
 * - `protocol`: the server closed for a protocol violation (4400, or the
 *   standard 1002/1003/1007/1008), which retrying blindly repeats (§6);
 * - `message_too_big`: 1009, a sender bug (§6).
 */
export type FailReason = 'retries_exhausted' | 'auth' | 'protocol' | 'message_too_big';

/** FailedState: given up; only `retryNow()` (or `connect()`) starts again. `code` is the last close code, when there was one. */
export interface FailedState {
  kind: 'failed';
  reason: FailReason;
  code?: number;
}

/**
 * ClosedReason says who ended the connection: the app (`close()`, or never
 * connected), the server with 1000 (`normal`), or another connection that took
 * the session over with 4409 (`taken_over`, §5), e.g. another tab.
 */
export type ClosedReason = 'app' | 'normal' | 'taken_over';

/** ClosedState: not connected and not trying to. */
export interface ClosedState {
  kind: 'closed';
  reason: ClosedReason;
}

/** ConnState is the connection state, discriminated on `kind` (STYLE §7). */
export type ConnState =
  | ConnectingState
  | OpenState
  | ReconnectingState
  | OfflineState
  | FailedState
  | ClosedState;

/** ConnStateKind names the states. */
export type ConnStateKind = ConnState['kind'];

/** INITIAL_STATE is the state of a connection that was never started. */
export const INITIAL_STATE: ConnState = Object.freeze({ kind: 'closed', reason: 'app' });

/**
 * ConnEvent is everything that can move the machine. The client raises each
 * one from exactly one place:
 * - `start` / `stop` / `manualRetry`: `connect()`, `close()`, `retryNow()`;
 * - `socketOpen`: `Welcome` received on the current socket (not the
 *   WebSocket `open` event: before `Welcome` the session is unknown);
 * - `socketClosed`: the current socket closed, or the client aborted it
 *   ({@link CLIENT_ABORT_CODE});
 * - `retryTimer`: the `scheduleRetry` delay ran out;
 * - `browserOffline` / `browserOnline`: the browser's network events;
 * - `tokenExpiring`: the token expires within `refreshBeforeMs`;
 * - `tokenRefreshed` / `tokenFailed`: the outcome of a `fetchToken` effect.
 */
export type ConnEvent =
  | { kind: 'start' }
  | { kind: 'stop' }
  | { kind: 'manualRetry' }
  | { kind: 'socketOpen'; sessionId: string }
  | { kind: 'socketClosed'; code: number; reason: string }
  | { kind: 'retryTimer' }
  | { kind: 'browserOffline' }
  | { kind: 'browserOnline' }
  | { kind: 'tokenExpiring' }
  | { kind: 'tokenRefreshed'; token: string }
  | { kind: 'tokenFailed' };

/** ConnEventKind names the events. */
export type ConnEventKind = ConnEvent['kind'];

/**
 * Effect is an instruction for the client:
 * - `openSocket`: connect with the cached token, resuming the session if any;
 * - `closeSocket`: close the current socket with `code` and ignore its events;
 * - `scheduleRetry`: raise `retryTimer` after `delayMs`;
 * - `fetchToken`: call the token provider, then raise `tokenRefreshed` or
 *   `tokenFailed`;
 * - `sendRefreshToken`: send `RefreshToken {token}` on the open socket (§1);
 * - `resetSession`: forget the session id and `last_seq`, so the next
 *   connection starts a new session instead of resuming.
 */
export type Effect =
  | { kind: 'openSocket' }
  | { kind: 'closeSocket'; code: number; reason: string }
  | { kind: 'scheduleRetry'; delayMs: number }
  | { kind: 'fetchToken' }
  | { kind: 'sendRefreshToken'; token: string }
  | { kind: 'resetSession' };

/** TransitionContext is everything impure that a decision needs, passed in. */
export interface TransitionContext {
  /** Reconnect attempts allowed after a drop before `failed` (0: none). */
  maxRetries: number;
  backoff: BackoffOptions;
  /** Source of jitter, in [0, 1). */
  random: () => number;
  /** Current time, ms since the epoch; only used to compute `retryAt`. */
  now: number;
  /** Whether the browser believes it has a network (`navigator.onLine`). */
  online: boolean;
  /** Whether a token that is not about to expire is cached; if not, connecting fetches one first. */
  hasFreshToken: boolean;
}

/** Transition is the result of {@link transition}: next state (the same object when nothing changed) and effects in order. */
export interface Transition {
  state: ConnState;
  effects: Effect[];
}

/**
 * CloseAction is what the close-code table (§6) says to do:
 * - `close`: 1000, done;
 * - `takenOver`: 4409, done, and do not resume this session again;
 * - `failProtocol`: 4400 and the standard 1002/1003/1007/1008;
 * - `failTooBig`: 1009;
 * - `reauth`: 4401, get a new token, then reconnect;
 * - `retrySlow`: 4429, back off at least {@link RATE_LIMITED_MIN_DELAY_MS};
 * - `retry`: everything else, including 1001, 1006 (network), 4408 and
 *   {@link CLIENT_ABORT_CODE}: reconnect with backoff and resume. Unknown
 *   codes retry too, since `maxRetries` bounds the cost of being wrong.
 */
export type CloseAction =
  | 'close'
  | 'takenOver'
  | 'failProtocol'
  | 'failTooBig'
  | 'reauth'
  | 'retrySlow'
  | 'retry';

/** classifyClose maps a close code to its {@link CloseAction} (protocol.md §6). */
export function classifyClose(code: number): CloseAction {
  switch (code) {
    case CloseCode.Normal:
      return 'close';
    case CloseCode.TakenOver:
      return 'takenOver';
    case CloseCode.MessageTooBig:
      return 'failTooBig';
    case CloseCode.ProtocolViolation:
    case 1002: // protocol error
    case 1003: // unsupported data
    case 1007: // invalid payload
    case 1008: // policy violation
      return 'failProtocol';
    case CloseCode.Unauthorized:
      return 'reauth';
    case CloseCode.RateLimited:
      return 'retrySlow';
    default:
      return 'retry';
  }
}

const stay = (state: ConnState): Transition => ({ state, effects: [] });

/** Enter `connecting`, fetching a token first unless a fresh one is cached. */
function connect(
  attempt: number,
  authFailures: number,
  ctx: TransitionContext,
  forceToken = false,
): Transition {
  if (forceToken || !ctx.hasFreshToken) {
    return {
      state: { kind: 'connecting', attempt, authFailures, step: 'token' },
      effects: [{ kind: 'fetchToken' }],
    };
  }
  return {
    state: { kind: 'connecting', attempt, authFailures, step: 'socket' },
    effects: [{ kind: 'openSocket' }],
  };
}

function failed(reason: FailReason, code?: number): Transition {
  const state: FailedState =
    code === undefined ? { kind: 'failed', reason } : { kind: 'failed', reason, code };
  return { state, effects: [] };
}

/**
 * After failed attempt number `failures` (1-based): wait and retry, go
 * offline without counting it, or give up.
 */
function retry(
  failures: number,
  ctx: TransitionContext,
  code?: number,
  minDelayMs = 0,
): Transition {
  if (!ctx.online) return { state: { kind: 'offline' }, effects: [] };
  if (failures > ctx.maxRetries) return failed('retries_exhausted', code);
  const delayMs = minDelayMs + backoffDelay(failures - 1, ctx.backoff, ctx.random);
  return {
    state: { kind: 'reconnecting', attempt: failures, delayMs, retryAt: ctx.now + delayMs },
    effects: [{ kind: 'scheduleRetry', delayMs }],
  };
}

/** The current socket closed while `connecting` (attempt, authFailures from it) or `open` (0, 0). */
function socketClosed(
  attempt: number,
  authFailures: number,
  code: number,
  ctx: TransitionContext,
): Transition {
  switch (classifyClose(code)) {
    case 'close':
      return { state: { kind: 'closed', reason: 'normal' }, effects: [] };
    case 'takenOver':
      // Another connection owns the session now (§5); resuming it from
      // here would take it back and start a takeover loop between tabs.
      return {
        state: { kind: 'closed', reason: 'taken_over' },
        effects: [{ kind: 'resetSession' }],
      };
    case 'failProtocol':
      return failed('protocol', code);
    case 'failTooBig':
      return failed('message_too_big', code);
    case 'reauth': {
      const n = authFailures + 1;
      if (n >= MAX_AUTH_FAILURES) return failed('auth', code);
      return connect(attempt, n, ctx, true);
    }
    case 'retrySlow':
      return retry(attempt + 1, ctx, code, RATE_LIMITED_MIN_DELAY_MS);
    case 'retry':
      return retry(attempt + 1, ctx, code);
  }
}

/**
 * transition is the connection state machine: the next state and the effects
 * to run for `event` in `state`. It is pure; an event that does not apply to
 * a state returns `state` itself and no effects, which is how the client
 * drops late events (a token arriving after `close()`, a timer racing a close).
 *
 * The decisions, by state:
 * - `closed`, `failed`: `start` connects (attempt 0), or goes `offline` when
 *   the browser is offline. `failed` also accepts `manualRetry`, and
 *   `browserOnline` when it failed for `retries_exhausted` (the network may
 *   have been the cause).
 * - `connecting`/`token`: `tokenRefreshed` opens the socket; `tokenFailed`
 *   fails with `auth` after a 4401, else counts as a failed attempt.
 * - `connecting`/`socket`: `socketOpen` → `open`; `socketClosed` follows
 *   {@link classifyClose}, counting from this attempt.
 * - `open`: `socketClosed` as above from attempt 0; `tokenExpiring` fetches a
 *   token, whose `tokenRefreshed` is sent as `RefreshToken` (§1).
 * - `reconnecting`: `retryTimer` or `manualRetry` connects.
 * - `offline`: only `browserOnline`, `manualRetry` (connect at once, attempt
 *   0) and `stop` apply.
 * - everywhere but `closed`: `stop` → `closed`/`app`, closing the socket with 1000;
 *   `browserOffline` → `offline`, closing any socket with
 *   {@link CLIENT_ABORT_CODE} (a socket over no network only fails later).
 */
export function transition(state: ConnState, event: ConnEvent, ctx: TransitionContext): Transition {
  const hasSocket =
    state.kind === 'open' || (state.kind === 'connecting' && state.step === 'socket');

  switch (event.kind) {
    case 'start':
      if (state.kind !== 'closed' && state.kind !== 'failed') return stay(state);
      if (!ctx.online) return { state: { kind: 'offline' }, effects: [] };
      return connect(0, 0, ctx);

    case 'stop':
      // A closed connection keeps its reason (`taken_over` matters to the UI).
      if (state.kind === 'closed') return stay(state);
      return {
        state: { kind: 'closed', reason: 'app' },
        effects: hasSocket
          ? [{ kind: 'closeSocket', code: CloseCode.Normal, reason: 'client closed' }]
          : [],
      };

    case 'manualRetry':
      switch (state.kind) {
        case 'reconnecting':
          return connect(state.attempt, 0, ctx);
        case 'failed':
        case 'offline':
          return connect(0, 0, ctx);
        default:
          return stay(state);
      }

    case 'socketOpen':
      if (state.kind === 'connecting' && state.step === 'socket') {
        return { state: { kind: 'open', sessionId: event.sessionId }, effects: [] };
      }
      return stay(state);

    case 'socketClosed':
      if (state.kind === 'open') return socketClosed(0, 0, event.code, ctx);
      if (state.kind === 'connecting' && state.step === 'socket') {
        return socketClosed(state.attempt, state.authFailures, event.code, ctx);
      }
      return stay(state);

    case 'retryTimer':
      if (state.kind === 'reconnecting') return connect(state.attempt, 0, ctx);
      return stay(state);

    case 'browserOffline':
      switch (state.kind) {
        case 'open':
        case 'connecting':
        case 'reconnecting':
          return {
            state: { kind: 'offline' },
            effects: hasSocket
              ? [{ kind: 'closeSocket', code: CLIENT_ABORT_CODE, reason: 'browser offline' }]
              : [],
          };
        default:
          return stay(state);
      }

    case 'browserOnline':
      if (state.kind === 'offline') return connect(0, 0, ctx);
      if (state.kind === 'failed' && state.reason === 'retries_exhausted') return connect(0, 0, ctx);
      return stay(state);

    case 'tokenExpiring':
      if (state.kind === 'open') return { state, effects: [{ kind: 'fetchToken' }] };
      return stay(state);

    case 'tokenRefreshed':
      if (state.kind === 'open') {
        return { state, effects: [{ kind: 'sendRefreshToken', token: event.token }] };
      }
      if (state.kind === 'connecting' && state.step === 'token') {
        return { state: { ...state, step: 'socket' }, effects: [{ kind: 'openSocket' }] };
      }
      return stay(state);

    case 'tokenFailed':
      if (state.kind === 'connecting' && state.step === 'token') {
        // After a 4401 the server has said the old token is no good, so a
        // provider that cannot produce another is final. Without one, the
        // provider may simply be unreachable: count it like a failed socket.
        if (state.authFailures > 0) return failed('auth');
        return retry(state.attempt + 1, ctx);
      }
      // In `open` the current token still works until the server's 4401.
      return stay(state);
  }
}
