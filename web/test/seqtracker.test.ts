import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  ACK_EVERY_MESSAGES,
  decodeSession,
  encodeSession,
  NO_SESSION,
  pendingAck,
  seqStep,
  type SeqInput,
  type SeqTracking,
} from '../src/conn/seqtracker.js';

/** run applies inputs in order and returns the last step. */
function run(t: SeqTracking, ...inputs: SeqInput[]): ReturnType<typeof seqStep> {
  let step = seqStep(t, inputs[0] ?? { kind: 'reset' });
  for (const input of inputs.slice(1)) step = seqStep(step.tracking, input);
  return step;
}

describe('seqStep', () => {
  it('a welcome to a new session starts from 0 and persists', () => {
    const step = seqStep({ session: 'old', seq: 9, unacked: 2 }, { kind: 'welcome', sessionId: 'new', resumed: false });
    assert.deepEqual(step, { tracking: { session: 'new', seq: 0, unacked: 0 }, deliver: true, ack: 'none', persist: true });
  });

  it('a resumed welcome keeps seq and what waits for an ack; a resumed welcome to another session does not', () => {
    const t = { session: 's', seq: 9, unacked: 2 };
    assert.deepEqual(seqStep(t, { kind: 'welcome', sessionId: 's', resumed: true }).tracking, t);
    assert.deepEqual(seqStep(t, { kind: 'welcome', sessionId: 'x', resumed: true }).tracking, { session: 'x', seq: 0, unacked: 0 });
    assert.deepEqual(seqStep(t, { kind: 'welcome', sessionId: 's', resumed: false }).tracking, { session: 's', seq: 0, unacked: 0 });
  });

  it('delivers a higher seq, drops a duplicate or an older one', () => {
    const t = { session: 's', seq: 5, unacked: 0 };
    const next = seqStep(t, { kind: 'received', seq: 6 });
    assert.deepEqual(next, { tracking: { session: 's', seq: 6, unacked: 1 }, deliver: true, ack: 'soon', persist: false });
    for (const seq of [5, 3]) {
      assert.deepEqual(seqStep(next.tracking, { kind: 'received', seq }), { tracking: next.tracking, deliver: false, ack: 'none', persist: false });
    }
    // A gap (coalesced state updates, §5.5) moves to the highest.
    assert.equal(seqStep(next.tracking, { kind: 'received', seq: 10 }).tracking.seq, 10);
  });

  it('asks for an ack now at ACK_EVERY_MESSAGES unacknowledged, soon before', () => {
    const inputs: SeqInput[] = Array.from({ length: ACK_EVERY_MESSAGES }, (_, i) => ({ kind: 'received', seq: i + 1 }));
    assert.equal(run({ session: 's', seq: 0, unacked: 0 }, ...inputs.slice(0, -1)).ack, 'soon');
    const last = run({ session: 's', seq: 0, unacked: 0 }, ...inputs);
    assert.equal(last.ack, 'now');
    assert.equal(pendingAck(last.tracking), ACK_EVERY_MESSAGES);
  });

  it('an ack clears the count and persists; a reset forgets the session', () => {
    const acked = seqStep({ session: 's', seq: 4, unacked: 3 }, { kind: 'acked' });
    assert.deepEqual(acked, { tracking: { session: 's', seq: 4, unacked: 0 }, deliver: false, ack: 'none', persist: true });
    assert.equal(pendingAck(acked.tracking), undefined);
    assert.deepEqual(seqStep(acked.tracking, { kind: 'reset' }).tracking, NO_SESSION);
  });
});

describe('session persistence', () => {
  it('round-trips session and seq, not the ack count', () => {
    const text = encodeSession({ session: 's-1', seq: 42, unacked: 3 });
    assert.equal(text, '{"session_id":"s-1","last_seq":42}');
    assert.deepEqual(decodeSession(text), { session: 's-1', seq: 42, unacked: 0 });
    assert.equal(encodeSession(NO_SESSION), '');
  });

  it('reads anything else as no session, and a bad seq as 0', () => {
    for (const raw of [null, undefined, '', 'not json', '[]', '{"last_seq":3}', '{"session_id":""}']) {
      assert.deepEqual(decodeSession(raw), NO_SESSION, String(raw));
    }
    for (const seq of ['-1', '1.5', '"3"', '1e300']) {
      assert.equal(decodeSession(`{"session_id":"s","last_seq":${seq}}`).seq, 0, seq);
    }
  });
});
