import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ACK_EVERY_MESSAGES,
  ACK_INTERVAL_MS,
  Connection,
  DEAD_LINK_GRACE_MS,
  tokenExpiry,
  type ConnectionOptions,
} from '../src/conn/client.js';
import type { ServerMessage } from '../src/conn/protocol.js';
import type { ConnState } from '../src/conn/state.js';
import { FakeClock, fakeSockets, flush, jwt, MemoryStorage } from './fakes.js';

const URL_WS = 'wss://game.test/api/ws';

interface Harness {
  conn: Connection;
  clock: FakeClock;
  ws: ReturnType<typeof fakeSockets>;
  network: EventTarget;
  storage: MemoryStorage;
  states: ConnState[];
  tokens: string[];
}

/**
 * setup builds a Connection on fake time, sockets, storage and network. The
 * default token provider returns a new token valid for an hour per call.
 */
function setup(over: Partial<ConnectionOptions> = {}, shared?: { storage?: MemoryStorage; clock?: FakeClock }): Harness {
  const clock = shared?.clock ?? new FakeClock();
  const ws = fakeSockets();
  const network = new EventTarget();
  const storage = shared?.storage ?? new MemoryStorage();
  const tokens: string[] = [];
  const tokenProvider = async (): Promise<string> => {
    const t = jwt(Math.floor(clock.now() / 1000) + 3600, 'alice', tokens.length);
    tokens.push(t);
    return t;
  };
  const conn = new Connection({
    url: URL_WS,
    tokenProvider,
    webSocket: ws.Socket,
    timers: clock,
    random: () => 0.5,
    storage,
    network,
    ...over,
  });
  const states: ConnState[] = [];
  conn.on('state', ({ newState }) => states.push(newState));
  return { conn, clock, ws, network, storage, states, tokens };
}

/** open connects and plays the server's Welcome. */
async function open(h: Harness, sessionId = 's1', heartbeatMs = 30_000): Promise<void> {
  h.conn.connect();
  await flush();
  h.ws.last().welcome(sessionId, { heartbeatMs });
  assert.equal(h.conn.state.kind, 'open');
}

function stateUpdate(seq: number): ServerMessage {
  return {
    type: 'StateUpdate',
    seq,
    data: { full: false, data: { version: seq, base: seq - 1, patch: [], hash: `h${seq}` } },
  };
}

const kinds = (states: ConnState[]): string[] =>
  states.map((s) => (s.kind === 'connecting' ? `connecting/${s.step}` : s.kind));

describe('Connection: connect and open', () => {
  it('fetches a token, opens the socket with it, and is open after Welcome', async () => {
    const h = setup();
    const seen: string[] = [];
    h.conn.on('Welcome', (m) => seen.push(`welcome ${m.data.session_id} in ${h.conn.state.kind}`));
    assert.equal(h.conn.state.kind, 'closed');
    h.conn.connect();
    assert.equal(h.ws.sockets.length, 0, 'no socket before the token');
    await flush();
    const s = h.ws.last();
    assert.equal(s.param('token'), h.tokens[0]);
    assert.equal(s.param('session'), null);
    assert.equal(s.param('last_seq'), null);
    assert.equal(h.conn.send({ type: 'GetState' }), false, 'send before Welcome');
    s.welcome('s1');
    assert.deepEqual(kinds(h.states), ['connecting/token', 'connecting/socket', 'open']);
    assert.deepEqual(h.conn.state, { kind: 'open', sessionId: 's1' });
    assert.deepEqual(seen, ['welcome s1 in open'], 'handlers see the open state');
    assert.equal(h.conn.send({ type: 'GetState', id: 'g1' }), true);
    assert.deepEqual(s.messages, [{ type: 'GetState', id: 'g1' }]);
    assert.equal(h.conn.sessionId, 's1');
  });

  it('resolves http(s) URLs to ws(s) and keeps existing query parameters', async () => {
    const h = setup({ url: 'https://game.test/api/ws?lang=en' });
    h.conn.connect();
    await flush();
    const u = new URL(h.ws.last().url);
    assert.equal(u.protocol, 'wss:');
    assert.equal(u.searchParams.get('lang'), 'en');
    assert.equal(u.searchParams.get('token'), h.tokens[0]);
  });

  it('gives up on a socket that sends no Welcome within connectTimeoutMs', async () => {
    const h = setup({ connectTimeoutMs: 5000 });
    h.conn.connect();
    await flush();
    h.clock.advance(4999);
    assert.equal(h.conn.state.kind, 'connecting');
    h.clock.advance(1);
    assert.equal(h.ws.sockets[0]?.closedWith?.code, 4000);
    assert.equal(h.conn.state.kind, 'reconnecting');
  });

  it('validates its options', () => {
    const base = { url: URL_WS, tokenProvider: async () => 't' };
    assert.throws(() => new Connection({ ...base, url: '' }), TypeError);
    assert.throws(() => new Connection({ ...base, maxRetries: -1 }), RangeError);
    assert.throws(() => new Connection({ ...base, maxRetries: 1.5 }), RangeError);
    assert.throws(() => new Connection({ ...base, heartbeatMs: 0 }), RangeError);
    assert.throws(() => new Connection({ ...base, backoff: { capMs: -1 } }), RangeError);
  });

  it('unsubscribes handlers', async () => {
    const h = setup();
    let n = 0;
    const off = h.conn.on('StateUpdate', () => n++);
    await open(h);
    h.ws.last().serverSend(stateUpdate(1));
    off();
    h.ws.last().serverSend(stateUpdate(2));
    assert.equal(n, 1);
  });
});

describe('Connection: reconnect by close code (§6)', () => {
  it('1006 → reconnecting with the backoff delay, then resumes with session and last_seq', async () => {
    const h = setup();
    await open(h);
    const first = h.ws.last();
    for (let seq = 1; seq <= 3; seq++) first.serverSend(stateUpdate(seq));
    first.serverClose(1006);
    assert.deepEqual(h.conn.state, {
      kind: 'reconnecting',
      attempt: 1,
      delayMs: 500, // 0.5 × min(30 000, 1000 × 2⁰)
      retryAt: h.clock.now() + 500,
    });
    assert.equal(h.conn.nextRetryAt, h.clock.now() + 500);
    assert.equal(h.clock.pending, 1, 'only the retry timer');
    h.clock.advance(499);
    assert.equal(h.ws.sockets.length, 1);
    h.clock.advance(1);
    assert.equal(h.ws.sockets.length, 2);
    const second = h.ws.last();
    assert.equal(second.param('session'), 's1');
    assert.equal(second.param('last_seq'), '3');
    assert.equal(second.param('token'), h.tokens[0], 'the cached token is reused');
    assert.equal(h.tokens.length, 1);
    second.welcome('s1', { resumed: true });
    assert.equal(h.conn.state.kind, 'open');
    assert.equal(h.conn.lastSeq, 3);
  });

  it('4429 waits at least 5 s', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverClose(4429);
    const st = h.conn.state;
    assert.ok(st.kind === 'reconnecting' && st.delayMs >= 5000, JSON.stringify(st));
  });

  it('fails after maxRetries, arms no timer, and retryNow starts over', async () => {
    const h = setup({ maxRetries: 2 });
    await open(h);
    h.ws.last().serverClose(1001);
    h.clock.advance(500);
    h.ws.last().serverClose(1006);
    assert.equal(h.conn.state.kind, 'reconnecting');
    h.clock.advance(1000);
    assert.equal(h.ws.sockets.length, 3);
    h.ws.last().serverClose(1006);
    assert.deepEqual(h.conn.state, { kind: 'failed', reason: 'retries_exhausted', code: 1006 });
    assert.equal(h.clock.pending, 0);
    assert.equal(h.conn.nextRetryAt, undefined);
    h.clock.advance(3_600_000);
    assert.equal(h.ws.sockets.length, 3, 'no socket after failing');
    h.conn.retryNow();
    await flush(); // an hour later the cached token is stale: a new one first
    assert.equal(h.tokens.length, 2);
    assert.equal(h.ws.sockets.length, 4);
    assert.equal(h.ws.last().param('session'), 's1');
    h.ws.last().welcome('s1', { resumed: true });
    assert.equal(h.conn.state.kind, 'open');
  });

  it('retryNow skips the rest of a reconnect delay', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverClose(1006);
    h.conn.retryNow();
    assert.equal(h.ws.sockets.length, 2);
    assert.equal(h.clock.pending, 1, 'the retry timer is gone; only the Welcome deadline');
  });

  it('4409 → closed/taken_over, never reconnects, and forgets the session', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverSend(stateUpdate(1));
    h.ws.last().serverClose(4409);
    assert.deepEqual(h.conn.state, { kind: 'closed', reason: 'taken_over' });
    assert.equal(h.clock.pending, 0);
    h.clock.advance(3_600_000);
    assert.equal(h.ws.sockets.length, 1);
    assert.equal(h.conn.sessionId, undefined);
    h.conn.connect();
    await flush();
    assert.equal(h.ws.sockets.length, 2);
    assert.equal(h.ws.last().param('session'), null, 'a new session, not the taken-over one');
  });

  it('4401 → fetches a new token and reconnects with it; an immediate second 4401 fails with auth', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverClose(4401, 'auth_expired');
    assert.deepEqual(h.conn.state, { kind: 'connecting', attempt: 0, authFailures: 1, step: 'token' });
    await flush();
    assert.equal(h.tokens.length, 2);
    const again = h.ws.last();
    assert.equal(h.ws.sockets.length, 2);
    assert.equal(again.param('token'), h.tokens[1]);
    assert.equal(again.param('session'), 's1');
    again.serverClose(4401, 'auth_invalid');
    assert.deepEqual(h.conn.state, { kind: 'failed', reason: 'auth', code: 4401 });
    h.clock.advance(3_600_000);
    await flush();
    assert.equal(h.ws.sockets.length, 2);
  });

  it('4401 → a failing token provider fails with auth', async () => {
    let calls = 0;
    const h = setup({
      tokenProvider: async () => {
        calls++;
        if (calls > 1) throw new Error('login server down');
        return jwt(Math.floor(Date.now() / 1000) + 1e6);
      },
    });
    await open(h);
    h.ws.last().serverClose(4401, 'auth_required');
    await flush();
    assert.deepEqual(h.conn.state, { kind: 'failed', reason: 'auth' });
  });

  it('a failing provider before any 4401 counts as a failed attempt', async () => {
    const h = setup({ tokenProvider: () => Promise.reject(new Error('offline')) });
    h.conn.connect();
    await flush();
    assert.equal(h.conn.state.kind, 'reconnecting');
    assert.equal(h.ws.sockets.length, 0);
  });

  for (const code of [4400, 1009]) {
    it(`${code} → failed, no retry`, async () => {
      const h = setup();
      await open(h);
      h.ws.last().serverClose(code);
      assert.equal(h.conn.state.kind, 'failed');
      assert.equal(h.clock.pending, 0);
      h.clock.advance(3_600_000);
      assert.equal(h.ws.sockets.length, 1);
    });
  }

  it('1000 from the server → closed/normal', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverClose(1000);
    assert.deepEqual(h.conn.state, { kind: 'closed', reason: 'normal' });
    assert.equal(h.clock.pending, 0);
  });
});

describe('Connection: heartbeat and dead link (§5)', () => {
  it('sends Heartbeat every Welcome.heartbeat_ms', async () => {
    const h = setup({ heartbeatMs: 60_000 });
    await open(h, 's1', 1000);
    const s = h.ws.last();
    for (let i = 1; i <= 5; i++) {
      h.clock.advance(999);
      assert.equal(s.ofType('Heartbeat').length, i - 1);
      h.clock.advance(1);
      assert.equal(s.ofType('Heartbeat').length, i);
      s.serverSend({ type: 'Heartbeat' });
    }
    assert.equal(h.conn.state.kind, 'open');
  });

  it('declares a silent link dead after 2 × heartbeat + grace, closes it with 4000 and reconnects', async () => {
    const h = setup();
    await open(h, 's1', 1000);
    const s = h.ws.last();
    h.clock.advance(2 * 1000 + DEAD_LINK_GRACE_MS - 1);
    assert.equal(h.conn.state.kind, 'open');
    h.clock.advance(1);
    assert.equal(s.closedWith?.code, 4000);
    assert.equal(h.conn.state.kind, 'reconnecting');
    h.clock.advance(500);
    assert.equal(h.ws.sockets.length, 2);
    assert.equal(h.ws.last().param('session'), 's1');
  });

  it('any message keeps the link alive', async () => {
    const h = setup();
    await open(h, 's1', 1000);
    const s = h.ws.last();
    for (let t = 0; t < 20; t++) {
      h.clock.advance(1500);
      s.serverSend(t % 2 === 0 ? { type: 'Heartbeat' } : stateUpdate(t));
    }
    assert.equal(h.conn.state.kind, 'open');
    assert.equal(s.closedWith, undefined);
  });

  it('ignores events of a socket it dropped', async () => {
    const h = setup();
    let results = 0;
    h.conn.on('ActionResult', () => results++);
    await open(h, 's1', 1000);
    const old = h.ws.last();
    h.clock.advance(3000); // dead link
    assert.equal(old.closedWith?.code, 4000);
    const before = h.conn.state;
    old.serverSend({ type: 'ActionResult', id: 'x', seq: 1, data: { success: true, message: '' } });
    old.serverClose(1006);
    assert.equal(h.conn.state, before, 'stale close changes nothing');
    assert.equal(results, 0, 'stale message not delivered');
    h.clock.advance(500);
    const fresh = h.ws.last();
    fresh.welcome('s1', { resumed: true });
    old.serverClose(4409);
    assert.equal(h.conn.state.kind, 'open', 'a late 4409 of the old socket does not close the new one');
    assert.equal(h.conn.lastSeq, 0);
  });
});

describe('Connection: seq and Ack (§2, §3, §5)', () => {
  it('acks at most every 250 ms, or at once after 32 messages', async () => {
    const h = setup();
    await open(h);
    const s = h.ws.last();
    for (let seq = 1; seq <= 10; seq++) s.serverSend(stateUpdate(seq));
    assert.equal(s.ofType('Ack').length, 0, 'no ack per message');
    h.clock.advance(ACK_INTERVAL_MS - 1);
    assert.equal(s.ofType('Ack').length, 0);
    h.clock.advance(1);
    assert.deepEqual(s.ofType('Ack'), [{ type: 'Ack', data: { seq: 10 } }]);
    for (let seq = 11; seq < 11 + ACK_EVERY_MESSAGES; seq++) s.serverSend(stateUpdate(seq));
    assert.deepEqual(s.ofType('Ack')[1], { type: 'Ack', data: { seq: 10 + ACK_EVERY_MESSAGES } });
    h.clock.advance(10 * ACK_INTERVAL_MS);
    assert.equal(s.ofType('Ack').length, 2, 'nothing left to ack');
    s.serverSend({ type: 'Heartbeat' });
    s.serverSend({ type: 'Error', data: { code: 'rate_limited', message: 'slow down' } });
    h.clock.advance(ACK_INTERVAL_MS);
    assert.equal(s.ofType('Ack').length, 2, 'messages without seq are not acked');
  });

  it('drops duplicates, accepts coalescing gaps, and restarts numbering for a new session', async () => {
    const h = setup();
    const seqs: number[] = [];
    h.conn.on('StateUpdate', (m) => seqs.push(m.seq ?? -1));
    h.conn.on('ActionResult', (m) => seqs.push(m.seq ?? -1));
    await open(h);
    const s = h.ws.last();
    s.serverSend(stateUpdate(1));
    s.serverSend(stateUpdate(2));
    s.serverSend(stateUpdate(2));
    s.serverSend({ type: 'ActionResult', id: 'a', seq: 1, data: { success: true, message: 'ok' } });
    s.serverSend(stateUpdate(5)); // coalesced 3–4 (§5)
    assert.deepEqual(seqs, [1, 2, 5]);
    assert.equal(h.conn.lastSeq, 5);
    s.serverClose(1001);
    h.clock.advance(500);
    assert.equal(h.ws.last().param('last_seq'), '5');
    h.ws.last().welcome('s2', { resumed: false }); // session expired on the server
    assert.equal(h.conn.lastSeq, 0);
    h.ws.last().serverSend(stateUpdate(1));
    assert.deepEqual(seqs, [1, 2, 5, 1]);
  });

  it('ignores frames that are not known server messages', async () => {
    const h = setup();
    let n = 0;
    h.conn.on('StateUpdate', () => n++);
    await open(h);
    const s = h.ws.last();
    s.serverRaw('not json');
    s.serverRaw(new Uint8Array([1, 2]));
    s.serverSend({ type: 'Mystery', data: {} });
    s.serverSend({ type: 'StateUpdate', seq: 'x', data: {} });
    s.serverSend({ type: 'StateUpdate', seq: 1 });
    assert.equal(n, 0);
    assert.equal(h.conn.lastSeq, 0);
    assert.equal(h.conn.state.kind, 'open');
  });

  it('persists the session so a reload resumes it', async () => {
    const storage = new MemoryStorage();
    const clock = new FakeClock();
    const a = setup({}, { storage, clock });
    await open(a, 's9');
    for (let seq = 1; seq <= 3; seq++) a.ws.last().serverSend(stateUpdate(seq));
    clock.advance(ACK_INTERVAL_MS);
    const b = setup({}, { storage, clock });
    b.conn.connect();
    await flush();
    assert.equal(b.ws.last().param('session'), 's9');
    assert.equal(b.ws.last().param('last_seq'), '3');
  });
});

describe('Connection: token refresh (§1)', () => {
  it('sends RefreshToken refreshBeforeMs before exp and reconnects with the new token', async () => {
    const clock = new FakeClock();
    const issued: string[] = [];
    const h = setup(
      {
        refreshBeforeMs: 60_000,
        tokenProvider: async () => {
          const t = jwt(Math.floor(clock.now() / 1000) + 120, 'alice', issued.length);
          issued.push(t);
          return t;
        },
      },
      { clock },
    );
    await open(h, 's1', 1_000_000);
    const s = h.ws.last();
    assert.equal(tokenExpiry(issued[0] ?? ''), Math.floor(clock.now() / 1000) * 1000 + 120_000);
    const due = (tokenExpiry(issued[0] ?? '') ?? 0) - 60_000 - clock.now();
    clock.advance(due - 1);
    assert.equal(issued.length, 1);
    clock.advance(1);
    assert.equal(issued.length, 2);
    await flush();
    const refresh = s.ofType('RefreshToken');
    assert.equal(refresh.length, 1);
    assert.equal(refresh[0]?.data.token, issued[1]);
    assert.match(refresh[0]?.id ?? '', /^[0-9a-f]+\.[0-9a-f]+-\d+$/);
    // The next refresh follows the new token's exp.
    clock.advance(59_999);
    assert.equal(issued.length, 2);
    clock.advance(1);
    assert.equal(issued.length, 3);
    await flush();
    s.serverClose(1006);
    clock.advance(500);
    assert.equal(h.ws.last().param('token'), issued[2]);
  });

  it('refetches a stale cached token before reconnecting', async () => {
    const clock = new FakeClock();
    const h = setup(
      { tokenProvider: async () => jwt(Math.floor(clock.now() / 1000) + 30), refreshBeforeMs: 0 },
      { clock },
    );
    let calls = 0;
    h.conn.on('state', ({ newState }) => {
      if (newState.kind === 'connecting' && newState.step === 'token') calls++;
    });
    await open(h, 's1', 1_000_000);
    h.ws.last().serverClose(1006);
    h.network.dispatchEvent(new Event('offline'));
    clock.advance(25_000); // the token now expires in < 10 s
    h.network.dispatchEvent(new Event('online'));
    assert.equal(calls, 2);
    await flush();
    assert.equal(h.ws.sockets.length, 2);
  });

  it('tokenExpiry reads exp without verifying and tolerates junk', () => {
    assert.equal(tokenExpiry(jwt(1234)), 1_234_000);
    assert.equal(tokenExpiry('nope'), undefined);
    assert.equal(tokenExpiry('a.!!!.c'), undefined);
    assert.equal(tokenExpiry(`a.${Buffer.from('{"sub":"x"}').toString('base64url')}.c`), undefined);
  });
});

describe('Connection: browser offline/online', () => {
  it('offline pauses retries; online reconnects at once', async () => {
    const h = setup();
    await open(h);
    h.ws.last().serverClose(1006);
    assert.equal(h.conn.state.kind, 'reconnecting');
    h.network.dispatchEvent(new Event('offline'));
    assert.deepEqual(h.conn.state, { kind: 'offline' });
    assert.equal(h.clock.pending, 0);
    h.clock.advance(600_000);
    assert.equal(h.ws.sockets.length, 1, 'no attempt while offline');
    h.network.dispatchEvent(new Event('online'));
    assert.equal(h.ws.sockets.length, 2, 'reconnects at once');
    assert.equal(h.ws.last().param('session'), 's1');
    assert.deepEqual(h.conn.state, { kind: 'connecting', attempt: 0, authFailures: 0, step: 'socket' });
  });

  it('going offline while open closes the socket with 4000', async () => {
    const h = setup();
    await open(h);
    const s = h.ws.last();
    h.network.dispatchEvent(new Event('offline'));
    assert.equal(s.closedWith?.code, 4000);
    assert.equal(h.conn.state.kind, 'offline');
    s.serverClose(1006);
    assert.equal(h.conn.state.kind, 'offline');
  });
});

describe('Connection: close and action ids', () => {
  it('close() acks, closes with 1000, clears every timer and stops listening', async () => {
    const h = setup();
    await open(h);
    const s = h.ws.last();
    s.serverSend(stateUpdate(1));
    h.conn.close();
    assert.deepEqual(s.ofType('Ack'), [{ type: 'Ack', data: { seq: 1 } }]);
    assert.equal(s.closedWith?.code, 1000);
    assert.deepEqual(h.conn.state, { kind: 'closed', reason: 'app' });
    assert.equal(h.clock.pending, 0);
    h.network.dispatchEvent(new Event('online'));
    s.serverClose(1000);
    assert.deepEqual(h.conn.state, { kind: 'closed', reason: 'app' });
    assert.equal(h.conn.send({ type: 'Heartbeat' }), false);
    assert.equal(h.conn.sessionId, 's1', 'the session is kept for a later connect()');
  });

  it('close() during the token fetch ignores the late token', async () => {
    const h = setup();
    h.conn.connect();
    h.conn.close();
    await flush();
    assert.equal(h.ws.sockets.length, 0);
    assert.deepEqual(h.conn.state, { kind: 'closed', reason: 'app' });
  });

  it('newActionId is unique across instances sharing a device prefix', () => {
    const storage = new MemoryStorage();
    const a = setup({}, { storage }).conn;
    const b = setup({}, { storage }).conn;
    const ids = [a.newActionId(), a.newActionId(), b.newActionId(), b.newActionId()];
    assert.equal(new Set(ids).size, 4);
    for (const id of ids) {
      assert.match(id, /^[0-9a-f]{12}\.[0-9a-f]{8}-[12]$/);
      assert.ok(new TextEncoder().encode(id).length <= 64);
    }
    const device = (id: string): string => id.split('.')[0] ?? '';
    assert.equal(device(ids[0] ?? ''), device(ids[2] ?? ''), 'device part persisted');
    assert.notEqual(ids[0], ids[2]);
  });

  it('newActionId is printable ASCII, so always valid UTF-8 (the server refuses ids with lone surrogates, §2)', () => {
    const storage = new MemoryStorage();
    // A device id that is not ours (tampered with, or from an old version) is replaced, not used.
    storage.set('cosmic.conn.device', '\ud800\udc00\ud800');
    const conn = setup({}, { storage }).conn;
    for (let i = 0; i < 50; i++) {
      const id = conn.newActionId();
      assert.match(id, /^[0-9a-f]+\.[0-9a-f]+-[0-9]+$/);
      assert.ok(new TextEncoder().encode(id).length <= 64);
      assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(new TextEncoder().encode(id)), id);
    }
  });

  it('state events carry old and new state and fire only on change', async () => {
    const h = setup();
    const changes: [string, string][] = [];
    h.conn.on('state', ({ oldState, newState }) => changes.push([oldState.kind, newState.kind]));
    await open(h);
    h.conn.retryNow(); // no-op while open
    h.conn.connect(); // no-op while open
    assert.deepEqual(changes, [
      ['closed', 'connecting'],
      ['connecting', 'connecting'],
      ['connecting', 'open'],
    ]);
  });
});
