import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { jwtClaims, tokenExpiry, tokenSubject } from '../src/conn/jwt.js';
import { jwt } from './fakes.js';

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('jwt: claims read without verifying', () => {
  it('reads exp (in ms) and sub', () => {
    const t = jwt(1234, 'bob');
    assert.equal(tokenExpiry(t), 1_234_000);
    assert.equal(tokenSubject(t), 'bob');
    assert.deepEqual(jwtClaims(t), { sub: 'bob', exp: 1234, n: 0 });
  });

  it('decodes base64url payloads that need padding and use - and _', () => {
    // "??>" encodes to "Pz8-" in base64url: a payload with those characters.
    const t = `h.${b64({ sub: '??>~~', exp: 1 })}.s`;
    assert.equal(tokenSubject(t), '??>~~');
  });

  it('tolerates junk: no payload, bad base64, not JSON, not an object, wrong claim types', () => {
    for (const t of ['nope', '', 'a..c', 'a.!!!.c', `a.${Buffer.from('not json').toString('base64url')}.c`, `a.${b64([1])}.c`, `a.${b64(null)}.c`]) {
      assert.equal(jwtClaims(t), undefined, t);
      assert.equal(tokenExpiry(t), undefined, t);
      assert.equal(tokenSubject(t), undefined, t);
    }
    assert.equal(tokenExpiry(`a.${b64({ sub: 'x' })}.c`), undefined);
    assert.equal(tokenExpiry(`a.${b64({ exp: '12' })}.c`), undefined);
    assert.equal(tokenSubject(`a.${b64({ sub: '' })}.c`), undefined);
    assert.equal(tokenSubject(`a.${b64({ sub: 7 })}.c`), undefined);
  });
});
