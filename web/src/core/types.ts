/**
 * Types of the WASM core's JavaScript API (wasm/api.go): the raw `cosmic`
 * object and the values its answers carry. Game shapes come from the
 * generated protocol types; what is added here is the adapter's own answer
 * shapes, which live in Go's `package main` and so are not generated.
 *
 * JSON documents (states, patches, queues) travel as **strings**: the module
 * answers with canonical text, whose bytes are what a hash covers, so the
 * client keeps that text instead of re-serialising parsed objects.
 *
 * @module
 */

import type { ActionType, ClientMessageData, Envelope, RejectReason, Resources } from '../conn/protocol.js';

/** JsonText is a JSON document as text. States and queues from the module are canonical text. */
export type JsonText = string;

/**
 * CosmicModule is the global `cosmic` object that `wasm/` registers: every
 * function is synchronous, takes strings (numbers for times and versions)
 * and returns the JSON text of an {@link Answer}. Use {@link Core}, which
 * types and unwraps the answers, rather than this object.
 */
export interface CosmicModule {
  decodeServer(frame: string): string;
  decodeClient(frame: string): string;
  canonical(doc: JsonText): string;
  hash(doc: JsonText): string;
  applyPatch(doc: JsonText, patch: JsonText): string;
  applyAction(state: JsonText, action: JsonText, now: number): string;
  validateState(state: JsonText, owner: string): string;
  settle(state: JsonText, now: number): string;
  settleResources(state: JsonText, now: number): string;
  balance(): string;
  quote(state: JsonText): string;
  rates(state: JsonText): string;
  bodyId(actionId: string): string;
  queuePush(queue: JsonText, pending: JsonText): string;
  queueAdopt(queue: JsonText, pending: JsonText): string;
  queueResolve(queue: JsonText, id: string): string;
  queueRebase(queue: JsonText, version: number, state: JsonText): string;
  queuePredict(queue: JsonText): string;
  queuePending(queue: JsonText): string;
}

/** CosmicFunction names a function of {@link CosmicModule}. */
export type CosmicFunction = keyof CosmicModule;

/**
 * CoreErrorCode is the `code` of a failed answer:
 * - `rejected`: the rules refuse the action or state (`message` is for the player);
 * - `bad_message`, `unknown_type`, `invalid_data`: the protocol's decode codes (protocol.md §4);
 * - `no_state`, `queue_full`, `duplicate`: `queuePush` refusals;
 * - `bad_input`: an argument is not the JSON expected (a caller bug);
 * - `internal`: a panic recovered at the WASM boundary (a core bug);
 * - `unavailable`: added by this wrapper: the module exited or answered nonsense.
 */
export type CoreErrorCode =
  | 'rejected'
  | 'bad_message'
  | 'unknown_type'
  | 'invalid_data'
  | 'no_state'
  | 'queue_full'
  | 'duplicate'
  | 'bad_input'
  | 'internal'
  | 'unavailable'
  | (string & {});

/**
 * CoreFailure is a failed answer. `id` is the envelope id of a decode error,
 * when it had one; `reason` is a `rejected` answer's reason code, as the
 * server's `ActionResult.reason` would carry it: branch on it, never on
 * `message`.
 */
export interface CoreFailure {
  ok: false;
  code: CoreErrorCode;
  message: string;
  id?: string;
  reason?: RejectReason | (string & {});
}

/** CoreResult is an answer: the value, or why there is none. Discriminated on `ok`. */
export type CoreResult<T> = { ok: true; value: T } | CoreFailure;

// ---------------------------------------------------------------------------
// Values

/** Decoded is what `decodeServer`/`decodeClient` return: the envelope and the variant's data as the Go decoder sees it. */
export interface Decoded {
  envelope: Envelope;
  /** The decoded variant (`{}` for variants without data). */
  message: unknown;
}

/** PatchResult is `applyPatch`'s answer: the canonical result and its hash. */
export interface PatchResult {
  doc: JsonText;
  hash: string;
}

/** ActionOutcome is an accepted action: the new state (canonical text), its hash, the created body's id (`''` if none) and a message for the player. */
export interface ActionOutcome {
  state: JsonText;
  hash: string;
  body_id: string;
  message: string;
}

/** StateText is a canonical state with its hash (`settle`). */
export interface StateText {
  state: JsonText;
  hash: string;
}

/** BodyTypeInfo describes a body type: base cost, growth it adds (thousandths of a unit per second), required research. */
export interface BodyTypeInfo {
  type: string;
  cost: Resources;
  stardust_rate: number;
  energy_rate: number;
  /** A research topic that must be at level ≥ 1 first. */
  requires?: string;
}

/** TopicInfo describes a research topic; level n costs n² × `cost`. */
export interface TopicInfo {
  topic: string;
  cost: Resources;
  effect: string;
  max_level: number;
}

/** BalanceLimits are the game's documented constants (rates in thousandths per second, times in ms). */
export interface BalanceLimits {
  start_resources: Resources;
  base_max_bodies: number;
  gravity_well_bodies: number;
  world_radius: number;
  max_resource: number;
  max_growth_ms: number;
  max_research_level: number;
  base_stardust_rate: number;
  base_energy_rate: number;
  body_id_prefix: string;
  max_pending: number;
  max_id_bytes: number;
}

/** Balance is `balance()`: everything a UI shows about costs and research. */
export interface Balance {
  body_types: BodyTypeInfo[];
  topics: TopicInfo[];
  limits: BalanceLimits;
}

/**
 * Price is what one action costs in a garden now (`cost`), or why the rules
 * refuse it there whatever the resources: `reason` (a reason code),
 * `message` for the player, and for `requires_research` the topic it waits
 * for. Discriminated on `cost`.
 */
export type Price =
  | { cost: Resources; reason?: undefined }
  | { cost?: undefined; reason: RejectReason | (string & {}); message: string; requires?: string };

/** Quote is `quote(state)`: the price of each body type and of the next level of each research topic. */
export interface Quote {
  bodies: Record<string, Price>;
  topics: Record<string, Price>;
}

/** Rates is `rates(state)`: growth in thousandths of a unit per second, research bonuses included. */
export interface Rates {
  energy: number;
  stardust: number;
}

/** ActionInput is an action as the rules take it: the envelope's type, id and data. */
export type ActionInput = {
  [T in ActionType]: { type: T; id: string; data?: ClientMessageData[T] };
}[ActionType];

/** PendingAction is one queued action: an {@link ActionInput} plus when the player acted (Unix ms); predictions apply it at that time. */
export type PendingAction = ActionInput & { queued_at: number };

/** QueueText is the offline queue's JSON (confirmed state, its version, pending actions). Persist it as is; `''` is an empty queue. */
export type QueueText = JsonText;

/** QueueDocument is the parsed form of a {@link QueueText}, for reading (`pending` order and ids); change it only through {@link Core}. */
export interface QueueDocument {
  version: number;
  confirmed: unknown;
  pending: PendingAction[] | null;
}

/** QueuePushResult: the new queue and the predicted outcome of the pushed action. */
export interface QueuePushResult {
  queue: QueueText;
  outcome: ActionOutcome;
}

/** QueueAdoptResult: the new queue; `adopted` is false (the queue unchanged) when the id was already queued. */
export interface QueueAdoptResult {
  queue: QueueText;
  adopted: boolean;
}

/** QueueResolveResult: the new queue; `resolved` is false when no action had that id. */
export interface QueueResolveResult {
  queue: QueueText;
  resolved: boolean;
}

/** QueueRebaseResult: the new queue; `rebased` is false when the state was older than the one held (ignored). */
export interface QueueRebaseResult {
  queue: QueueText;
  rebased: boolean;
}

/** Skipped is a queued action that the rules refuse on the predicted state; it stays queued until the server answers. */
export interface Skipped {
  id: string;
  message: string;
}

/** Prediction is the confirmed state with every pending action applied (canonical text), or null before the first state. */
export interface Prediction {
  predicted: JsonText | null;
  hash: string | null;
  skipped: Skipped[];
}

/** CoreTiming is how long the module took to start, in ms (`performance.now()` differences). */
export interface CoreTiming {
  /** Fetching, compiling and instantiating `cosmic.wasm`. */
  instantiateMs: number;
  /** Running Go's `main` until `cosmic` was registered. */
  runMs: number;
  /** From the call of `loadCore` until the core was usable (includes loading wasm_exec.js). */
  totalMs: number;
}
