/**
 * Connection layer of the Cosmic Gardener browser client: one resilient
 * WebSocket to `/api/ws` speaking the wire contract v1
 * (/work/shared/CONTRACT.md).
 *
 * - {@link Connection} (`client.ts`) runs the connection: token in the URL
 *   (§1), resume with `session`/`last_seq` and batched `Ack` (§5.2, §3),
 *   heartbeats and dead-link detection (§5.4), token refresh (§1), reconnects
 *   by the close-code table (§6).
 * - {@link transition} (`state.ts`) is the pure state machine that decides
 *   every state change; {@link backoffDelay} (`backoff.ts`) the reconnect
 *   delay.
 * - `protocol.ts` declares the wire types; it will be generated from
 *   `shared/protocol`.
 *
 * No game rules or patching here: those belong to the WASM module (STYLE §7).
 *
 * @example
 * ```ts
 * const conn = new Connection({ url: '/api/ws', tokenProvider: fetchToken });
 * conn.on('state', ({ newState }) => render(newState));
 * conn.on('StateUpdate', (msg) => game.apply(msg.data));
 * conn.connect();
 * conn.send({ type: 'Research', id: conn.newActionId(), data: { topic: 'fusion' } });
 * ```
 *
 * @module
 */

export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export {
  ACK_EVERY_MESSAGES,
  ACK_INTERVAL_MS,
  Connection,
  DEAD_LINK_GRACE_MS,
  MIN_REFRESH_INTERVAL_MS,
  TOKEN_MIN_VALIDITY_MS,
  tokenExpiry,
  type ConnectionEventName,
  type ConnectionEvents,
  type ConnectionOptions,
  type KeyValueStorage,
  type NetworkEvents,
  type SocketConstructor,
  type SocketLike,
  type StateChange,
  type TimerHandle,
  type Timers,
} from './client.js';
export * from './protocol.js';
export {
  classifyClose,
  CLIENT_ABORT_CODE,
  INITIAL_STATE,
  MAX_AUTH_FAILURES,
  RATE_LIMITED_MIN_DELAY_MS,
  transition,
  type CloseAction,
  type ClosedReason,
  type ClosedState,
  type ConnectingState,
  type ConnEvent,
  type ConnEventKind,
  type ConnState,
  type ConnStateKind,
  type Effect,
  type FailedState,
  type FailReason,
  type OfflineState,
  type OpenState,
  type ReconnectingState,
  type Transition,
  type TransitionContext,
} from './state.js';
