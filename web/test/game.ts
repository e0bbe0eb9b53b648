// Test doubles for the game controller: a scriptable connection and a tiny
// authoritative server that runs the real rules through the WASM core, so
// versions, patches and hashes are exactly what the real server sends.

import type { ClientMessage, GameState, ServerMessage, ServerMessageOf } from '../src/conn/protocol.js';
import type { ConnState } from '../src/conn/state.js';
import { unwrap, type ActionInput, type Core } from '../src/core/index.js';
import type { GameConnection } from '../src/game/index.js';

type AnyHandler = (m: never) => void;

/** FakeConn plays the Connection: sends are recorded while `open`. */
export class FakeConn implements GameConnection {
  state: ConnState = { kind: 'closed', reason: 'app' };
  readonly sent: ClientMessage[] = [];
  private n = 0;
  private readonly handlers = new Map<string, Set<AnyHandler>>();

  constructor(private readonly prefix = 'dev.aaaa') {}

  send(msg: ClientMessage): boolean {
    if (this.state.kind !== 'open') return false;
    this.sent.push(structuredClone(msg));
    return true;
  }

  newActionId(): string {
    this.n += 1;
    return `${this.prefix}-${this.n}`;
  }

  on(type: string, handler: AnyHandler): () => void {
    let set = this.handlers.get(type);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(type, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /** deliver hands a server message to the subscribers, as Connection does. */
  deliver(msg: ServerMessage): void {
    for (const h of this.handlers.get(msg.type) ?? []) (h as (m: ServerMessage) => void)(msg);
  }

  /** open plays a Welcome. */
  open(resumed = false): void {
    this.state = { kind: 'open', sessionId: 's1' };
    this.deliver({
      type: 'Welcome',
      data: { session_id: 's1', resumed, heartbeat_ms: 30_000, user_id: 'alice', protocol: 1 },
    });
  }

  /** drop loses the connection. */
  drop(): void {
    this.state = { kind: 'offline' };
  }

  /** actions are the sent actions (not GetState, Ack, …). */
  actions(): Extract<ClientMessage, { type: 'CreateCelestialBody' | 'Research' | 'SaveGame' }>[] {
    return this.sent.filter(
      (m): m is Extract<ClientMessage, { type: 'CreateCelestialBody' | 'Research' | 'SaveGame' }> =>
        m.type === 'CreateCelestialBody' || m.type === 'Research' || m.type === 'SaveGame',
    );
  }

  /** take returns what was sent and forgets it. */
  take(): ClientMessage[] {
    return this.sent.splice(0);
  }
}

/** Answer is what the fake server sends for one action. */
export interface Answer {
  result: ServerMessageOf<'ActionResult'>;
  update?: ServerMessageOf<'StateUpdate'>;
}

/** FakeServer holds one garden and applies actions with the real rules, idempotently by id. */
export class FakeServer {
  state: string;
  version = 1;
  private seq = 0;
  private readonly done = new Map<string, Answer>();

  constructor(
    private readonly core: Core,
    initial: GameState,
  ) {
    this.state = unwrap(core.canonical(JSON.stringify(initial)));
  }

  get hash(): string {
    return unwrap(this.core.hash(this.state));
  }

  get parsed(): GameState {
    return JSON.parse(this.state) as GameState;
  }

  full(): ServerMessageOf<'StateUpdate'> {
    return {
      type: 'StateUpdate',
      seq: ++this.seq,
      data: { full: true, data: { version: this.version, state: this.parsed, hash: this.hash } },
    };
  }

  /** replace sets the garden (like another device's SaveGame) and returns the patch update. */
  replace(next: GameState): ServerMessageOf<'StateUpdate'> {
    const text = unwrap(this.core.canonical(JSON.stringify(next)));
    return this.advance(text);
  }

  private advance(text: string): ServerMessageOf<'StateUpdate'> {
    const patch = JSON.stringify(gardenPatch(JSON.parse(this.state) as GameState, JSON.parse(text) as GameState));
    this.state = text;
    this.version += 1;
    return {
      type: 'StateUpdate',
      seq: ++this.seq,
      data: {
        full: false,
        data: { version: this.version, base: this.version - 1, patch: JSON.parse(patch) as [], hash: this.hash },
      },
    };
  }

  /** apply runs one client action at `now`; a repeated id gets the original answer and no update. */
  apply(msg: ClientMessage, now: number): Answer {
    if (msg.type !== 'CreateCelestialBody' && msg.type !== 'Research' && msg.type !== 'SaveGame') {
      throw new Error(`not an action: ${msg.type}`);
    }
    const seen = this.done.get(msg.id);
    if (seen !== undefined) return { result: seen.result };
    const r = this.core.applyAction(this.state, { type: msg.type, id: msg.id, data: msg.data } as ActionInput, now);
    let answer: Answer;
    if (!r.ok) {
      answer = {
        result: { type: 'ActionResult', id: msg.id, seq: ++this.seq, data: { success: false, message: r.message } },
      };
    } else {
      const update = r.value.state === this.state ? undefined : this.advance(r.value.state);
      const data: ServerMessageOf<'ActionResult'>['data'] = {
        success: true,
        message: r.value.message,
        version: this.version,
      };
      if (r.value.body_id !== '') data.body_id = r.value.body_id;
      answer = { result: { type: 'ActionResult', id: msg.id, seq: ++this.seq, data } };
      if (update !== undefined) answer.update = update;
    }
    this.done.set(msg.id, answer);
    return answer;
  }
}

/** garden returns a fresh garden as the rules make it. */
export function garden(owner = 'alice', now = 1_700_000_000_000): GameState {
  return {
    bodies: {},
    owner,
    research: {},
    resources: { energy: 1000, stardust: 2000 },
    updated_at: now,
  };
}

/**
 * gardenPatch is the fake server's diff: the operations the real server's
 * patch.DiffStates emits (whole bodies, research topics, each resource,
 * owner, updated_at), in key order. The module itself has no diff.
 */
export function gardenPatch(a: GameState, b: GameState): { op: string; path: string; value?: unknown }[] {
  const ops: { op: string; path: string; value?: unknown }[] = [];
  const ptr = (s: string) => s.split('~').join('~0').split('/').join('~1');
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const keyed = (path: string, x: Record<string, unknown>, y: Record<string, unknown>) => {
    for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      if (!(k in y)) ops.push({ op: 'remove', path: `${path}/${ptr(k)}` });
      else if (!(k in x)) ops.push({ op: 'add', path: `${path}/${ptr(k)}`, value: y[k] });
      else if (!same(x[k], y[k])) ops.push({ op: 'replace', path: `${path}/${ptr(k)}`, value: y[k] });
    }
  };
  keyed('/bodies', a.bodies, b.bodies);
  if (a.owner !== b.owner) ops.push({ op: 'replace', path: '/owner', value: b.owner });
  keyed('/research', a.research, b.research);
  keyed('/resources', a.resources as unknown as Record<string, unknown>, b.resources as unknown as Record<string, unknown>);
  if (a.updated_at !== b.updated_at) ops.push({ op: 'replace', path: '/updated_at', value: b.updated_at });
  return ops;
}
