import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Emitter } from '../src/conn/emitter.js';
import { isObject } from '../src/conn/guards.js';

interface Events {
  n: number;
  s: string;
}

describe('Emitter', () => {
  it('delivers each event to its handlers in order, typed by name', () => {
    const e = new Emitter<Events>();
    const got: string[] = [];
    e.on('n', (n) => got.push(`a${n + 1}`));
    e.on('n', (n) => got.push(`b${n}`));
    e.on('s', (s) => got.push(s.toUpperCase()));
    e.emit('n', 1);
    e.emit('s', 'x');
    assert.deepEqual(got, ['a2', 'b1', 'X']);
  });

  it('unsubscribes, and a change during an emit applies from the next one', () => {
    const e = new Emitter<Events>();
    const got: number[] = [];
    let off2 = (): void => {};
    const off1 = e.on('n', (n) => {
      got.push(n);
      off2();
      e.on('n', (m) => got.push(100 + m));
    });
    off2 = e.on('n', (n) => got.push(-n));
    e.emit('n', 1); // the second handler still runs: a snapshot
    off1();
    e.emit('n', 2);
    assert.deepEqual(got, [1, -1, 102]);
  });

  it('a throwing handler disturbs neither the caller nor the others; the error is rethrown in a microtask', () => {
    const e = new Emitter<Events>();
    const got: number[] = [];
    e.on('n', () => {
      throw new Error('boom');
    });
    e.on('n', (n) => got.push(n));
    // Catch the microtask instead of letting it reach the test runner.
    const tasks: (() => void)[] = [];
    const real = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (task) => tasks.push(task);
    try {
      e.emit('n', 7);
    } finally {
      globalThis.queueMicrotask = real;
    }
    assert.deepEqual(got, [7]);
    assert.equal(tasks.length, 1);
    assert.throws(() => tasks[0]?.(), /boom/);
  });

  it('an event without handlers is a no-op', () => {
    new Emitter<Events>().emit('s', 'nobody');
  });
});

describe('isObject', () => {
  it('accepts plain objects only', () => {
    assert.equal(isObject({}), true);
    assert.equal(isObject({ a: 1 }), true);
    for (const v of [null, undefined, [], [1], 'x', 1, true]) assert.equal(isObject(v), false, JSON.stringify(v));
  });
});
