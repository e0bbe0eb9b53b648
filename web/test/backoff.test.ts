import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { backoffDelay, DEFAULT_BACKOFF } from '../src/conn/backoff.js';

const fixed = (r: number) => (): number => r;

describe('backoffDelay', () => {
  const cases: { name: string; attempt: number; random: number; opts?: { baseMs: number; capMs: number }; want: number }[] = [
    { name: 'attempt 0, random 0', attempt: 0, random: 0, want: 0 },
    { name: 'attempt 0, random 0.5', attempt: 0, random: 0.5, want: 500 },
    { name: 'attempt 1, random 0.5', attempt: 1, random: 0.5, want: 1000 },
    { name: 'attempt 2, random 0.5', attempt: 2, random: 0.5, want: 2000 },
    { name: 'attempt 3, random 0.25', attempt: 3, random: 0.25, want: 2000 },
    { name: 'attempt 4, random 1-ε stays under the window', attempt: 4, random: 0.999, want: 15_984 },
    { name: 'attempt 5 reaches the cap', attempt: 5, random: 0.5, want: 15_000 },
    { name: 'attempt 10 is capped', attempt: 10, random: 0.5, want: 15_000 },
    { name: 'attempt 2000 (2**n = Infinity) is capped', attempt: 2000, random: 1, want: 30_000 },
    { name: 'negative attempt counts as 0', attempt: -3, random: 0.5, want: 500 },
    { name: 'fractional attempt rounds down', attempt: 2.9, random: 0.5, want: 2000 },
    { name: 'NaN attempt counts as 0', attempt: Number.NaN, random: 1, want: 1000 },
    { name: 'random above 1 is clamped', attempt: 0, random: 7, want: 1000 },
    { name: 'negative random is clamped', attempt: 3, random: -1, want: 0 },
    { name: 'NaN random is clamped', attempt: 3, random: Number.NaN, want: 0 },
    { name: 'custom base', attempt: 2, random: 0.5, opts: { baseMs: 100, capMs: 10_000 }, want: 200 },
    { name: 'custom cap', attempt: 6, random: 1, opts: { baseMs: 100, capMs: 5000 }, want: 5000 },
    { name: 'cap below base', attempt: 0, random: 1, opts: { baseMs: 1000, capMs: 300 }, want: 300 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(backoffDelay(c.attempt, c.opts ?? DEFAULT_BACKOFF, fixed(c.random)), c.want);
    });
  }

  it('defaults to base 1000 ms, cap 30 000 ms', () => {
    assert.deepEqual({ ...DEFAULT_BACKOFF }, { baseMs: 1000, capMs: 30_000 });
    assert.equal(backoffDelay(0, undefined, fixed(1)), 1000);
    assert.equal(backoffDelay(20, undefined, fixed(1)), 30_000);
  });

  it('with Math.random stays within [0, window]', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const window = Math.min(30_000, 1000 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt);
        assert.ok(d >= 0 && d <= window, `attempt ${attempt}: ${d} outside [0, ${window}]`);
      }
    }
  });
});
