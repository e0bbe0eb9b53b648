import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { checkLink, DEAD_LINK_GRACE_MS, heartbeatInterval } from '../src/conn/heartbeat.js';
import { hasFreshToken, refreshDelay, TOKEN_MIN_VALIDITY_MS } from '../src/conn/refresh.js';
import { jwt } from './fakes.js';

describe('heartbeat', () => {
  it('takes the interval Welcome offers when it is usable', () => {
    assert.equal(heartbeatInterval(30_000, 5_000), 5_000);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(heartbeatInterval(30_000, bad), 30_000, String(bad));
  });

  it('declares the link dead after two intervals plus grace of silence, and says when to look again before', () => {
    const limit = 2 * 1000 + DEAD_LINK_GRACE_MS;
    assert.deepEqual(checkLink(100, 100, 1000), { kind: 'alive', checkInMs: limit });
    assert.deepEqual(checkLink(100, 100 + limit - 1, 1000), { kind: 'alive', checkInMs: 1 });
    assert.deepEqual(checkLink(100, 100 + limit, 1000), { kind: 'dead' });
    assert.deepEqual(checkLink(100, 100 + 10 * limit, 1000), { kind: 'dead' });
  });
});

describe('token refresh', () => {
  const now = 1_700_000_000_000;
  it('refreshes refreshBeforeMs before exp, never sooner than the minimum delay', () => {
    const token = jwt(now / 1000 + 120);
    assert.equal(refreshDelay(token, now, 60_000, 0), 60_000);
    assert.equal(refreshDelay(token, now, 60_000, 90_000), 90_000);
    assert.equal(refreshDelay(jwt(now / 1000 - 5), now, 60_000, 10_000), 10_000, 'expired: at the minimum');
  });

  it('never refreshes a missing token or one without exp', () => {
    assert.equal(refreshDelay(undefined, now, 60_000, 0), undefined);
    assert.equal(refreshDelay('opaque', now, 60_000, 0), undefined);
  });

  it('a token is fresh enough to connect with unless it expires within TOKEN_MIN_VALIDITY_MS', () => {
    assert.equal(hasFreshToken(undefined, now), false);
    assert.equal(hasFreshToken('opaque', now), true, 'no exp: the server decides');
    assert.equal(hasFreshToken(jwt((now + TOKEN_MIN_VALIDITY_MS + 1000) / 1000), now), true);
    assert.equal(hasFreshToken(jwt((now + TOKEN_MIN_VALIDITY_MS) / 1000), now), false);
  });
});
