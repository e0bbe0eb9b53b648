/**
 * Loading the WASM core: Go's `wasm_exec.js` (which defines `globalThis.Go`),
 * then `cosmic.wasm`, streamed and compiled while it downloads when the
 * browser can (`WebAssembly.instantiateStreaming`), from an `ArrayBuffer`
 * otherwise (older browsers, a server that sends the wrong MIME type).
 *
 * @module
 */

import { Core } from './core.js';
import type { CosmicModule } from './types.js';

/** GoRuntime is the part of wasm_exec.js's `Go` class that the loader uses. */
interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}

type GoConstructor = new () => GoRuntime;

/** LoadOptions says where the module comes from. Every field is optional. */
export interface LoadOptions {
  /** URL of the module. Default `cosmic.wasm`, relative to the page. */
  wasmUrl?: string | URL;
  /**
   * URL of Go's `wasm_exec.js`, loaded with a `<script>` element when
   * `globalThis.Go` is not defined yet. Default `wasm_exec.js`. Outside a
   * page (Node), evaluate the file yourself first.
   */
  wasmExecUrl?: string | URL;
  /** The module's bytes, instead of fetching `wasmUrl` (Node, tests, a cache). */
  wasmBytes?: BufferSource;
  /** fetch implementation. Default the global `fetch`. */
  fetch?: (input: string | URL) => Promise<Response>;
  /** Clock for {@link Core.timing}. Default `performance.now`. */
  now?: () => number;
  /** How long to wait for `main` to register `cosmic` after it starts. Default 5000 ms. */
  readyTimeoutMs?: number;
  /** Called if Go's `main` ever returns (a panic in the module); the core is unusable from then on. */
  onExit?: (reason: string) => void;
}

const WASM_MIME = 'application/wasm';

function goConstructor(): GoConstructor | undefined {
  const go = (globalThis as { Go?: unknown }).Go;
  return typeof go === 'function' ? (go as GoConstructor) : undefined;
}

/** loadScript adds a classic `<script>` and resolves once it ran. */
function loadScript(url: string): Promise<void> {
  const doc = (globalThis as { document?: Document }).document;
  if (doc === undefined) {
    return Promise.reject(new Error('loadCore: globalThis.Go is undefined and there is no document to load wasm_exec.js into'));
  }
  return new Promise((resolve, reject) => {
    const s = doc.createElement('script');
    s.src = url;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`loadCore: could not load ${url}`));
    doc.head.appendChild(s);
  });
}

async function instantiate(opts: LoadOptions, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  if (opts.wasmBytes !== undefined) {
    return (await WebAssembly.instantiate(opts.wasmBytes, imports)).instance;
  }
  const doFetch = opts.fetch ?? ((u: string | URL) => fetch(u));
  const url = opts.wasmUrl ?? 'cosmic.wasm';
  const get = async (): Promise<Response> => {
    const resp = await doFetch(url);
    if (!resp.ok) throw new Error(`loadCore: GET ${String(url)}: HTTP ${resp.status}`);
    return resp;
  };
  const resp = await get();
  const streaming = typeof WebAssembly.instantiateStreaming === 'function';
  if (streaming && (resp.headers.get('Content-Type') ?? '').startsWith(WASM_MIME)) {
    try {
      return (await WebAssembly.instantiateStreaming(resp, imports)).instance;
    } catch {
      // Fall through: fetch again (from the HTTP cache) and compile from a buffer.
      return (await WebAssembly.instantiate(await (await get()).arrayBuffer(), imports)).instance;
    }
  }
  return (await WebAssembly.instantiate(await resp.arrayBuffer(), imports)).instance;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * loadCore loads and starts the WASM core and returns its typed wrapper,
 * with {@link Core.timing} measured. It rejects when wasm_exec.js or the
 * module cannot be loaded, or when `main` does not register `cosmic` in
 * time.
 *
 * Each call starts a new Go program; the page needs one. The returned
 * {@link Core} holds its own reference, so a later load replacing
 * `globalThis.cosmic` does not affect it.
 */
export async function loadCore(opts: LoadOptions = {}): Promise<Core> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  let Go = goConstructor();
  if (Go === undefined) {
    await loadScript(String(opts.wasmExecUrl ?? 'wasm_exec.js'));
    Go = goConstructor();
    if (Go === undefined) throw new Error('loadCore: wasm_exec.js did not define globalThis.Go');
  }
  const go = new Go();
  const global = globalThis as { cosmic?: unknown };
  const previous = global.cosmic;
  const tInst = now();
  const instance = await instantiate(opts, go.importObject);
  const t1 = now();

  let exitReason: string | undefined;
  let core: Core | undefined;
  const exited = (reason: string): void => {
    exitReason = reason;
    core?.markExited(reason);
    opts.onExit?.(reason);
  };
  // run resolves only when main returns; main registers cosmic and blocks.
  go.run(instance).then(
    () => exited('main returned'),
    (err: unknown) => exited(err instanceof Error ? err.message : String(err)),
  );

  const deadline = t1 + (opts.readyTimeoutMs ?? 5000);
  // main runs synchronously inside run() until it blocks, so cosmic is
  // normally there at once; poll in case a future main registers later.
  while (global.cosmic === previous || global.cosmic === undefined) {
    if (exitReason !== undefined) throw new Error(`loadCore: the module exited before it was ready: ${exitReason}`);
    if (now() > deadline) throw new Error('loadCore: the module did not register globalThis.cosmic');
    await sleep(5);
  }
  const t2 = now();
  core = new Core(global.cosmic as CosmicModule, {
    instantiateMs: t1 - tInst,
    runMs: t2 - t1,
    totalMs: t2 - t0,
  });
  if (exitReason !== undefined) core.markExited(exitReason);
  return core;
}
