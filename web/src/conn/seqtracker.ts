/**
 * Sequence and acknowledgement tracking (protocol.md §2, §3, §5): which
 * session the client resumes, the highest `seq` received in order, and how
 * many numbered messages wait for an `Ack`. Pure, like `state.ts`: one
 * {@link seqStep} takes the tracking and an input and says what to do; the
 * connection writes the `Ack`, arms the timer and persists.
 *
 * @module
 */

import { isObject } from './guards.js';

/** ACK_INTERVAL_MS: an `Ack` goes out at most this long after the first unacknowledged `seq` (§3). */
export const ACK_INTERVAL_MS = 250;
/** ACK_EVERY_MESSAGES: … or at once when this many `seq` messages are unacknowledged. */
export const ACK_EVERY_MESSAGES = 32;

/** SeqTracking is the session a reconnect resumes, its highest in-order `seq`, and how many messages are unacknowledged. */
export interface SeqTracking {
  readonly session: string | undefined;
  readonly seq: number;
  readonly unacked: number;
}

/** NO_SESSION is the tracking of a client with no session: a new session numbers from 1 (§2). */
export const NO_SESSION: SeqTracking = { session: undefined, seq: 0, unacked: 0 };

/**
 * SeqInput is what happens to the tracking:
 * - `welcome`: a `Welcome` opened `sessionId`, resumed or not;
 * - `received`: a server message numbered `seq` arrived;
 * - `acked`: an `Ack` of the tracking's `seq` was written;
 * - `reset`: the session is given up (a 4409 or a failed resume).
 */
export type SeqInput =
  | { kind: 'welcome'; sessionId: string; resumed: boolean }
  | { kind: 'received'; seq: number }
  | { kind: 'acked' }
  | { kind: 'reset' };

/**
 * SeqStep is the next tracking and what to do: `deliver` the message to the
 * app (false for a duplicate), `ack` now or soon (batched: the server only
 * needs the high-water mark, and one `Ack` per message would double the
 * traffic), `persist` the session (resume after a reload, §5).
 */
export interface SeqStep {
  tracking: SeqTracking;
  deliver: boolean;
  ack: 'none' | 'soon' | 'now';
  persist: boolean;
}

/** seqStep is the one transition of the tracking. Pure. */
export function seqStep(t: SeqTracking, input: SeqInput): SeqStep {
  switch (input.kind) {
    case 'welcome': {
      // A new session numbers from 1 (§2); the old session's acks mean nothing.
      const fresh = !input.resumed || input.sessionId !== t.session;
      const tracking = fresh ? { session: input.sessionId, seq: 0, unacked: 0 } : { ...t, session: input.sessionId };
      return { tracking, deliver: true, ack: 'none', persist: true };
    }
    case 'received': {
      // Already delivered: the server re-sends only seq > last_seq, but a
      // duplicate must never reach the app twice.
      if (input.seq <= t.seq) return { tracking: t, deliver: false, ack: 'none', persist: false };
      // A gap is legal only where state updates were coalesced (§5), so
      // the highest seq is the highest received in order.
      const tracking = { ...t, seq: input.seq, unacked: t.unacked + 1 };
      return { tracking, deliver: true, ack: tracking.unacked >= ACK_EVERY_MESSAGES ? 'now' : 'soon', persist: false };
    }
    case 'acked':
      return { tracking: { ...t, unacked: 0 }, deliver: false, ack: 'none', persist: true };
    case 'reset':
      return { tracking: NO_SESSION, deliver: false, ack: 'none', persist: true };
  }
}

/** pendingAck is the `seq` an `Ack` would carry now, or undefined when nothing waits for one. */
export function pendingAck(t: SeqTracking): number | undefined {
  return t.unacked > 0 ? t.seq : undefined;
}

/** encodeSession is the persisted form of the tracking (`''` when there is no session); acks are not kept. */
export function encodeSession(t: SeqTracking): string {
  return t.session === undefined ? '' : JSON.stringify({ session_id: t.session, last_seq: t.seq });
}

/** decodeSession reads {@link encodeSession}'s text; anything else, a corrupt entry included, is no session. */
export function decodeSession(raw: string | null | undefined): SeqTracking {
  if (!raw) return NO_SESSION;
  try {
    const v: unknown = JSON.parse(raw);
    if (!isObject(v)) return NO_SESSION;
    const id = v['session_id'];
    const seq = v['last_seq'];
    if (typeof id !== 'string' || id === '') return NO_SESSION;
    return { session: id, seq: typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : 0, unacked: 0 };
  } catch {
    return NO_SESSION;
  }
}
