import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  classifyClose,
  INITIAL_STATE,
  MAX_AUTH_FAILURES,
  RATE_LIMITED_MIN_DELAY_MS,
  transition,
  type CloseAction,
  type ConnEvent,
  type ConnState,
  type Effect,
  type TransitionContext,
} from '../src/conn/state.js';

// random 0.5 makes every delay half its window: backoff(n) = 500 * 2**n.
function ctx(over: Partial<TransitionContext> = {}): TransitionContext {
  return {
    maxRetries: 3,
    backoff: { baseMs: 1000, capMs: 30_000 },
    random: () => 0.5,
    now: 10_000,
    online: true,
    hasFreshToken: true,
    ...over,
  };
}

const S = {
  closedApp: { kind: 'closed', reason: 'app' },
  closedNormal: { kind: 'closed', reason: 'normal' },
  closedTaken: { kind: 'closed', reason: 'taken_over' },
  token0: { kind: 'connecting', attempt: 0, authFailures: 0, step: 'token' },
  tokenAuth1: { kind: 'connecting', attempt: 0, authFailures: 1, step: 'token' },
  token2: { kind: 'connecting', attempt: 2, authFailures: 0, step: 'token' },
  socket0: { kind: 'connecting', attempt: 0, authFailures: 0, step: 'socket' },
  socket2: { kind: 'connecting', attempt: 2, authFailures: 0, step: 'socket' },
  socket3: { kind: 'connecting', attempt: 3, authFailures: 0, step: 'socket' },
  socketAuth1: { kind: 'connecting', attempt: 0, authFailures: 1, step: 'socket' },
  open: { kind: 'open', sessionId: 's1' },
  reconnecting2: { kind: 'reconnecting', attempt: 2, delayMs: 1000, retryAt: 11_000 },
  offline: { kind: 'offline' },
  failedRetries: { kind: 'failed', reason: 'retries_exhausted', code: 1006 },
  failedAuth: { kind: 'failed', reason: 'auth', code: 4401 },
  failedProtocol: { kind: 'failed', reason: 'protocol', code: 4400 },
  failedTooBig: { kind: 'failed', reason: 'message_too_big', code: 1009 },
} satisfies Record<string, ConnState>;

const E = {
  start: { kind: 'start' },
  stop: { kind: 'stop' },
  manualRetry: { kind: 'manualRetry' },
  socketOpen: { kind: 'socketOpen', sessionId: 's2' },
  retryTimer: { kind: 'retryTimer' },
  browserOffline: { kind: 'browserOffline' },
  browserOnline: { kind: 'browserOnline' },
  tokenExpiring: { kind: 'tokenExpiring' },
  tokenRefreshed: { kind: 'tokenRefreshed', token: 'T2' },
  tokenFailed: { kind: 'tokenFailed' },
} satisfies Record<string, ConnEvent>;

const closed = (code: number, reason = ''): ConnEvent => ({ kind: 'socketClosed', code, reason });

const retryIn = (attempt: number, delayMs: number, now = 10_000): { state: ConnState; effects: Effect[] } => ({
  state: { kind: 'reconnecting', attempt, delayMs, retryAt: now + delayMs },
  effects: [{ kind: 'scheduleRetry', delayMs }],
});
const openSocket: Effect[] = [{ kind: 'openSocket' }];
const fetchToken: Effect[] = [{ kind: 'fetchToken' }];

describe('classifyClose follows protocol.md §6', () => {
  const table: [number, CloseAction][] = [
    [1000, 'close'],
    [1001, 'retry'],
    [1002, 'failProtocol'],
    [1003, 'failProtocol'],
    [1005, 'retry'],
    [1006, 'retry'],
    [1007, 'failProtocol'],
    [1008, 'failProtocol'],
    [1009, 'failTooBig'],
    [1011, 'retry'],
    [1012, 'retry'],
    [1013, 'retry'],
    [4000, 'retry'],
    [4400, 'failProtocol'],
    [4401, 'reauth'],
    [4408, 'retry'],
    [4409, 'takenOver'],
    [4429, 'retrySlow'],
    [4999, 'retry'],
  ];
  for (const [code, want] of table) {
    it(`${code} → ${want}`, () => assert.equal(classifyClose(code), want));
  }
});

interface Case {
  name: string;
  from: ConnState;
  event: ConnEvent;
  ctx?: Partial<TransitionContext>;
  state: ConnState;
  effects: Effect[];
}

function runTable(cases: Case[]): void {
  for (const c of cases) {
    it(c.name, () => {
      const got = transition(c.from, c.event, ctx(c.ctx));
      assert.deepEqual(got, { state: c.state, effects: c.effects });
    });
  }
}

describe('socketClosed while open: every close code of §6', () => {
  runTable([
    { name: '1000 normal → closed/normal', from: S.open, event: closed(1000), state: S.closedNormal, effects: [] },
    { name: '1001 going away → reconnecting, backoff(0)', from: S.open, event: closed(1001), ...retryIn(1, 500) },
    { name: '1006 abnormal → reconnecting, backoff(0)', from: S.open, event: closed(1006), ...retryIn(1, 500) },
    { name: '1011 unknown to §6 → reconnecting', from: S.open, event: closed(1011), ...retryIn(1, 500) },
    { name: '4000 client abort (dead link) → reconnecting', from: S.open, event: closed(4000), ...retryIn(1, 500) },
    { name: '4408 heartbeat timeout → reconnecting', from: S.open, event: closed(4408), ...retryIn(1, 500) },
    {
      name: '4429 rate limited → reconnecting after ≥ 5 s',
      from: S.open,
      event: closed(4429),
      ...retryIn(1, RATE_LIMITED_MIN_DELAY_MS + 500),
    },
    {
      name: '4429 with random 0 still waits the minimum',
      from: S.open,
      event: closed(4429),
      ctx: { random: () => 0 },
      ...retryIn(1, RATE_LIMITED_MIN_DELAY_MS),
    },
    {
      name: '1009 too big → failed, no retry',
      from: S.open,
      event: closed(1009),
      state: S.failedTooBig,
      effects: [],
    },
    { name: '4400 protocol → failed, no retry', from: S.open, event: closed(4400), state: S.failedProtocol, effects: [] },
    {
      name: '1008 policy → failed/protocol',
      from: S.open,
      event: closed(1008),
      state: { kind: 'failed', reason: 'protocol', code: 1008 },
      effects: [],
    },
    {
      name: '4401 auth_expired → fetch a token even if one is cached',
      from: S.open,
      event: closed(4401, 'auth_expired'),
      state: S.tokenAuth1,
      effects: fetchToken,
    },
    {
      name: '4409 taken over → closed/taken_over, session forgotten',
      from: S.open,
      event: closed(4409),
      state: S.closedTaken,
      effects: [{ kind: 'resetSession' }],
    },
    {
      name: '1006 while the browser is offline → offline, no retry counted',
      from: S.open,
      event: closed(1006),
      ctx: { online: false },
      state: S.offline,
      effects: [],
    },
    {
      name: '4429 while offline → offline',
      from: S.open,
      event: closed(4429),
      ctx: { online: false },
      state: S.offline,
      effects: [],
    },
    {
      name: '1006 with maxRetries 0 → failed at once',
      from: S.open,
      event: closed(1006),
      ctx: { maxRetries: 0 },
      state: S.failedRetries,
      effects: [],
    },
  ]);
});

describe('socketClosed while connecting: attempts count up, then fail', () => {
  runTable([
    { name: 'first attempt 1006 → attempt 1', from: S.socket0, event: closed(1006), ...retryIn(1, 500) },
    { name: 'attempt 2 1006 → attempt 3, backoff(2)', from: S.socket2, event: closed(1006), ...retryIn(3, 2000) },
    {
      name: 'attempt 3 of 3 1006 → failed/retries_exhausted',
      from: S.socket3,
      event: closed(1006),
      state: S.failedRetries,
      effects: [],
    },
    {
      name: 'attempt 3 of 3 4429 → failed/retries_exhausted',
      from: S.socket3,
      event: closed(4429),
      state: { kind: 'failed', reason: 'retries_exhausted', code: 4429 },
      effects: [],
    },
    {
      name: 'cap applies: attempt 9 → backoff(9) = 15 s',
      from: { kind: 'connecting', attempt: 9, authFailures: 0, step: 'socket' },
      event: closed(1001),
      ctx: { maxRetries: 20 },
      ...retryIn(10, 15_000),
    },
    {
      name: '4401 on a later attempt keeps the attempt count',
      from: S.socket2,
      event: closed(4401, 'auth_invalid'),
      state: { kind: 'connecting', attempt: 2, authFailures: 1, step: 'token' },
      effects: fetchToken,
    },
    {
      name: `4401 again right after a new token → failed/auth (MAX_AUTH_FAILURES ${MAX_AUTH_FAILURES})`,
      from: S.socketAuth1,
      event: closed(4401, 'auth_invalid'),
      state: S.failedAuth,
      effects: [],
    },
    {
      name: '1006 after a 4401 resets the auth count',
      from: S.socketAuth1,
      event: closed(1006),
      ...retryIn(1, 500),
    },
    { name: '1000 → closed/normal', from: S.socket0, event: closed(1000), state: S.closedNormal, effects: [] },
    {
      name: '4409 → closed/taken_over',
      from: S.socket2,
      event: closed(4409),
      state: S.closedTaken,
      effects: [{ kind: 'resetSession' }],
    },
    { name: '4400 → failed/protocol', from: S.socket2, event: closed(4400), state: S.failedProtocol, effects: [] },
    { name: '1009 → failed/message_too_big', from: S.socket0, event: closed(1009), state: S.failedTooBig, effects: [] },
  ]);
});

describe('socketClosed without a socket is ignored', () => {
  for (const [name, from] of Object.entries({
    token0: S.token0,
    reconnecting2: S.reconnecting2,
    offline: S.offline,
    closedApp: S.closedApp,
    failedAuth: S.failedAuth,
  })) {
    it(`${name} + socketClosed(1006) → unchanged`, () => {
      const got = transition(from, closed(1006), ctx());
      assert.equal(got.state, from);
      assert.deepEqual(got.effects, []);
    });
  }
});

describe('lifecycle transitions', () => {
  runTable([
    // start
    { name: 'closed + start, token cached → connecting/socket', from: S.closedApp, event: E.start, state: S.socket0, effects: openSocket },
    {
      name: 'closed + start, no token → connecting/token',
      from: S.closedApp,
      event: E.start,
      ctx: { hasFreshToken: false },
      state: S.token0,
      effects: fetchToken,
    },
    { name: 'closed + start while offline → offline', from: S.closedApp, event: E.start, ctx: { online: false }, state: S.offline, effects: [] },
    { name: 'taken_over + start → connecting (new session)', from: S.closedTaken, event: E.start, state: S.socket0, effects: openSocket },
    { name: 'failed + start → connecting', from: S.failedAuth, event: E.start, ctx: { hasFreshToken: false }, state: S.token0, effects: fetchToken },
    { name: 'open + start → unchanged', from: S.open, event: E.start, state: S.open, effects: [] },
    { name: 'reconnecting + start → unchanged', from: S.reconnecting2, event: E.start, state: S.reconnecting2, effects: [] },
    // token
    { name: 'connecting/token + tokenRefreshed → connecting/socket', from: S.token0, event: E.tokenRefreshed, state: S.socket0, effects: openSocket },
    {
      name: 'connecting/token after 4401 + tokenRefreshed keeps authFailures',
      from: S.tokenAuth1,
      event: E.tokenRefreshed,
      state: S.socketAuth1,
      effects: openSocket,
    },
    { name: 'connecting/token after 4401 + tokenFailed → failed/auth', from: S.tokenAuth1, event: E.tokenFailed, state: { kind: 'failed', reason: 'auth' }, effects: [] },
    { name: 'connecting/token + tokenFailed → counted like a failed attempt', from: S.token0, event: E.tokenFailed, ...retryIn(1, 500) },
    {
      name: 'connecting/token attempt 3 + tokenFailed → failed/retries_exhausted',
      from: { kind: 'connecting', attempt: 3, authFailures: 0, step: 'token' },
      event: E.tokenFailed,
      state: { kind: 'failed', reason: 'retries_exhausted' },
      effects: [],
    },
    { name: 'connecting/token + tokenFailed while offline → offline', from: S.token0, event: E.tokenFailed, ctx: { online: false }, state: S.offline, effects: [] },
    { name: 'connecting/socket + tokenRefreshed → unchanged', from: S.socket0, event: E.tokenRefreshed, state: S.socket0, effects: [] },
    { name: 'open + tokenExpiring → fetchToken', from: S.open, event: E.tokenExpiring, state: S.open, effects: fetchToken },
    {
      name: 'open + tokenRefreshed → send RefreshToken',
      from: S.open,
      event: E.tokenRefreshed,
      state: S.open,
      effects: [{ kind: 'sendRefreshToken', token: 'T2' }],
    },
    { name: 'open + tokenFailed → unchanged (token valid until 4401)', from: S.open, event: E.tokenFailed, state: S.open, effects: [] },
    { name: 'reconnecting + tokenRefreshed → unchanged', from: S.reconnecting2, event: E.tokenRefreshed, state: S.reconnecting2, effects: [] },
    { name: 'closed + tokenFailed → unchanged', from: S.closedApp, event: E.tokenFailed, state: S.closedApp, effects: [] },
    // socketOpen
    { name: 'connecting/socket + socketOpen → open', from: S.socket2, event: E.socketOpen, state: { kind: 'open', sessionId: 's2' }, effects: [] },
    { name: 'connecting/token + socketOpen → unchanged', from: S.token0, event: E.socketOpen, state: S.token0, effects: [] },
    { name: 'reconnecting + socketOpen → unchanged', from: S.reconnecting2, event: E.socketOpen, state: S.reconnecting2, effects: [] },
    // retryTimer
    { name: 'reconnecting + retryTimer → connecting, same attempt', from: S.reconnecting2, event: E.retryTimer, state: S.socket2, effects: openSocket },
    {
      name: 'reconnecting + retryTimer, token stale → connecting/token',
      from: S.reconnecting2,
      event: E.retryTimer,
      ctx: { hasFreshToken: false },
      state: S.token2,
      effects: fetchToken,
    },
    { name: 'offline + retryTimer → unchanged', from: S.offline, event: E.retryTimer, state: S.offline, effects: [] },
    { name: 'open + retryTimer → unchanged', from: S.open, event: E.retryTimer, state: S.open, effects: [] },
    { name: 'failed + retryTimer → unchanged', from: S.failedRetries, event: E.retryTimer, state: S.failedRetries, effects: [] },
    // manualRetry
    { name: 'reconnecting + manualRetry → connecting now, same attempt', from: S.reconnecting2, event: E.manualRetry, state: S.socket2, effects: openSocket },
    { name: 'failed/retries + manualRetry → connecting, fresh budget', from: S.failedRetries, event: E.manualRetry, state: S.socket0, effects: openSocket },
    { name: 'failed/auth + manualRetry → connecting/token', from: S.failedAuth, event: E.manualRetry, ctx: { hasFreshToken: false }, state: S.token0, effects: fetchToken },
    { name: 'failed/protocol + manualRetry → connecting', from: S.failedProtocol, event: E.manualRetry, state: S.socket0, effects: openSocket },
    { name: 'offline + manualRetry → connecting (browser may be wrong)', from: S.offline, event: E.manualRetry, state: S.socket0, effects: openSocket },
    { name: 'open + manualRetry → unchanged', from: S.open, event: E.manualRetry, state: S.open, effects: [] },
    { name: 'connecting + manualRetry → unchanged', from: S.socket2, event: E.manualRetry, state: S.socket2, effects: [] },
    { name: 'closed + manualRetry → unchanged (use connect)', from: S.closedTaken, event: E.manualRetry, state: S.closedTaken, effects: [] },
    // offline / online
    {
      name: 'open + browserOffline → offline, socket closed 4000',
      from: S.open,
      event: E.browserOffline,
      state: S.offline,
      effects: [{ kind: 'closeSocket', code: 4000, reason: 'browser offline' }],
    },
    {
      name: 'connecting/socket + browserOffline → offline, socket closed',
      from: S.socket2,
      event: E.browserOffline,
      state: S.offline,
      effects: [{ kind: 'closeSocket', code: 4000, reason: 'browser offline' }],
    },
    { name: 'connecting/token + browserOffline → offline', from: S.token0, event: E.browserOffline, state: S.offline, effects: [] },
    { name: 'reconnecting + browserOffline → offline (retry timer dropped)', from: S.reconnecting2, event: E.browserOffline, state: S.offline, effects: [] },
    { name: 'offline + browserOffline → unchanged', from: S.offline, event: E.browserOffline, state: S.offline, effects: [] },
    { name: 'failed + browserOffline → unchanged', from: S.failedAuth, event: E.browserOffline, state: S.failedAuth, effects: [] },
    { name: 'closed + browserOffline → unchanged', from: S.closedApp, event: E.browserOffline, state: S.closedApp, effects: [] },
    { name: 'offline + browserOnline → connecting at once, attempt 0', from: S.offline, event: E.browserOnline, state: S.socket0, effects: openSocket },
    { name: 'offline + browserOnline, no token → connecting/token', from: S.offline, event: E.browserOnline, ctx: { hasFreshToken: false }, state: S.token0, effects: fetchToken },
    { name: 'failed/retries_exhausted + browserOnline → connecting', from: S.failedRetries, event: E.browserOnline, state: S.socket0, effects: openSocket },
    { name: 'failed/auth + browserOnline → unchanged', from: S.failedAuth, event: E.browserOnline, state: S.failedAuth, effects: [] },
    { name: 'failed/protocol + browserOnline → unchanged', from: S.failedProtocol, event: E.browserOnline, state: S.failedProtocol, effects: [] },
    { name: 'open + browserOnline → unchanged', from: S.open, event: E.browserOnline, state: S.open, effects: [] },
    { name: 'reconnecting + browserOnline → unchanged', from: S.reconnecting2, event: E.browserOnline, state: S.reconnecting2, effects: [] },
    { name: 'closed + browserOnline → unchanged', from: S.closedApp, event: E.browserOnline, state: S.closedApp, effects: [] },
    // stop
    {
      name: 'open + stop → closed/app, socket closed 1000',
      from: S.open,
      event: E.stop,
      state: S.closedApp,
      effects: [{ kind: 'closeSocket', code: 1000, reason: 'client closed' }],
    },
    {
      name: 'connecting/socket + stop → closed/app, socket closed 1000',
      from: S.socket2,
      event: E.stop,
      state: S.closedApp,
      effects: [{ kind: 'closeSocket', code: 1000, reason: 'client closed' }],
    },
    { name: 'connecting/token + stop → closed/app', from: S.token0, event: E.stop, state: S.closedApp, effects: [] },
    { name: 'reconnecting + stop → closed/app', from: S.reconnecting2, event: E.stop, state: S.closedApp, effects: [] },
    { name: 'offline + stop → closed/app', from: S.offline, event: E.stop, state: S.closedApp, effects: [] },
    { name: 'failed + stop → closed/app', from: S.failedProtocol, event: E.stop, state: S.closedApp, effects: [] },
    { name: 'closed/taken_over + stop keeps the reason', from: S.closedTaken, event: E.stop, state: S.closedTaken, effects: [] },
  ]);
});

describe('scenarios', () => {
  it('4401 → new token → 4401 again → failed/auth; a Welcome in between resets', () => {
    const c = ctx();
    let t = transition(S.open, closed(4401, 'auth_expired'), c);
    assert.deepEqual(t.effects, fetchToken);
    t = transition(t.state, E.tokenRefreshed, c);
    assert.deepEqual(t.effects, openSocket);
    // Welcome: the new token worked.
    t = transition(t.state, E.socketOpen, c);
    assert.equal(t.state.kind, 'open');
    // Much later the token expires again: one refetch, not a failure.
    t = transition(t.state, closed(4401, 'auth_expired'), c);
    assert.deepEqual(t.state, S.tokenAuth1);
    t = transition(t.state, E.tokenRefreshed, c);
    t = transition(t.state, closed(4401, 'auth_invalid'), c);
    assert.deepEqual(t.state, S.failedAuth);
  });

  it('drops until maxRetries, then failed; manualRetry starts over', () => {
    const c = ctx({ maxRetries: 2 });
    let state: ConnState = S.open;
    const delays: number[] = [];
    for (;;) {
      const t = transition(state, closed(1006), c);
      state = t.state;
      if (state.kind !== 'reconnecting') break;
      delays.push(state.delayMs);
      state = transition(state, E.retryTimer, c).state;
      assert.equal(state.kind, 'connecting');
    }
    assert.deepEqual(delays, [500, 1000]);
    assert.deepEqual(state, S.failedRetries);
    assert.deepEqual(transition(state, E.manualRetry, c), { state: S.socket0, effects: openSocket });
  });

  it('INITIAL_STATE is closed/app', () => {
    assert.deepEqual(INITIAL_STATE, S.closedApp);
  });
});

describe('invariants over every state × event × context', () => {
  const states = Object.values(S) as ConnState[];
  const events: ConnEvent[] = [
    ...(Object.values(E) as ConnEvent[]),
    ...[1000, 1001, 1006, 1009, 4000, 4400, 4401, 4408, 4409, 4429].map((c) => closed(c)),
  ];
  const contexts = [
    ctx(),
    ctx({ online: false }),
    ctx({ hasFreshToken: false }),
    ctx({ maxRetries: 0 }),
  ];
  const hasSocket = (s: ConnState): boolean =>
    s.kind === 'open' || (s.kind === 'connecting' && s.step === 'socket');

  it(`hold for ${states.length} states × ${events.length} events × ${contexts.length} contexts`, () => {
    for (const from of states) {
      for (const ev of events) {
        for (const c of contexts) {
          const label = `${JSON.stringify(from)} + ${JSON.stringify(ev)} online=${c.online} fresh=${c.hasFreshToken} max=${c.maxRetries}`;
          const { state, effects } = transition(from, ev, c);
          const kinds = effects.map((e) => e.kind);

          // Nothing changed ⇒ the very same object, so the client emits no 'state'.
          if (effects.length === 0 && JSON.stringify(state) === JSON.stringify(from)) {
            assert.equal(state, from, `${label}: unchanged state must be identical`);
          }
          // stop always ends in closed.
          if (ev.kind === 'stop') assert.equal(state.kind, 'closed', label);
          // Effects match the state they lead to.
          for (const e of effects) {
            switch (e.kind) {
              case 'openSocket':
                assert.ok(state.kind === 'connecting' && state.step === 'socket', `${label}: openSocket`);
                break;
              case 'fetchToken':
                assert.ok(
                  (state.kind === 'connecting' && state.step === 'token') || state.kind === 'open',
                  `${label}: fetchToken`,
                );
                break;
              case 'scheduleRetry':
                assert.ok(state.kind === 'reconnecting' && state.delayMs === e.delayMs, `${label}: scheduleRetry`);
                assert.ok(e.delayMs >= 0, label);
                break;
              case 'closeSocket':
                assert.ok(hasSocket(from) && !hasSocket(state), `${label}: closeSocket`);
                break;
              case 'sendRefreshToken':
                assert.equal(state.kind, 'open', `${label}: sendRefreshToken`);
                break;
              case 'resetSession':
                assert.deepEqual(state, S.closedTaken, `${label}: resetSession`);
                break;
            }
          }
          // No socket is leaked: leaving a socket state without its close event closes it.
          if (hasSocket(from) && !hasSocket(state) && ev.kind !== 'socketClosed') {
            assert.ok(kinds.includes('closeSocket'), `${label}: socket leaked`);
          }
          // Entering reconnecting always arms the timer; connecting always starts work.
          if (state !== from && state.kind === 'reconnecting') assert.deepEqual(kinds, ['scheduleRetry'], label);
          if (state !== from && state.kind === 'connecting') {
            assert.ok(kinds.includes('openSocket') || kinds.includes('fetchToken'), `${label}: idle connecting`);
          }
          // Offline never burns a retry or opens a socket.
          if (!c.online && from.kind !== 'offline' && ev.kind === 'socketClosed' && hasSocket(from)) {
            assert.notEqual(state.kind, 'reconnecting', label);
          }
          // failed and closed wait for the app (or the network) to act.
          if ((from.kind === 'failed' || from.kind === 'closed') && !['start', 'manualRetry', 'browserOnline', 'stop'].includes(ev.kind)) {
            assert.equal(state, from, label);
          }
        }
      }
    }
  });
});
