// Test doubles for Connection: a deterministic clock, a scriptable WebSocket,
// an in-memory storage and JWT helpers. No real time or network anywhere.

import type { ClientMessage, ServerMessage } from '../src/conn/protocol.js';
import type { KeyValueStorage, SocketLike, Timers } from '../src/conn/client.js';

/** FakeClock runs timers only when told to, in due-time order (ties by creation). */
export class FakeClock implements Timers {
  private nowMs: number;
  private nextId = 1;
  private readonly queue = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.nowMs = start;
  }

  readonly setTimeout = (fn: () => void, ms: number): number => {
    const id = this.nextId++;
    this.queue.set(id, { at: this.nowMs + Math.max(0, ms), fn });
    return id;
  };

  readonly clearTimeout = (handle: unknown): void => {
    this.queue.delete(handle as number);
  };

  readonly now = (): number => this.nowMs;

  /** pending is the number of armed timers. */
  get pending(): number {
    return this.queue.size;
  }

  /** advance moves time forward by ms, firing every timer that falls due, including ones armed on the way. */
  advance(ms: number): void {
    const end = this.nowMs + ms;
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.queue) {
        if (entry[1].at > end) continue;
        if (best === undefined || entry[1].at < best[1].at) best = entry;
      }
      if (best === undefined) break;
      this.queue.delete(best[0]);
      this.nowMs = best[1].at;
      best[1].fn();
    }
    this.nowMs = end;
  }
}

/** FakeSocket records what the client sends and lets a test play the server. */
export class FakeSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.closedWith !== undefined) throw new Error('send on closed socket');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }

  /** messages are the sent frames, decoded. */
  get messages(): ClientMessage[] {
    return this.sent.map((s) => JSON.parse(s) as ClientMessage);
  }

  /** ofType are the sent frames of one type. */
  ofType<T extends ClientMessage['type']>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.messages.filter((m): m is Extract<ClientMessage, { type: T }> => m.type === type);
  }

  param(name: string): string | null {
    return new URL(this.url).searchParams.get(name);
  }

  /** serverSend delivers a frame as the server would (handlers may have been detached). */
  serverSend(msg: ServerMessage | Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  serverRaw(data: unknown): void {
    this.onmessage?.({ data });
  }

  welcome(sessionId = 's1', opts: { resumed?: boolean; heartbeatMs?: number } = {}): void {
    this.onopen?.({});
    this.serverSend({
      type: 'Welcome',
      data: {
        session_id: sessionId,
        resumed: opts.resumed ?? false,
        heartbeat_ms: opts.heartbeatMs ?? 30_000,
        user_id: 'alice',
        protocol: 1,
      },
    });
  }

  serverClose(code: number, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}

/** fakeSockets returns a socket constructor whose instances are collected in `sockets`. */
export function fakeSockets(): { Socket: new (url: string) => FakeSocket; sockets: FakeSocket[]; last(): FakeSocket } {
  const sockets: FakeSocket[] = [];
  class Socket extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    Socket,
    sockets,
    last(): FakeSocket {
      const s = sockets[sockets.length - 1];
      if (s === undefined) throw new Error('no socket was opened');
      return s;
    },
  };
}

/** MemoryStorage is a KeyValueStorage backed by a Map. */
export class MemoryStorage implements KeyValueStorage {
  readonly map = new Map<string, string>();
  get(key: string): string | undefined {
    return this.map.get(key);
  }
  set(key: string, value: string): void {
    this.map.set(key, value);
  }
}

/** MemoryWebStorage is a DOM `Storage` (`localStorage`) backed by a Map, in insertion order. */
export class MemoryWebStorage {
  readonly map = new Map<string, string>();
  get length(): number {
    return this.map.size;
  }
  key(index: number): string | null {
    return [...this.map.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

/** jwt builds an unsigned token whose payload has `sub` and `exp` (seconds). */
export function jwt(expSeconds: number, sub = 'alice', nonce = 0): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: expSeconds, n: nonce })}.c2ln`;
}

/** flush lets pending promise callbacks (the token provider) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * LockHub plays the browser's Web Locks manager for several tabs: exclusive
 * locks by name, waiters granted in order, `ifAvailable` and `signal` as in
 * the spec, and {@link FakeLocks.close} releasing what a tab held (its page
 * went away).
 */
export class LockHub {
  readonly held = new Map<string, FakeLocks>();
  private readonly waiters = new Map<string, { client: FakeLocks; run: () => void }[]>();

  client(): FakeLocks {
    return new FakeLocks(this);
  }

  /** grant runs `run` now if `name` is free and nobody waits; else returns false. */
  free(name: string): boolean {
    return !this.held.has(name) && (this.waiters.get(name)?.length ?? 0) === 0;
  }

  enqueue(name: string, w: { client: FakeLocks; run: () => void }): void {
    const list = this.waiters.get(name) ?? [];
    list.push(w);
    this.waiters.set(name, list);
  }

  dequeue(name: string, run: () => void): void {
    const list = this.waiters.get(name);
    if (list !== undefined) this.waiters.set(name, list.filter((w) => w.run !== run));
  }

  release(name: string): void {
    this.held.delete(name);
    const list = this.waiters.get(name) ?? [];
    const next = list.shift();
    next?.run();
  }

  dropClient(client: FakeLocks): void {
    for (const [name, list] of this.waiters) this.waiters.set(name, list.filter((w) => w.client !== client));
    for (const [name, holder] of [...this.held]) if (holder === client) this.release(name);
  }
}

/** FakeLocks is one tab's `navigator.locks` on a {@link LockHub}. */
export class FakeLocks {
  closed = false;
  constructor(private readonly hub: LockHub) {}

  request(name: string, options: { ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closed) return; // a page that is gone gets nothing
      const run = (): void => {
        this.hub.held.set(name, this);
        Promise.resolve()
          .then(() => callback({ name, mode: 'exclusive' }))
          .then(
            (v) => {
              if (this.hub.held.get(name) === this) this.hub.release(name);
              resolve(v);
            },
            (err: unknown) => {
              if (this.hub.held.get(name) === this) this.hub.release(name);
              reject(err);
            },
          );
      };
      if (this.hub.free(name)) {
        run();
        return;
      }
      if (options.ifAvailable === true) {
        Promise.resolve()
          .then(() => callback(null))
          .then(resolve, reject);
        return;
      }
      const abort = (): void => {
        this.hub.dequeue(name, run);
        reject(new DOMException('The request was aborted.', 'AbortError'));
      };
      if (options.signal?.aborted === true) {
        abort();
        return;
      }
      options.signal?.addEventListener('abort', abort, { once: true });
      this.hub.enqueue(name, { client: this, run });
    });
  }

  /** close is the tab going away: its locks are released, its waiting requests dropped. */
  close(): void {
    this.closed = true;
    this.hub.dropClient(this);
  }
}

/** ChannelHub plays BroadcastChannel: a message reaches every other open channel of the hub, synchronously. */
export class ChannelHub {
  private readonly open = new Set<FakeChannel>();

  channel(): FakeChannel {
    const c = new FakeChannel(this);
    this.open.add(c);
    return c;
  }

  deliver(from: FakeChannel, message: unknown): void {
    for (const c of [...this.open]) if (c !== from) c.onmessage?.({ data: structuredClone(message) });
  }

  remove(c: FakeChannel): void {
    this.open.delete(c);
  }
}

/** FakeChannel is one tab's BroadcastChannel on a {@link ChannelHub}. */
export class FakeChannel {
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(private readonly hub: ChannelHub) {}
  postMessage(message: unknown): void {
    this.hub.deliver(this, message);
  }
  close(): void {
    this.hub.remove(this);
  }
}

/** settle lets every pending promise callback and macrotask-free chain run (fake locks and stores resolve through microtasks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
