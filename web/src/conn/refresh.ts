/**
 * Token refresh timing (protocol.md §1): when an open connection asks for a
 * fresher token, and whether the cached one is fresh enough to connect
 * with. Pure functions of the token and the time; the connection arms the
 * timer and calls the provider.
 *
 * @module
 */

import { tokenExpiry } from './jwt.js';

/** MIN_REFRESH_INTERVAL_MS spaces refresh attempts when the provider fails or returns a token that expires no later. */
export const MIN_REFRESH_INTERVAL_MS = 10_000;
/** TOKEN_MIN_VALIDITY_MS: a cached token expiring sooner than this is refetched before connecting. */
export const TOKEN_MIN_VALIDITY_MS = 10_000;

/** hasFreshToken says whether `token` may open a connection at `now`: present, and without `exp` or not about to expire. */
export function hasFreshToken(token: string | undefined, now: number): boolean {
  if (token === undefined) return false;
  const exp = tokenExpiry(token);
  return exp === undefined || exp - now > TOKEN_MIN_VALIDITY_MS;
}

/**
 * refreshDelay is how long from `now` to ask for a fresher token:
 * `refreshBeforeMs` before the token's `exp`, but not sooner than
 * `minDelayMs`; undefined for no token or a token without `exp`, which
 * never needs refreshing.
 */
export function refreshDelay(token: string | undefined, now: number, refreshBeforeMs: number, minDelayMs: number): number | undefined {
  if (token === undefined) return undefined;
  const exp = tokenExpiry(token);
  if (exp === undefined) return undefined;
  return Math.max(minDelayMs, exp - refreshBeforeMs - now);
}
