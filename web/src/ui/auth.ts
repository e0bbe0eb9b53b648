/**
 * Sign-in for the page: the token (and the name it was issued for) in
 * `localStorage`, the development login of protocol.md §1, and the token
 * provider the connection calls.
 *
 * @module
 */

// The token's `sub` is read, not verified: the server verifies (protocol.md §1).
import { tokenSubject } from '../conn/jwt.js';

/** AUTH_KEY is where the token lives in `localStorage`. */
export const AUTH_KEY = 'cosmic.auth';

/** Auth is a signed-in user: the name (JWT `sub`) and the token. */
export interface Auth {
  user: string;
  token: string;
}

/** loadAuth returns the stored sign-in, if any. */
export function loadAuth(): Auth | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(AUTH_KEY) ?? 'null') as Partial<Auth> | null;
    if (typeof v?.user === 'string' && typeof v.token === 'string' && v.user !== '' && v.token !== '') {
      return { user: v.user, token: v.token };
    }
  } catch {
    // Corrupt: signed out.
  }
  return undefined;
}

/** saveAuth stores a sign-in; undefined signs out. */
export function saveAuth(auth: Auth | undefined): void {
  try {
    if (auth === undefined) localStorage.removeItem(AUTH_KEY);
    else localStorage.setItem(AUTH_KEY, JSON.stringify(auth));
  } catch {
    // Private mode: the sign-in lasts for this page only.
  }
}

/** authFromToken makes an {@link Auth} of a bare token (`#token=…`, `cosmicDebug.setToken`). */
export function authFromToken(token: string): Auth | undefined {
  const user = tokenSubject(token);
  return user === undefined ? undefined : { user, token };
}

/** DevLoginError is a refused development login; `message` is for the player. */
export class DevLoginError extends Error {
  override name = 'DevLoginError';
}

/** devLogin asks the server for a token (`POST /api/auth/dev-login`, development mode only). */
export async function devLogin(user: string): Promise<string> {
  let resp: Response;
  try {
    resp = await fetch('/api/auth/dev-login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user }),
    });
  } catch {
    throw new DevLoginError('The server cannot be reached.');
  }
  const body = (await resp.json().catch(() => ({}))) as { token?: unknown; message?: unknown };
  if (!resp.ok || typeof body.token !== 'string') {
    throw new DevLoginError(typeof body.message === 'string' ? body.message : `Sign-in failed (HTTP ${resp.status}).`);
  }
  return body.token;
}

/**
 * tokenProvider returns the function `Connection` calls for a token. The
 * first call hands out the stored token as it is, even if it looks expired:
 * the server is the judge (a 4401 costs one round trip, protocol.md §1). Every
 * later call (after a 4401, before expiry) gets a fresh one through the
 * development login when the server offers it; without it, the stored
 * token is all there is, and a second 4401 fails the connection (`auth`).
 */
export function tokenProvider(devMode: boolean, onToken: (auth: Auth) => void): () => Promise<string> {
  let first = true;
  return async () => {
    const auth = loadAuth();
    if (auth === undefined) throw new Error('signed out');
    if (first) {
      first = false;
      return auth.token;
    }
    if (!devMode) return auth.token;
    const token = await devLogin(auth.user);
    const next = { user: auth.user, token };
    saveAuth(next);
    onToken(next);
    return token;
  };
}
