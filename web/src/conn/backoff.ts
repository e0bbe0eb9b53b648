/**
 * Reconnect delays. Capped full jitter spreads the clients that a server
 * restart (close 1001, protocol.md §6) disconnects all at once over the whole
 * window instead of bringing them back in waves.
 *
 * @module
 */

/** BackoffOptions bounds the reconnect delay, in milliseconds. */
export interface BackoffOptions {
  /** Upper bound of the first window (attempt 0). */
  baseMs: number;
  /** No window is ever longer than this. */
  capMs: number;
}

/** DEFAULT_BACKOFF: windows of 1 s, 2 s, 4 s, … capped at 30 s. */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  baseMs: 1000,
  capMs: 30_000,
});

/**
 * backoffDelay returns the delay before reconnect attempt `attempt` (0 for the
 * first retry): `random() * min(capMs, baseMs * 2 ** attempt)`, capped full
 * jitter as in AWS's "Exponential Backoff and Jitter" and centrifuge-js
 * `backoff`.
 *
 * `random` is an argument so that the state machine stays pure and tests are
 * deterministic. A negative or fractional `attempt` counts as the integer
 * below it, at least 0; `random()` outside [0, 1) is clamped into it, so the
 * result is always within [0, capMs].
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const n = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  const base = Math.max(0, opts.baseMs);
  const cap = Math.max(0, opts.capMs);
  // 2 ** n overflows to Infinity for large n; min() then yields the cap.
  const window = Math.min(cap, base * 2 ** n);
  let r = random();
  if (!(r >= 0)) r = 0; // also catches NaN
  if (r > 1) r = 1;
  return r * window;
}
