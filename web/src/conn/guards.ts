/**
 * Type guards for data that crossed a boundary (a frame, storage, the WASM
 * module's answer) and is `unknown` until checked.
 *
 * @module
 */

/** isObject says whether `v` is a plain JSON object: not null, not an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
