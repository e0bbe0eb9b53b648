/**
 * Wire types of the Cosmic Gardener realtime protocol v1
 * (docs/protocol.md §2–§6).
 *
 * Every data shape, code and constant comes from `protocol.gen.ts`, which
 * `tools/tsgen` generates from `shared/protocol` and `shared/game` (`make
 * generate`; a Go test fails when it is stale). This file only adds what Go
 * cannot express: the discriminated unions of whole messages (which variants
 * carry an `id` or a `seq`), a `StateUpdate` discriminated on `full`, and a
 * few names the rest of the client uses. Declarations only; decoding lives in
 * `client.ts`, game logic in the WASM core.
 *
 * @module
 */

import type {
  Ack,
  ActionResult,
  ClientMessageData,
  ClientMessageType,
  CreateCelestialBody,
  ErrorMessage,
  GameState,
  JsonPatchOperation,
  RefreshToken,
  Research,
  SaveGame,
  ServerMessageType,
  StateData,
  Vec3,
  Welcome,
} from './protocol.gen.js';

export * from './protocol.gen.js';

/** Position is a point in garden space; each coordinate a finite number (§3). */
export type Position = Vec3;

/** ErrorData is the `data` of an `Error`; envelope `id` echoes the offending message's `id` (§4). */
export type ErrorData = ErrorMessage;

// ---------------------------------------------------------------------------
// Client → server (§3)

/**
 * ClientMessage is every frame a client may send (§3). Actions carry an `id`
 * (the idempotency key, §2), and so does `RefreshToken`, whose
 * `ActionResult` echoes it; `Ack` and `Heartbeat` carry none.
 */
export type ClientMessage =
  | { type: 'CreateCelestialBody'; id: string; data: CreateCelestialBody }
  | { type: 'Research'; id: string; data: Research }
  | { type: 'SaveGame'; id: string; data: SaveGame }
  | { type: 'RefreshToken'; id: string; data: RefreshToken }
  | { type: 'GetState'; id?: string }
  | { type: 'Ack'; data: Ack }
  | { type: 'Heartbeat' };

/** ClientMessageOf picks one variant of {@link ClientMessage} by its `type`. */
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

// ---------------------------------------------------------------------------
// Server → client (§4)

/** FullState is the whole garden at `version`, with the digest `hash` of its canonical encoding (§4). */
export type FullState = Required<Pick<StateData, 'version' | 'state' | 'hash'>>;

/** StatePatch takes version `base` to `version`; `hash` lets the client prove it converged (§4). */
export type StatePatch = Required<Pick<StateData, 'version' | 'base' | 'patch' | 'hash'>>;

/**
 * StateUpdate keeps the seed's nesting (§4): `full` beside an inner `data`.
 * Discriminated on `full` so a consumer cannot read `patch` from a full state
 * (the generated `StateData` has every member optional).
 */
export type StateUpdate =
  | { full: true; data: FullState }
  | { full: false; data: StatePatch };

/**
 * ServerMessage is every frame the server sends (§4), discriminated on
 * `type`. `seq` is present on `StateUpdate`, `ActionResult` and `Error`,
 * except `Error rate_limited` (§2).
 */
export type ServerMessage =
  | { type: 'Welcome'; data: Welcome }
  | { type: 'StateUpdate'; seq?: number; data: StateUpdate }
  | { type: 'ActionResult'; id?: string; seq?: number; data: ActionResult }
  | { type: 'Error'; id?: string; seq?: number; data: ErrorData }
  | { type: 'Heartbeat' };

/** ServerMessageOf picks one variant of {@link ServerMessage} by its `type`. */
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

// ---------------------------------------------------------------------------
// Authentication (§1)

/** AuthCode is the close reason of a 4401 (§1): which is why the client must fetch a new token. */
export type AuthCode = 'auth_required' | 'auth_invalid' | 'auth_expired';

// ---------------------------------------------------------------------------
// Compile-time checks that the hand-written unions cover the generated
// tables exactly: a new Go message type fails `npm run typecheck` here until
// it is added above.

type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type DataOf<M> = M extends { data: infer D } ? D : undefined;

/** @internal */
export type ProtocolChecks = [
  Assert<Exact<ClientMessage['type'], ClientMessageType>>,
  Assert<Exact<ServerMessage['type'], ServerMessageType>>,
  Assert<Exact<{ [T in ClientMessageType]: DataOf<ClientMessageOf<T>> }, ClientMessageData>>,
  Assert<Exact<ServerMessageOf<'StateUpdate'>['data']['data'] extends StateData ? true : false, true>>,
  Assert<Exact<FullState['state'], GameState>>,
  Assert<Exact<StatePatch['patch'], JsonPatchOperation[]>>,
];
