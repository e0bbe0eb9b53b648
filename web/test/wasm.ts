// Loads the built WASM core (web/dist, made by `make wasm` or
// scripts/ensure-wasm.mjs before `npm test`) into Node through the
// client's own loader, once per test file.

import { readFileSync } from 'node:fs';
import { runInThisContext } from 'node:vm';

import { loadCore, type Core } from '../src/core/index.js';

// Tests are bundled into web/dist-test/, so ../dist/ is web/dist/.
const dist = new URL('../dist/', import.meta.url);
/** vectorsDir is shared/testdata/vectors. */
export const vectorsDir = new URL('../../shared/testdata/vectors/', import.meta.url);

let loading: Promise<Core> | undefined;

/** testCore returns the core, loading it on first use. */
export function testCore(): Promise<Core> {
  if (loading === undefined) {
    if (typeof (globalThis as { Go?: unknown }).Go !== 'function') {
      // wasm_exec.js is a classic script defining globalThis.Go.
      runInThisContext(readFileSync(new URL('wasm_exec.js', dist), 'utf8'), { filename: 'wasm_exec.js' });
    }
    loading = loadCore({ wasmBytes: readFileSync(new URL('cosmic.wasm', dist)) });
  }
  return loading;
}

/** loadVectors reads one vector file. */
export function loadVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(name, vectorsDir), 'utf8')) as T;
}
