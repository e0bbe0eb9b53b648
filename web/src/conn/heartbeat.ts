/**
 * Heartbeat and dead-link detection (protocol.md §5), as pure functions of
 * time: the connection sends a `Heartbeat` every interval and asks
 * {@link checkLink} whether the link is dead whenever its timer fires.
 *
 * @module
 */

/**
 * DEAD_LINK_GRACE_MS is added to two heartbeat intervals before a silent link
 * is declared dead: the server answers every `Heartbeat`, so that silence
 * means the path is gone even if the socket has not noticed (§5).
 */
export const DEAD_LINK_GRACE_MS = 1000;

/** heartbeatInterval is the interval `Welcome.heartbeat_ms` offers, or `current` when it offers nothing usable. */
export function heartbeatInterval(current: number, offered: number): number {
  return Number.isFinite(offered) && offered > 0 ? offered : current;
}

/** LinkCheck says the link is dead, or how long until it should be checked again. */
export type LinkCheck = { kind: 'dead' } | { kind: 'alive'; checkInMs: number };

/**
 * checkLink judges the link at `now`: dead when nothing at all arrived since
 * `lastReceivedAt` for two heartbeat intervals plus grace, else alive until
 * that much silence could have passed.
 */
export function checkLink(lastReceivedAt: number, now: number, heartbeatMs: number): LinkCheck {
  const limit = 2 * heartbeatMs + DEAD_LINK_GRACE_MS;
  const silent = now - lastReceivedAt;
  return silent >= limit ? { kind: 'dead' } : { kind: 'alive', checkInMs: limit - silent };
}
