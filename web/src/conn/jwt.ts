/**
 * Reading a JWT's claims in the browser, without verifying its signature:
 * the client only needs to know whose token it holds and when to refresh
 * it; the server verifies (protocol.md §1).
 *
 * @module
 */

import { isObject } from './guards.js';

/** jwtClaims decodes a JWT's payload (base64url JSON), or returns undefined for anything that is not one. */
export function jwtClaims(token: string): Record<string, unknown> | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload === '') return undefined;
  try {
    const b64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const claims: unknown = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)));
    return isObject(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** tokenExpiry returns a JWT's `exp` in ms since the epoch, or undefined when the token has none or is not a JWT. */
export function tokenExpiry(token: string): number | undefined {
  const exp = jwtClaims(token)?.['exp'];
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/** tokenSubject returns a JWT's `sub` (the user), or undefined when it has none. */
export function tokenSubject(token: string): string | undefined {
  const sub = jwtClaims(token)?.['sub'];
  return typeof sub === 'string' && sub !== '' ? sub : undefined;
}
