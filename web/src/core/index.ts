/**
 * The WASM core of the Cosmic Gardener client: the server's own decoder,
 * rules, JSON Patch, canonical hash and offline queue (`shared/`), compiled
 * to WebAssembly by `wasm/` and typed here. TypeScript holds no game logic
 * (STYLE §7): it asks the core.
 *
 * @example
 * ```ts
 * const core = await loadCore({ wasmUrl: '/cosmic.wasm', wasmExecUrl: '/wasm_exec.js' });
 * console.log(`core ready in ${core.timing.totalMs} ms`);
 * const r = core.applyPatch(stateText, JSON.stringify(patch));
 * if (r.ok && r.value.hash !== serverHash) conn.send({ type: 'GetState' });
 * ```
 *
 * @module
 */

export { Core, CoreError, unwrap } from './core.js';
export { loadCore, type LoadOptions } from './load.js';
export type * from './types.js';
