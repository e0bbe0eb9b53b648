// A bot in Node: the client's own TypeScript core and connection, outside
// a page. It signs in with the development login, keeps the garden in
// sync (checking every update's hash with the WASM core), places one
// body, waits until the garden shows it, prints a summary line and exits.
//
// Build and run (docs/client-guide.md, "A bot in Node"):
//
//   make wasm                                  # web/dist/cosmic.wasm + wasm_exec.js
//   cd web && npx esbuild examples/bot.ts --bundle --platform=node --format=esm --outfile=dist-examples/bot.mjs
//   node --experimental-websocket dist-examples/bot.mjs http://localhost:8080 [user] [dist dir]
//
// Node 20 has a WebSocket only behind --experimental-websocket (Node 22:
// always); any constructor with the browser's API can be passed instead.
// The dist directory defaults to web/dist relative to the working
// directory, then ../dist beside the bundle.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInThisContext } from 'node:vm';

import { Connection, type SocketConstructor } from '../src/conn/index.js';
import { loadCore } from '../src/core/index.js';

const server = process.argv[2] ?? 'http://localhost:8080';
const user = process.argv[3] ?? 'bot';
const dist = [process.argv[4], 'web/dist', 'dist', fileURLToPath(new URL('../dist', import.meta.url))]
  .filter((d): d is string => d !== undefined)
  .map((d) => resolve(d))
  .find((d) => existsSync(resolve(d, 'cosmic.wasm')));
if (dist === undefined) throw new Error('cosmic.wasm not found: run `make wasm`, or pass the dist directory');

function fail(message: string): never {
  console.error(`bot: ${message}`);
  process.exit(1);
}

// 1. The core. wasm_exec.js is a classic script that defines globalThis.Go:
//    evaluate it first, then hand loadCore the module's bytes (no fetch).
runInThisContext(readFileSync(resolve(dist, 'wasm_exec.js'), 'utf8'), { filename: 'wasm_exec.js' });
const core = await loadCore({ wasmBytes: readFileSync(resolve(dist, 'cosmic.wasm')) });

// 2. A token from the development login (DEV_MODE=1; protocol.md §1).
async function devLogin(): Promise<string> {
  const r = await fetch(new URL('/api/auth/dev-login', server), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user }),
  });
  if (!r.ok) fail(`dev-login: HTTP ${r.status} (is the server in DEV_MODE?)`);
  return ((await r.json()) as { token: string }).token;
}

// 3. The connection. Outside a page there is nothing to resolve a relative
//    URL against: give an absolute one (http(s) becomes ws(s)). The
//    WebSocket constructor is Node's global (--experimental-websocket).
const WebSocketCtor = (globalThis as { WebSocket?: SocketConstructor }).WebSocket;
if (WebSocketCtor === undefined) fail('no global WebSocket: run node with --experimental-websocket');
const conn = new Connection({
  url: new URL('/api/ws', server).href,
  tokenProvider: devLogin,
  webSocket: WebSocketCtor,
  network: null,
});

// 4. The garden as the server holds it: every update checked by its hash.
let confirmed: { text: string; version: number } | undefined;
const updates = { full: 0, patch: 0 };
const waiters: Array<() => void> = [];
conn.on('StateUpdate', ({ data: u }) => {
  let text: string;
  if (u.full) {
    const c = core.canonical(JSON.stringify(u.data.state));
    if (!c.ok) fail(`state: ${c.message}`);
    text = c.value;
    updates.full++;
  } else {
    if (confirmed === undefined || u.data.base !== confirmed.version) {
      conn.send({ type: 'GetState' }); // not our base: ask for the whole state
      return;
    }
    const r = core.applyPatch(confirmed.text, JSON.stringify(u.data.patch));
    if (!r.ok) fail(`patch: ${r.message}`);
    text = r.value.doc;
    updates.patch++;
  }
  const h = core.hash(text);
  if (!h.ok || h.value !== u.data.hash) {
    conn.send({ type: 'GetState' }); // we do not hold the server's state
    return;
  }
  confirmed = { text, version: u.data.version };
  for (const w of waiters.splice(0)) w();
});

/** untilVersion resolves once the garden is at `version` or later (protocol.md §4: full or patch). */
function untilVersion(version: number): Promise<void> {
  return new Promise((done) => {
    const check = (): void => {
      if (confirmed !== undefined && confirmed.version >= version) done();
      else waiters.push(check);
    };
    check();
  });
}

const timeout = setTimeout(() => fail('no result within 20 s'), 20_000);
const opened = new Promise<void>((done) => {
  const off = conn.on('state', ({ newState }) => {
    if (newState.kind === 'open') done();
    if (newState.kind === 'failed' || newState.kind === 'closed') fail(`connection ${newState.kind}`);
    if (newState.kind === 'open') off();
  });
});
conn.connect();
await opened;
await untilVersion(0); // the full StateUpdate after Welcome

// 5. Act: one asteroid at a random place. The answer carries the version
//    after the action; wait for a StateUpdate at least that new.
const id = conn.newActionId();
const result = new Promise<{ success: boolean; message: string; body_id?: string; version?: number }>((done) => {
  conn.on('ActionResult', (m) => {
    if (m.id === id) done(m.data);
  });
});
const at = () => Math.round((Math.random() * 2 - 1) * 900);
conn.send({ type: 'CreateCelestialBody', id, data: { body_type: 'asteroid', position: { x: at(), y: at(), z: 0 } } });
const r = await result;
if (!r.success || r.body_id === undefined || r.version === undefined) fail(`refused: ${r.message}`);
await untilVersion(r.version);
const garden = JSON.parse(confirmed!.text) as { bodies: Record<string, unknown>; resources: { energy: number; stardust: number } };
if (!(r.body_id in garden.bodies)) fail(`${r.body_id} missing from version ${confirmed!.version}`);

clearTimeout(timeout);
console.log(
  `bot ${user}: created ${r.body_id} (version ${r.version}); garden at version ${confirmed!.version}:`,
  `${Object.keys(garden.bodies).length} bodies, ${garden.resources.stardust} stardust, ${garden.resources.energy} energy;`,
  `updates full ${updates.full}, patch ${updates.patch}`,
);
conn.close();
process.exit(0);
