/**
 * {@link Core}: the typed face of the WASM module. Every method calls one
 * function of the global `cosmic` object, parses its answer and returns a
 * {@link CoreResult}; none of them holds game logic (STYLE §7). Documents
 * go in and come out as JSON text.
 *
 * @module
 */

import type {
  ActionInput,
  ActionOutcome,
  Balance,
  CoreFailure,
  CoreResult,
  CoreTiming,
  CosmicFunction,
  CosmicModule,
  Decoded,
  JsonText,
  PatchResult,
  PendingAction,
  Prediction,
  QueuePushResult,
  QueueRebaseResult,
  QueueAdoptResult,
  QueueResolveResult,
  QueueText,
  Quote,
  Rates,
  StateText,
} from './types.js';
import { isObject } from '../conn/guards.js';
import type { Resources } from '../conn/protocol.js';

/** CoreError is thrown by {@link unwrap} for a failed answer; `code` is the answer's. */
export class CoreError extends Error {
  readonly code: string;
  readonly id: string | undefined;
  constructor(failure: CoreFailure) {
    super(`${failure.code}: ${failure.message}`);
    this.name = 'CoreError';
    this.code = failure.code;
    this.id = failure.id;
  }
}

/** unwrap returns a result's value or throws a {@link CoreError}. */
export function unwrap<T>(r: CoreResult<T>): T {
  if (r.ok) return r.value;
  throw new CoreError(r);
}

const unavailable = (message: string): CoreFailure => ({ ok: false, code: 'unavailable', message });

/**
 * Core wraps the module's `cosmic` object. All methods are synchronous and
 * short (each blocks the page's thread for the duration of one Go call, as
 * `syscall/js` does) and never throw: a failure is a `{ok: false}` result.
 *
 * Not safe across workers: a module instance belongs to the thread that
 * loaded it. Build one with `loadCore`; the constructor is for tests and
 * for callers that instantiated the module themselves.
 */
export class Core {
  /** timing says how long the module took to start; zeros when not measured. */
  readonly timing: CoreTiming;
  private readonly raw: CosmicModule;
  private exitedWith: string | undefined;
  private balanceCache: Balance | undefined;

  constructor(raw: CosmicModule, timing: CoreTiming = { instantiateMs: 0, runMs: 0, totalMs: 0 }) {
    this.raw = raw;
    this.timing = timing;
  }

  /** markExited makes every later call fail with `unavailable`; `loadCore` calls it when Go's `main` returns. */
  markExited(reason: string): void {
    this.exitedWith = reason;
  }

  /** alive is false once the Go program has exited. */
  get alive(): boolean {
    return this.exitedWith === undefined;
  }

  private call<T>(name: CosmicFunction, ...args: (string | number)[]): CoreResult<T> {
    if (this.exitedWith !== undefined) return unavailable(`the WASM module exited: ${this.exitedWith}`);
    let text: unknown;
    try {
      text = (this.raw[name] as (...a: (string | number)[]) => unknown)(...args);
    } catch (err) {
      // wasm_exec.js throws once the Go program has exited.
      return unavailable(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (typeof text !== 'string') return unavailable(`${name} returned ${typeof text}, not a string`);
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      return unavailable(`${name} returned text that is not JSON`);
    }
    if (!isObject(answer) || typeof answer['ok'] !== 'boolean') {
      return unavailable(`${name} returned no ok member`);
    }
    if (answer['ok']) return { ok: true, value: answer['value'] as T };
    const failure: CoreFailure = {
      ok: false,
      code: typeof answer['code'] === 'string' ? answer['code'] : 'internal',
      message: typeof answer['message'] === 'string' ? answer['message'] : '',
    };
    if (typeof answer['id'] === 'string' && answer['id'] !== '') failure.id = answer['id'];
    if (typeof answer['reason'] === 'string' && answer['reason'] !== '') failure.reason = answer['reason'];
    return failure;
  }

  // -- protocol --------------------------------------------------------------

  /** decodeServer decodes a frame the server sent, exactly as the Go decoder does (protocol.md §2, §4). */
  decodeServer(frame: string): CoreResult<Decoded> {
    return this.call('decodeServer', frame);
  }

  /** decodeClient decodes a client frame as the server will: `invalid_data` etc. before sending. */
  decodeClient(frame: string): CoreResult<Decoded> {
    return this.call('decodeClient', frame);
  }

  // -- documents -------------------------------------------------------------

  /** canonical returns the canonical text of a JSON document (docs/protocol.md: sorted keys, compact, JS number form). */
  canonical(doc: JsonText): CoreResult<JsonText> {
    return this.call('canonical', doc);
  }

  /** hash returns the lowercase hex SHA-256 of a document's canonical text: a `StateUpdate`'s `hash` (protocol.md §4). */
  hash(doc: JsonText): CoreResult<string> {
    return this.call('hash', doc);
  }

  /** applyPatch applies an RFC 6902 patch and returns the canonical result with its hash. */
  applyPatch(doc: JsonText, patch: JsonText): CoreResult<PatchResult> {
    return this.call('applyPatch', doc, patch);
  }

  // -- rules -----------------------------------------------------------------

  /** applyAction applies one action at `now` (Unix ms) by the server's rules; `rejected` when they refuse it. */
  applyAction(state: JsonText, action: ActionInput, now: number): CoreResult<ActionOutcome> {
    return this.call('applyAction', state, JSON.stringify(action), now);
  }

  /** validateState checks a state a client would save (SaveGame) for `owner`; `rejected` names the problem. */
  validateState(state: JsonText, owner: string): CoreResult<{ valid: true }> {
    return this.call('validateState', state, owner);
  }

  /** settle credits growth up to `now` (Unix ms). For display: only actions change a garden (protocol.md §3). */
  settle(state: JsonText, now: number): CoreResult<StateText> {
    return this.call('settle', state, now);
  }

  /**
   * settleResources is `settle(state, now).state`'s resources alone: what a
   * display that ticks needs, without the garden's text and hash.
   */
  settleResources(state: JsonText, now: number): CoreResult<Resources> {
    return this.call('settleResources', state, now);
  }

  /** balance returns body types, research topics and limits. Cached: the balance is compiled into the module. */
  balance(): CoreResult<Balance> {
    if (this.balanceCache !== undefined) return { ok: true, value: this.balanceCache };
    const r = this.call<Balance>('balance');
    if (r.ok) this.balanceCache = r.value;
    return r;
  }

  /**
   * quote prices every body type and the next level of every topic in
   * `state`, by the checks the rules make before spending: one call for
   * the whole sidebar. A hint: `queuePush` decides (an unaffordable price
   * is the caller's comparison with the projected resources).
   */
  quote(state: JsonText): CoreResult<Quote> {
    return this.call('quote', state);
  }

  /** rates returns growth per second of `state`, in thousandths of a unit, as `settle` credits it. */
  rates(state: JsonText): CoreResult<Rates> {
    return this.call('rates', state);
  }

  /** bodyId returns the id of the body a `CreateCelestialBody` with envelope id `actionId` makes. */
  bodyId(actionId: string): CoreResult<string> {
    return this.call('bodyId', actionId);
  }

  // -- offline queue ---------------------------------------------------------

  /**
   * queuePush validates `pending`, predicts it on top of the queue and
   * appends it. A `rejected` answer means the rules refuse it now: tell the
   * player and send nothing. Also `no_state` (before the first state),
   * `queue_full`, `duplicate`, and decode codes for malformed data.
   */
  queuePush(queue: QueueText, pending: PendingAction): CoreResult<QueuePushResult> {
    return this.call('queuePush', queue, JSON.stringify(pending));
  }

  /**
   * queueAdopt appends an action another queue already accepted (a closed
   * tab's) with its id and `queued_at`, without asking the rules: only the
   * server's answer may drop it now. It needs no confirmed state; an id
   * already queued gives `adopted: false`, so one queue never sends an id
   * twice; malformed data gives a decode code.
   */
  queueAdopt(queue: QueueText, pending: PendingAction): CoreResult<QueueAdoptResult> {
    return this.call('queueAdopt', queue, JSON.stringify(pending));
  }

  /** queueResolve removes the action `id`, whatever the server answered. */
  queueResolve(queue: QueueText, id: string): CoreResult<QueueResolveResult> {
    return this.call('queueResolve', queue, id);
  }

  /** queueRebase makes `state` at server `version` the confirmed state; creations it already holds leave the queue. */
  queueRebase(queue: QueueText, version: number, state: JsonText): CoreResult<QueueRebaseResult> {
    return this.call('queueRebase', queue, version, state);
  }

  /** queuePredict returns the confirmed state with every pending action applied, and the ones the rules now refuse. */
  queuePredict(queue: QueueText): CoreResult<Prediction> {
    return this.call('queuePredict', queue);
  }

  /** queuePending returns the queue's pending actions in order (`[]` when none): its `pending` member, without parsing the garden around it. */
  queuePending(queue: QueueText): CoreResult<PendingAction[]> {
    return this.call('queuePending', queue);
  }
}
