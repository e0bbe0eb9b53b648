/**
 * Wire types of the Cosmic Gardener realtime protocol v1
 * (/work/shared/CONTRACT.md §2–§6), hand-written for now.
 *
 * A generator in `tools/` will produce this file from `shared/protocol`, so it
 * holds declarations only: types and constants, no logic. Decoding lives in
 * `client.ts`.
 *
 * @module
 */

/** PROTOCOL_VERSION is the `Welcome.protocol` this client speaks (§4). */
export const PROTOCOL_VERSION = 1;

/**
 * Envelope is the shape of every frame in both directions (§2): adjacently
 * tagged, `data` omitted for variants without fields. `id` is the client's
 * idempotency key (≤ 64 bytes, unique per user); `seq` is set by the server on
 * messages a resumed session must not lose.
 */
export interface Envelope<T extends string = string, D = unknown> {
  type: T;
  id?: string;
  seq?: number;
  data?: D;
}

// ---------------------------------------------------------------------------
// Client → server (§3)

/** Position is a point in garden space; each coordinate a finite number (§3). */
export interface Position {
  x: number;
  y: number;
  z: number;
}

/** CreateCelestialBody asks for a new body; answered by `ActionResult` (§3). */
export interface CreateCelestialBody {
  /** At least `star`, `planet`, `moon`, `asteroid`, `comet`, `nebula`. */
  body_type: string;
  position: Position;
}

/** Research starts research on a topic; answered by `ActionResult` (§3). */
export interface Research {
  topic: string;
}

/**
 * GameState is opaque to the connection layer: the WASM module owns rules and
 * patching (STYLE §7), so TypeScript never looks inside.
 */
export type GameState = unknown;

/** SaveGame stores the garden, optionally replacing it with `state` (§3). */
export interface SaveGame {
  state?: GameState;
}

/** Ack tells the server the highest `seq` received in order, so it can trim its resend buffer (§3, §5.2). */
export interface Ack {
  seq: number;
}

/** RefreshToken moves the connection's expiry to the new token's `exp` (§1, §3). */
export interface RefreshToken {
  token: string;
}

/**
 * ClientMessage is every frame a client may send (§3). Actions carry an `id`
 * (the idempotency key, §2); `Ack` and `Heartbeat` are not actions.
 */
export type ClientMessage =
  | { type: 'CreateCelestialBody'; id: string; data: CreateCelestialBody }
  | { type: 'Research'; id: string; data: Research }
  | { type: 'SaveGame'; id: string; data: SaveGame }
  | { type: 'RefreshToken'; id: string; data: RefreshToken }
  | { type: 'GetState'; id?: string }
  | { type: 'Ack'; data: Ack }
  | { type: 'Heartbeat' };

/** ClientMessageType names the client variants (§3). */
export type ClientMessageType = ClientMessage['type'];

// ---------------------------------------------------------------------------
// Server → client (§4)

/** Welcome is the first frame of every connection (§4, §5.1). */
export interface Welcome {
  session_id: string;
  /** True when the session of the `session` query parameter was resumed (§5.2). */
  resumed: boolean;
  /** Interval at which the client must send `Heartbeat` (§5.4). */
  heartbeat_ms: number;
  user_id: string;
  protocol: number;
}

/** JsonPatchOperation is one RFC 6902 operation; applied by the WASM module, not here. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

/** FullState is the whole garden at `version`, with the digest `hash` of its canonical encoding (§4). */
export interface FullState {
  version: number;
  state: GameState;
  hash: string;
}

/** StatePatch takes version `base` to `version`; `hash` lets the client prove it converged (§4). */
export interface StatePatch {
  version: number;
  base: number;
  patch: JsonPatchOperation[];
  hash: string;
}

/**
 * StateUpdate keeps the seed's nesting (§4): `full` beside an inner `data`.
 * Discriminated on `full` so a consumer cannot read `patch` from a full state.
 */
export type StateUpdate =
  | { full: true; data: FullState }
  | { full: false; data: StatePatch };

/**
 * ActionResult answers an action; the envelope `id` echoes the action's `id`
 * (§4). `success: false` is a refusal by the rules, never a dropped action (§3).
 */
export interface ActionResult {
  success: boolean;
  message: string;
  /** Set by `CreateCelestialBody` on success. */
  body_id?: string;
  /** Action-specific fields (§4). */
  [field: string]: unknown;
}

/** ErrorCode lists the contract's error codes (§4); servers may add more. */
export type ErrorCode =
  | 'bad_message'
  | 'unknown_type'
  | 'invalid_data'
  | 'rate_limited'
  | 'internal';

/** ErrorData is a protocol-level error; envelope `id` echoes the offending message's `id` (§4). */
export interface ErrorData {
  code: ErrorCode | (string & {});
  message: string;
}

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

/** ServerMessageType names the server variants (§4). */
export type ServerMessageType = ServerMessage['type'];

/** ServerMessageOf picks one variant of {@link ServerMessage} by its `type`. */
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

// ---------------------------------------------------------------------------
// Authentication (§1) and close codes (§6)

/** AuthCode is the close reason of a 4401 (§1): which is why the client must fetch a new token. */
export type AuthCode = 'auth_required' | 'auth_invalid' | 'auth_expired';

/**
 * CloseCode holds the close codes of §6. The state machine in `state.ts`
 * decides from this table whether to reconnect, refetch a token, or stop.
 */
export const CloseCode = {
  /** Normal close: do nothing. */
  Normal: 1000,
  /** Server going away (shutdown/restart): reconnect with backoff, resume. */
  GoingAway: 1001,
  /** Inbound message too big (default 64 KiB): fix the sender, do not retry. */
  MessageTooBig: 1009,
  /** Protocol violation: do not retry blindly. */
  ProtocolViolation: 4400,
  /** Authentication expired or revoked: get a new token, then reconnect. */
  Unauthorized: 4401,
  /** Heartbeat timeout: reconnect, resume. */
  HeartbeatTimeout: 4408,
  /** Session taken over by a newer connection: do not reconnect this one. */
  TakenOver: 4409,
  /** Inbound rate limit: back off, reconnect. */
  RateLimited: 4429,
} as const;

/** CloseCodeValue is any of the {@link CloseCode} values. */
export type CloseCodeValue = (typeof CloseCode)[keyof typeof CloseCode];
